"""End to end: signed Stripe event → web → Redis → RQ worker → fake Graph API over HTTP."""

from __future__ import annotations

import pytest

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import Bridge, event_of
from tests.fake_graph import FakeGraphAPI, Reply

PHONE = "+14155550123"


def body_texts(request_json: dict) -> list:
    """The body parameters of a recorded template request, as (name, text) or text."""
    (component,) = request_json["template"]["components"]
    assert component["type"] == "body"
    return [(p["parameter_name"], p["text"]) if "parameter_name" in p else p["text"] for p in component["parameters"]]


def text_body(parameters: list) -> dict:
    """A body component of text parameters: plain texts, or (name, text) pairs for a named template."""
    return {
        "type": "body",
        "parameters": [
            {"type": "text", "parameter_name": p[0], "text": p[1]} if isinstance(p, tuple) else {"type": "text", "text": p}
            for p in parameters
        ],
    }


def expected_request(event: dict, mapping: str, template: str, components: list | dict) -> dict:
    """The Cloud API body for `template`; `components` is their list, or text parameters for the body alone."""
    if isinstance(components, list) and not (components and isinstance(components[0], dict)):
        components = [text_body(components)]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "template",
        "template": {"name": template, "language": {"code": "en_US"}, "components": components},
        "biz_opaque_callback_data": f"{event['id']}:{mapping}",
    }


def _invoice_button(obj: dict, index: int = 0) -> dict:
    suffix = obj.get("hosted_invoice_url", "").removeprefix("https://invoice.stripe.com/")
    return {"type": "button", "sub_type": "url", "index": str(index), "parameters": [{"type": "text", "text": suffix}]}


def _expectations(event_type: str, obj: dict) -> tuple[str, str, list]:
    """(mapping, template, components) the example config sends for each sample event."""
    return {
        "checkout.session.completed": ("checkout_paid", "order_confirmation", ["Jenny Rosen", "$19.99", obj["id"][-8:]]),
        "payment_intent.succeeded": ("payment_received", "payment_receipt", ["Jenny Rosen", "$19.99", "6735"]),
        "payment_intent.payment_failed": (
            "payment_failed",
            "payment_failed",
            [("customer_name", "Jenny Rosen"), ("amount", "$19.99"), ("reason", "Your card has insufficient funds.")],
        ),
        "charge.refunded": ("charge_refunded", "refund_issued", ["Jenny Rosen", "$19.99", obj.get("payment_intent")]),
        "refund.created": ("refund_created", "refund_issued", ["there", "$19.99", obj.get("payment_intent")]),
        "invoice.paid": (
            "invoice_paid",
            "invoice_paid",
            [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "document", "document": {"link": obj.get("invoice_pdf"), "filename": f"Invoice {obj.get('number')}.pdf"}}
                    ],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Jenny Rosen"},
                        {"type": "currency", "currency": {"fallback_value": "$19.99", "code": "USD", "amount_1000": 19990}},
                        {"type": "text", "text": obj.get("number")},
                    ],
                },
                _invoice_button(obj),
            ],
        ),
        "invoice.payment_failed": (
            "invoice_payment_failed",
            "invoice_payment_failed",
            [
                {
                    "type": "body",
                    "parameters": [
                        *text_body(["Jenny Rosen", "$19.99", obj.get("number")])["parameters"],
                        {"type": "date_time", "date_time": {"fallback_value": "Dec 25, 2026"}},
                    ],
                },
                _invoice_button(obj),
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": f"CALL_ME_{obj.get('number')}"}],
                },
            ],
        ),
    }[event_type]


CUSTOMER_SAMPLES = [t for t in samples.event_types() if t != "charge.dispute.created"]
"""Sample events the example config notifies the customer of (a dispute alerts staff)."""


