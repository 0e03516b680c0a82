"""Staff alerts: a mapping with `recipients` sends to fixed numbers, one delivery (and record) each."""

from __future__ import annotations

from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import Bridge, example_raw, make_config
from tests.fake_graph import FakeGraphAPI

STAFF = ["+14155550100", "+96550000000"]


def alerting_bridge(redis_url: str, fake: FakeGraphAPI) -> Bridge:
    """The example config whole: customer notices and staff alerts."""
    return Bridge(make_config(redis_url, fake, mappings=example_raw()["mappings"]))


def test_a_dispute_alerts_each_staff_number_with_its_own_delivery(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = alerting_bridge(redis_url, fake_graph)
    try:
        event = samples.fresh_event("charge.dispute.created")
        assert bridge.post(event).get_json() == {"status": "queued"}
        bridge.work()
        records = {r["id"]: r for r in bridge.deliveries()}
    finally:
        bridge.close()
    assert set(records) == {f"{event['id']}:dispute_alert:1", f"{event['id']}:dispute_alert:2"}
    assert sorted(r["recipient"] for r in records.values()) == sorted(STAFF)
    assert {r["status"] for r in records.values()} == {Status.SENT}
    assert sorted(request.json["to"] for request in fake_graph.accepted) == sorted(STAFF)
    assert fake_graph.problems == []


def test_a_large_payment_alerts_staff_and_still_sends_the_customers_receipt(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = alerting_bridge(redis_url, fake_graph)
    try:
        large = samples.fresh_event("payment_intent.succeeded", phone="+14155550123")
        large["data"]["object"]["amount_received"] = 250_000
        small = samples.fresh_event("payment_intent.succeeded", phone="+14155550199")
        bridge.post(large)
        bridge.post(small)
        bridge.work_all()
        by_mapping = {(r["event_id"], r["mapping"]): r for r in bridge.deliveries()}
    finally:
        bridge.close()
    assert by_mapping[(large["id"], "large_payment_alert")]["status"] == Status.SENT
    assert by_mapping[(large["id"], "large_payment_alert")]["recipient"] == STAFF[0]
    assert by_mapping[(small["id"], "large_payment_alert")]["status"] == Status.SKIPPED  # under 1,000.00
    assert by_mapping[(large["id"], "payment_received")]["status"] == Status.SENT
    assert sorted(r.json["to"] for r in fake_graph.accepted) == sorted(["+14155550123", "+14155550199", STAFF[0]])


def test_a_staff_alert_is_not_held_back_or_superseded_by_the_customers_notices(redis, redis_url, fake_graph: FakeGraphAPI):
    """A refund notice went out for a payment; its dispute (an older event) still alerts staff."""
    bridge = alerting_bridge(redis_url, fake_graph)
    try:
        refund = samples.fresh_event("charge.refunded", payment="p9", now=1_700_000_200)
        dispute = samples.fresh_event("charge.dispute.created", payment="p9", now=1_700_000_100)
        bridge.post(refund)
        bridge.work()
        bridge.post(dispute)
        bridge.work()
        statuses = {r["mapping"]: r["status"] for r in bridge.deliveries()}
    finally:
        bridge.close()
    assert statuses == {"charge_refunded": Status.SENT, "dispute_alert": Status.SENT}


def test_the_test_configs_leave_the_example_alerts_out(bridge: Bridge):
    assert not any(m.settings.recipients for m in bridge.worker_runtime.mappings.values())
    assert make_config(bridge.config.redis.url).mappings  # the customer notices stay
