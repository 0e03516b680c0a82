"""Meta's status webhooks move a delivery sent → delivered → read (or failed), only ever forward."""

from __future__ import annotations

import pytest

from bridge.delivery.records import Status
from bridge.stripe_events import samples
from bridge.updates.statuses import apply_status
from bridge.whatsapp.webhook import StatusUpdate
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI, Reply


def sent_delivery(bridge: Bridge) -> dict:
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SENT
    return record


def status(record: dict, name: str, at: int = 1_796_000_000, **extra) -> StatusUpdate:
    return StatusUpdate(wamid=record["wamid"], status=name, timestamp=at, recipient_id="14155550123", callback_data=record["id"], **extra)


def test_statuses_in_order_move_the_record_and_are_kept_in_its_history(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    rt = bridge.worker_runtime
    assert apply_status(rt, status(record, "sent", 1_796_000_000)) == Status.SENT
    assert (
        apply_status(rt, status(record, "delivered", 1_796_000_005, pricing_category="utility", pricing_billable=True)) == Status.DELIVERED
    )
    assert apply_status(rt, status(record, "read", 1_796_000_060)) == Status.READ
    (after,) = bridge.deliveries()
    assert (after["status"], after["delivered_at"], after["read_at"]) == (Status.READ, 1_796_000_005.0, 1_796_000_060.0)
    assert (after["pricing_category"], after["pricing_billable"]) == ("utility", True)
    steps = [(e["status"], e["by"]) for e in bridge.store.history(record["id"])]
    assert steps == [
        ("queued", "bridge"),
        ("sending", "bridge"),
        ("sent", "bridge"),
        ("sent", "meta"),
        ("delivered", "meta"),
        ("read", "meta"),
    ]
    assert [r["id"] for r in bridge.store.query(status=Status.READ).items] == [record["id"]]


def test_a_late_delivered_after_read_does_not_move_the_record_back(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    rt = bridge.worker_runtime
    apply_status(rt, status(record, "read", 1_796_000_060))
    assert apply_status(rt, status(record, "delivered", 1_796_000_005)) == Status.READ
    assert bridge.deliveries()[0]["status"] == Status.READ
    assert [e["status"] for e in bridge.store.history(record["id"])][-2:] == ["read", "delivered"]


def test_a_repeated_status_is_applied_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    rt = bridge.worker_runtime
    assert apply_status(rt, status(record, "delivered")) == Status.DELIVERED
    assert apply_status(rt, status(record, "delivered")) == "duplicate"
    assert [e["status"] for e in bridge.store.history(record["id"])].count("delivered") == 1


def test_a_failed_status_keeps_metas_code_and_meaning(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    error = {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "error_data": {"details": "x"}}
    assert apply_status(bridge.worker_runtime, status(record, "failed", errors=(error,))) == Status.FAILED
    (after,) = bridge.deliveries()
    assert (after["status"], after["error_code"], after["error_class"]) == (Status.FAILED, 131026, "PermanentError")
    assert after["error_meaning"].startswith("Message undeliverable")
    assert bridge.store.history(record["id"])[-1]["code"] == 131026


def test_a_failed_after_delivered_is_history_and_does_not_erase_the_delivery(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    rt = bridge.worker_runtime
    apply_status(rt, status(record, "delivered"))
    assert apply_status(rt, status(record, "failed", errors=({"code": 131000},))) == Status.DELIVERED
    (after,) = bridge.deliveries()
    assert after["status"] == Status.DELIVERED and "error_code" not in after
    assert bridge.store.history(record["id"])[-1]["status"] == "failed"


def test_a_status_for_an_unknown_message_is_counted_and_ignored(bridge: Bridge):
    update = StatusUpdate(wamid="wamid.unknown", status="delivered", timestamp=1_796_000_000)
    assert apply_status(bridge.worker_runtime, update) == "unknown"
    assert bridge.store.counters() == {"statuses_for_unknown_messages": 1}


def test_a_status_found_by_wamid_alone_still_finds_its_delivery(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    update = StatusUpdate(wamid=record["wamid"], status="delivered", timestamp=1_796_000_000)
    assert apply_status(bridge.worker_runtime, update) == Status.DELIVERED


def test_a_status_carrying_only_a_user_id_is_matched_by_wamid_and_the_id_kept(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    update = StatusUpdate(wamid=record["wamid"], status="delivered", timestamp=1_796_000_000, recipient_user_id="US.13491208655302741918")
    assert apply_status(bridge.worker_runtime, update) == Status.DELIVERED
    assert bridge.deliveries()[0]["user_id"] == "US.13491208655302741918"


def test_an_ambiguous_send_is_reconciled_by_its_callback_data_and_never_resent(bridge: Bridge, fake_graph: FakeGraphAPI):
    """Step 2's ambiguous case: the request timed out, but Meta did take it (here it did)."""
    fake_graph.script(Reply.drop())
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    assert record["status"] == Status.AMBIGUOUS
    update = StatusUpdate(wamid="wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI0", status="sent", timestamp=1_796_000_000, callback_data=record["id"])
    assert apply_status(bridge.worker_runtime, update) == Status.SENT
    bridge.work_all()  # the resend the ambiguous wait had scheduled finds it sent
    (after,) = bridge.deliveries()
    assert (after["status"], after["wamid"]) == (Status.SENT, "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI0")
    assert "ambiguous_resent" not in after and "error_class" not in after
    assert len(fake_graph.requests) == 1  # the resend never happened


@pytest.mark.parametrize("reported", ["delivered", "read"])
def test_a_delivery_still_sending_is_reconciled_forward_by_any_later_status(bridge: Bridge, fake_graph: FakeGraphAPI, reported):
    fake_graph.script(Reply.drop())
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    update = StatusUpdate(wamid="wamid.late", status=reported, timestamp=1_796_000_000, callback_data=record["id"])
    assert apply_status(bridge.worker_runtime, update) == reported
