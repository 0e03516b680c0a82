"""Meta's status webhooks move a delivery sent → delivered → read (or failed), only ever forward:
signed posts in Meta's documented shapes to /whatsapp/webhook, processed by the real worker."""

from __future__ import annotations

import pytest

from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import envelope, meta_error, status, statuses_post
from tests.test_customer_replies import meta


def sent_delivery(bridge: Bridge) -> dict:
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    assert record["status"] == Status.SENT
    return record


def report(bridge: Bridge, record: dict, name: str, at: int = 1_796_000_000, **extra) -> dict:
    """Meta posts one status of `record`'s message; returns the record afterwards."""
    meta(bridge, statuses_post(status(record["wamid"], name, callback=record["id"], at=at, **extra)))
    return bridge.store.get_delivery(record["id"])


def test_statuses_in_order_move_the_record_and_are_kept_in_its_history(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    assert report(bridge, record, "sent", 1_796_000_000)["status"] == Status.SENT
    assert report(bridge, record, "delivered", 1_796_000_005, pricing_category="utility")["status"] == Status.DELIVERED
    after = report(bridge, record, "read", 1_796_000_060)
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


def test_several_statuses_in_one_post_and_several_entries_are_each_applied(bridge: Bridge, fake_graph: FakeGraphAPI):
    first = sent_delivery(bridge)
    bridge.post(samples.fresh_event("invoice.paid"))
    bridge.work()
    (second,) = [d for d in bridge.deliveries() if d["id"] != first["id"]]
    batch = statuses_post(status(first["wamid"], "delivered", at=1_796_000_001), status(first["wamid"], "read", at=1_796_000_002))
    other = statuses_post(status(second["wamid"], "delivered", at=1_796_000_003))
    batch["entry"].append(other["entry"][0])
    meta(bridge, batch)
    assert bridge.store.get_delivery(first["id"])["status"] == Status.READ
    assert bridge.store.get_delivery(second["id"])["status"] == Status.DELIVERED


def test_a_late_delivered_after_read_does_not_move_the_record_back(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    report(bridge, record, "read", 1_796_000_060)
    assert report(bridge, record, "delivered", 1_796_000_005)["status"] == Status.READ
    assert [e["status"] for e in bridge.store.history(record["id"])][-2:] == ["read", "delivered"]


def test_a_repeated_status_is_applied_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    report(bridge, record, "delivered")
    report(bridge, record, "delivered", 1_796_000_001)  # Meta's retry, in a new post
    assert [e["status"] for e in bridge.store.history(record["id"])].count("delivered") == 1


def test_a_failed_status_keeps_metas_code_and_meaning(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    after = report(bridge, record, "failed", errors=[meta_error(131026, "Message undeliverable", "Unable to deliver")])
    assert (after["status"], after["error_code"], after["error_class"]) == (Status.FAILED, 131026, "PermanentError")
    assert (after["error_title"], after["error_details"]) == ("Message undeliverable", "Unable to deliver")
    assert after["error_meaning"].startswith("Message undeliverable")
    assert bridge.store.history(record["id"])[-1]["code"] == 131026


@pytest.mark.parametrize("code", [131049, 130472, 132015])
def test_failures_that_arrive_by_webhook_are_recorded_with_their_meaning(bridge: Bridge, fake_graph: FakeGraphAPI, code: int):
    record = sent_delivery(bridge)
    after = report(bridge, record, "failed", errors=[meta_error(code)])
    assert (after["status"], after["error_code"]) == (Status.FAILED, code)
    assert after["error_meaning"]


def test_a_131050_status_opts_the_customer_out_of_that_marketing_template(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    report(bridge, record, "failed", errors=[meta_error(131050, "Unable to deliver the message")])
    assert bridge.worker_runtime.optouts.marketing_templates() == {"payment_receipt"}
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    assert [d["status"] for d in bridge.deliveries()].count(Status.SKIPPED) == 1


def test_a_failed_after_delivered_is_history_and_does_not_erase_the_delivery(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    report(bridge, record, "delivered")
    after = report(bridge, record, "failed", errors=[meta_error(131000)])
    assert after["status"] == Status.DELIVERED and "error_code" not in after
    assert bridge.store.history(record["id"])[-1]["status"] == "failed"


def test_a_status_for_an_unknown_message_is_counted_and_ignored(bridge: Bridge):
    meta(bridge, statuses_post(status("wamid.unknown", "delivered")))
    meta(bridge, statuses_post(status("wamid.unknown", "delivered")))  # repeated: counted once
    assert bridge.store.counters() == {"statuses_for_unknown_messages": 1}


def test_a_status_found_by_wamid_alone_still_finds_its_delivery(bridge: Bridge, fake_graph: FakeGraphAPI):
    record = sent_delivery(bridge)
    meta(bridge, statuses_post(status(record["wamid"], "delivered")))
    assert bridge.store.get_delivery(record["id"])["status"] == Status.DELIVERED


def test_a_status_carrying_only_a_user_id_is_matched_by_wamid_and_the_id_kept(bridge: Bridge, fake_graph: FakeGraphAPI):
    """2026: a status may carry the business-scoped user id and no number."""
    record = sent_delivery(bridge)
    item = status(record["wamid"], "delivered", recipient=None, user_id="US.13491208655302741918")
    item["recipient_parent_user_id"] = "US.ENT.11815799212886844830"
    meta(bridge, statuses_post(item))
    after = bridge.store.get_delivery(record["id"])
    assert (after["status"], after["user_id"], after["parent_user_id"]) == (
        Status.DELIVERED,
        "US.13491208655302741918",
        "US.ENT.11815799212886844830",
    )
    assert after["wa_id"] == "14155550123"  # from the send's answer, kept


def test_an_ambiguous_send_is_reconciled_by_its_callback_data_and_never_resent(bridge: Bridge, fake_graph: FakeGraphAPI):
    """Step 2's ambiguous case: the request timed out, but Meta did take it (here it did)."""
    fake_graph.script(Reply.drop())
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    (record,) = bridge.deliveries()
    assert record["status"] == Status.AMBIGUOUS
    meta(bridge, statuses_post(status("wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI0", "sent", callback=record["id"])))
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
    meta(bridge, statuses_post(status("wamid.late", reported, callback=record["id"])))
    assert bridge.store.get_delivery(record["id"])["status"] == reported
    bridge.work_all()
    assert len(fake_graph.requests) == 1


def test_a_calls_status_is_not_taken_for_a_message_status(bridge: Bridge, fake_graph: FakeGraphAPI):
    """The `calls` field carries statuses[] too: routed by field, it never touches a delivery."""
    record = sent_delivery(bridge)
    call = {"id": record["wamid"], "type": "call", "status": "RINGING", "timestamp": "1796000000", "recipient_id": "14155550123"}
    meta(bridge, envelope("calls", {"messaging_product": "whatsapp", "statuses": [call]}))
    assert bridge.store.get_delivery(record["id"])["status"] == Status.SENT
    assert bridge.store.counters() == {"ignored calls": 1}