@pytest.mark.parametrize("event_type", CUSTOMER_SAMPLES)
def test_each_sample_event_sends_the_exact_template_request(bridge: Bridge, fake_graph: FakeGraphAPI, event_type: str):
    event = samples.fresh_event(event_type)
    mapping, template, components = _expectations(event_type, event["data"]["object"])

    response = bridge.post(event)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "queued"}
    bridge.work()

    assert fake_graph.problems == []
    (request,) = fake_graph.requests
    assert request.path == f"/{fake_graph.api_version}/{fake_graph.phone_number_id}/messages"
    assert request.headers["authorization"] == f"Bearer {fake_graph.token}"
    assert request.json == expected_request(event, mapping, template, components)

    (record,) = bridge.deliveries()
    assert record["status"] == Status.SENT
    assert record["wamid"] == request.wamid
    assert record["wa_id"] == PHONE.removeprefix("+")
    assert record["message_status"] == "accepted"
    assert record["recipient"] == PHONE
    assert record["attempts"] == 1


@pytest.mark.parametrize(
    ("currency", "amount", "text"),
    [("usd", 1999, "$19.99"), ("jpy", 5000, "¥5,000"), ("kwd", 1500, "KWD 1.500")],
)
def test_money_is_rendered_with_the_currency_decimals(bridge: Bridge, fake_graph: FakeGraphAPI, currency: str, amount: int, text: str):
    event = event_of("payment_intent.succeeded", currency=currency, amount=amount, amount_received=amount)
    assert bridge.post(event).status_code == 200
    bridge.work()
    (request,) = fake_graph.requests
    assert body_texts(request.json)[1] == text


def test_same_event_posted_five_times_sends_one_message(bridge: Bridge, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("payment_intent.succeeded")
    statuses = [bridge.post(event).get_json()["status"] for _ in range(5)]
    assert statuses == ["queued", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert bridge.queued_jobs() == 1
    bridge.work()
    bridge.post(event)  # a late redelivery after the send is still a duplicate
    bridge.work()
    assert len(fake_graph.requests) == 1
    assert [d["status"] for d in bridge.deliveries()] == [Status.SENT]


def test_permanent_error_is_recorded_with_metas_code_and_not_retried(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026))
    event = samples.fresh_event("invoice.paid")
    bridge.post(event)
    bridge.work()
    assert len(fake_graph.requests) == 1
    assert bridge.queued_jobs() == 0
    (record,) = bridge.deliveries()
    assert record["status"] == Status.FAILED
    assert record["error_code"] == 131026
    assert record["error_class"] == "PermanentError"
    assert record["error_meaning"]
    assert "131026" in record["error_message"]
    assert record["attempts"] == 1


def test_template_parameter_error_is_permanent(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(
        Reply.error(132000, details="body: number of localizable_params (3) does not match the expected number of params (2)")
    )
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    assert (record["status"], record["error_code"]) == (Status.FAILED, 132000)
    assert "localizable_params" in record["error_details"]
    assert len(fake_graph.requests) == 1


def test_server_error_then_success_delivers_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.server_error(500))
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    assert [r.status for r in fake_graph.requests] == [500, 200]
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SENT
    assert record["attempts"] == 2
    assert "error_code" not in record and "error_message" not in record
    assert len(fake_graph.accepted) == 1


def test_throttling_is_retried(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(130429, http_status=400), Reply.error(130429, http_status=429))
    bridge.post(samples.fresh_event("charge.refunded"))
    waits = []
    for _ in range(2):
        bridge.work()
        (record,) = bridge.deliveries()
        assert record["status"] == Status.RETRYING
        waits.append(float(record["next_attempt_at"]) - float(record["updated_at"]))
        assert len(bridge.scheduled()) == 1  # throttling waits; it never retries at once
        bridge.advance()
    bridge.work()
    assert all(w >= 0.5 for w in waits), waits
    assert [r.status for r in fake_graph.requests] == [400, 429, 200]
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SENT
    assert (record["attempts"], record["throttled"]) == (1, 2)  # throttling is not a failed attempt


def test_transient_errors_give_up_after_max_attempts(redis, redis_url, fake_graph: FakeGraphAPI):
    from tests.conftest import make_config

    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"max_attempts": 3}))
    try:
        fake_graph.script(*[Reply.error(131000)] * 5)
        bridge.post(samples.fresh_event("payment_intent.succeeded"))
        bridge.work()
        assert len(fake_graph.requests) == 3
        (record,) = bridge.deliveries()
        assert record["status"] == Status.FAILED
        assert record["error_code"] == 131000
        assert "gave up after 3 attempts" in record["error_message"]
    finally:
        bridge.close()


