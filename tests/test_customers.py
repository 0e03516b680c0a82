"""Customer lookup through the stripe SDK, against a local fake of Stripe's API over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI
from tests.fake_stripe import API_KEY, FakeStripe, unused_port_url


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(phone="+5511987654321")
    yield fake
    fake.stop()


REFUND_TO_CUSTOMER = {
    "name": "refund_created",
    "events": ["refund.created"],
    "template": "refund_issued",
    "language": "en_US",
    "body": ["{{ customer.name }}", "{{ object.amount | money(object.currency) }}", "{{ object.payment_intent }}"],
}


def test_refund_without_a_phone_uses_the_customers_phone(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    config = make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url}, mappings=[REFUND_TO_CUSTOMER])
    bridge = Bridge(config)
    try:
        event = samples.fresh_event("refund.created")
        obj = event["data"]["object"]
        del obj["metadata"]["whatsapp"]
        obj["customer"] = samples.sample_customer()["id"]  # a Refund created for a Customer's payment
        bridge.post(event)
        bridge.work()
        (request,) = fake_graph.requests
        assert request.json["to"] == "+5511987654321"
        assert request.json["template"]["components"][0]["parameters"][0]["text"] == "Jenny Rosen"  # customer.name
        assert fake_stripe.requests == [(f"/v1/customers/{obj['customer']}", f"Bearer {API_KEY}")]
        assert bridge.deliveries()[0]["status"] == Status.SENT
    finally:
        bridge.close()


def test_unknown_customer_is_skipped(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    bridge = Bridge(make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url}))
    try:
        event = samples.fresh_event("invoice.paid")
        event["data"]["object"].update(customer_phone=None, customer="cus_DoesNotExist1")
        bridge.post(event)
        bridge.work()
        assert fake_graph.requests == []
        record = bridge.deliveries()[0]
        assert record["status"] == Status.SKIPPED and "no phone number" in record["reason"]
    finally:
        bridge.close()


def invoice_needing_a_lookup() -> dict:
    event = samples.fresh_event("invoice.paid")
    event["data"]["object"].update(customer_phone=None, customer=samples.sample_customer()["id"])
    return event


def test_stripe_outage_is_retried_then_recorded_as_failed(redis, redis_url, fake_graph: FakeGraphAPI):
    fake_stripe = FakeStripe(phone=None, fail_with=500)
    stripe_settings = {"api_key": API_KEY, "api_base_url": fake_stripe.url}
    bridge = Bridge(make_config(redis_url, fake_graph, stripe=stripe_settings, delivery={"max_attempts": 3}))
    try:
        bridge.post(invoice_needing_a_lookup())
        bridge.work_all()
        record = bridge.deliveries()[0]
        assert (record["status"], record["attempts"], record["error_class"]) == (Status.FAILED, 3, "TransientError")
        assert record["error_message"] == "Stripe Customer lookup failed: APIError (gave up after 3 attempts)"
        assert len(fake_stripe.requests) == 3 * 2  # the SDK itself retries a 500 once
        assert fake_graph.requests == []
    finally:
        bridge.close()
        fake_stripe.stop()


def test_unreachable_stripe_is_named_in_the_failed_record(redis, redis_url, fake_graph: FakeGraphAPI):
    url = unused_port_url()
    bridge = Bridge(make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": url}, delivery={"max_attempts": 1}))
    try:
        bridge.post(invoice_needing_a_lookup())
        bridge.work_all()
        record = bridge.deliveries()[0]
        assert (record["status"], record["error_class"]) == (Status.FAILED, "TransientError")
        assert record["error_message"].startswith(f"Stripe unreachable at {url} for the Customer lookup: APIConnectionError")
        assert fake_graph.requests == []
    finally:
        bridge.close()


def test_rejected_stripe_key_fails_at_once_and_can_be_replayed(redis, redis_url, fake_graph: FakeGraphAPI):
    from bridge.delivery.control import replay

    fake_stripe = FakeStripe(phone="+5511987654321", fail_with=401)
    bridge = Bridge(make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url}))
    try:
        bridge.post(invoice_needing_a_lookup())
        bridge.work()
        record = bridge.deliveries()[0]
        assert (record["status"], record["attempts"], record["error_class"]) == (Status.FAILED, 1, "PermanentError")
        assert "Stripe rejected STRIPE_API_KEY" in record["error_message"] and API_KEY not in record["error_message"]
        assert bridge.scheduled() == [] and len(fake_stripe.requests) == 1

        fake_stripe.fail_with = None  # the merchant fixed the key
        assert [r.outcome for r in replay(bridge.worker_runtime, [record["id"]])] == ["replayed (was failed)"]
        bridge.work()
        assert bridge.deliveries()[0]["status"] == Status.SENT
        assert [r.json["to"] for r in fake_graph.accepted] == ["+5511987654321"]
    finally:
        bridge.close()
        fake_stripe.stop()


def test_no_customer_lookup_for_events_the_mapping_skips(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    bridge = Bridge(make_config(redis_url, fake_graph, stripe={"api_key": API_KEY, "api_base_url": fake_stripe.url}))
    try:
        # A PaymentIntent from Checkout: no shipping, no phone, a Customer. The example mapping's
        # `when = "object.shipping is not none"` is false, so the Customer is never fetched.
        event = samples.fresh_event("payment_intent.succeeded")
        event["data"]["object"].update(shipping=None, customer=samples.sample_customer()["id"])
        bridge.post(event)
        bridge.work()
        record = bridge.deliveries()[0]
        assert record["status"] == Status.SKIPPED and "`when`" in record["reason"]
        assert fake_stripe.requests == [] and fake_graph.requests == []
    finally:
        bridge.close()


def test_a_when_that_names_the_customer_is_decided_after_the_lookup(redis, redis_url, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe):
    mapping = {
        "name": "vip_receipt",
        "events": ["invoice.paid"],
        "template": "invoice_paid",
        "language": "en_US",
        "when": "customer is not none and customer.name == 'Jenny Rosen'",
        "body": ["{{ customer.name }}"],
    }
    stripe_settings = {"api_key": API_KEY, "api_base_url": fake_stripe.url}
    bridge = Bridge(make_config(redis_url, fake_graph, stripe=stripe_settings, mappings=[mapping]))
    try:
        event = samples.fresh_event("invoice.paid")
        event["data"]["object"].update(customer_phone=None, customer=samples.sample_customer()["id"])
        bridge.post(event)
        bridge.work()
        assert len(fake_stripe.requests) == 1
        (request,) = fake_graph.accepted
        assert (request.json["to"], request.json["template"]["components"][0]["parameters"][0]["text"]) == ("+5511987654321", "Jenny Rosen")
    finally:
        bridge.close()