def test_event_without_phone_is_recorded_as_skipped(bridge: Bridge, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("payment_intent.succeeded")
    event["data"]["object"]["shipping"]["phone"] = None
    assert bridge.post(event).get_json() == {"status": "queued"}
    bridge.work()
    assert fake_graph.requests == []
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SKIPPED
    assert "STRIPE_API_KEY" in record["reason"]


def test_invalid_phone_is_recorded_as_skipped(bridge: Bridge, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("invoice.paid")
    event["data"]["object"]["customer_phone"] = "555-0100"
    bridge.post(event)
    bridge.work()
    assert fake_graph.requests == []
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SKIPPED
    assert "country code" in record["reason"]


def test_when_filter_false_is_skipped_without_sending(bridge: Bridge, fake_graph: FakeGraphAPI):
    event = event_of("checkout.session.completed", payment_status="unpaid")
    bridge.post(event)
    bridge.work()
    assert fake_graph.requests == []
    assert bridge.deliveries()[0]["status"] == Status.SKIPPED


def test_dry_run_writes_the_request_to_the_outbox(dry_bridge: Bridge, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("payment_intent.succeeded")
    dry_bridge.post(event)
    dry_bridge.work()
    assert fake_graph.requests == []
    (entry,) = dry_bridge.store.outbox()
    assert entry["delivery_id"] == f"{event['id']}:payment_received"
    assert entry["request"] == expected_request(event, "payment_received", "payment_receipt", ["Jenny Rosen", "$19.99", "6735"])
    (record,) = dry_bridge.deliveries()
    assert record["status"] == Status.DRY_RUN


def test_a_delivery_already_sent_is_not_sent_again(bridge: Bridge, fake_graph: FakeGraphAPI):
    from bridge.delivery.queueing import enqueue_delivery

    event = samples.fresh_event("payment_intent.succeeded")
    bridge.post(event)
    bridge.work()
    # A stray second job for the same delivery (e.g. RQ re-running an abandoned job).
    rt = bridge.worker_runtime
    pipe = rt.redis.pipeline()
    enqueue_delivery(rt.queue, f"{event['id']}:payment_received", rt.config.delivery, pipeline=pipe)
    pipe.execute()
    bridge.work()
    assert len(fake_graph.requests) == 1


def test_dry_run_skips_a_customer_who_opted_out_as_production_would(dry_bridge: Bridge):
    dry_bridge.worker_runtime.optouts.add(PHONE, Scope.ALL, at=1_700_000_000, source="bridge optout add")
    dry_bridge.post(samples.fresh_event("payment_intent.succeeded", phone=PHONE))
    dry_bridge.work()
    (record,) = dry_bridge.deliveries()
    assert record["status"] == Status.SKIPPED
    assert record["reason"].startswith("opted out: the customer asked not to be messaged on WhatsApp")
    assert dry_bridge.store.outbox() == []


def test_dry_run_spaces_two_messages_to_one_customer_as_production_would(dry_bridge: Bridge):
    """The example config's pair interval (6 s) applies in a rehearsal too: the second waits its turn."""
    dry_bridge.post(samples.fresh_event("payment_intent.succeeded", phone=PHONE))
    dry_bridge.post(samples.fresh_event("invoice.paid", phone=PHONE))
    dry_bridge.work()
    assert sorted(r["status"] for r in dry_bridge.deliveries()) == [Status.DRY_RUN, Status.QUEUED]
    waiting = next(r for r in dry_bridge.deliveries() if r["status"] == Status.QUEUED)
    assert waiting["waiting_for"] == "the send rate limit"
    ((_, delay),) = dry_bridge.scheduled()
    assert 1 < delay <= 6  # the rest of the pair interval since the first message's slot
    dry_bridge.work_all()
    assert len(dry_bridge.store.outbox()) == 2
