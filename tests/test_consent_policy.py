"""[consent] mode and Meta's marketing preferences, through signed posts and the real worker:
who may get a receipt, who may get a marketing template, and why a skipped one was skipped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bridge.delivery.optouts import Scope
from bridge.delivery.records import SkipReason, Status
from bridge.errors import ConfigError
from tests.conftest import Bridge, event_of, make_config
from tests.fake_graph import FakeGraphAPI
from tests.meta_posts import category_post, message_post, preference_post
from tests.test_customer_replies import CUSTOMER, DIGITS, USER_ID, meta, notify


def marketing_receipt(bridge: Bridge) -> None:
    """Meta moves the receipt template (payment_intent.succeeded) to MARKETING; invoices stay UTILITY."""
    meta(bridge, category_post("payment_receipt", "en_US", "MARKETING"))


# -- Meta's user_preferences: marketing only --------------------------------------------------


def test_a_marketing_stop_skips_marketing_templates_and_still_sends_receipts(bridge: Bridge, fake_graph: FakeGraphAPI):
    marketing_receipt(bridge)
    meta(bridge, preference_post("stop", wa_id=DIGITS))
    skipped = notify(bridge, "payment_intent.succeeded")
    assert (skipped["status"], skipped["reason_code"]) == (Status.SKIPPED, SkipReason.OPTED_OUT)
    assert "stopped marketing messages (WhatsApp marketing preference: stop" in skipped["reason"]
    assert notify(bridge, "invoice.paid")["status"] == Status.SENT
    assert [r.json["template"]["name"] for r in fake_graph.accepted] == ["invoice_paid"]


def test_a_marketing_resume_lets_marketing_templates_go_again(bridge: Bridge, fake_graph: FakeGraphAPI):
    marketing_receipt(bridge)
    meta(bridge, preference_post("stop", wa_id=DIGITS, at=1_796_000_000))
    meta(bridge, preference_post("resume", wa_id=DIGITS, at=1_796_000_100))
    assert notify(bridge, "payment_intent.succeeded")["status"] == Status.SENT


def test_a_late_resume_older_than_the_stop_changes_nothing(bridge: Bridge, fake_graph: FakeGraphAPI):
    marketing_receipt(bridge)
    meta(bridge, preference_post("stop", wa_id=DIGITS, at=1_796_000_100))
    meta(bridge, preference_post("resume", wa_id=DIGITS, at=1_796_000_000))
    assert notify(bridge, "payment_intent.succeeded")["status"] == Status.SKIPPED


def test_a_marketing_stop_by_user_id_holds_once_the_id_is_linked(bridge: Bridge, fake_graph: FakeGraphAPI):
    marketing_receipt(bridge)
    meta(bridge, preference_post("stop", wa_id=None, user_id=USER_ID))
    meta(bridge, message_post("hi", sender=DIGITS, user_id=USER_ID))  # a contact with both links them
    assert notify(bridge, "payment_intent.succeeded")["status"] == Status.SKIPPED


def test_a_template_moved_back_to_utility_reaches_customers_who_stopped_marketing(bridge: Bridge, fake_graph: FakeGraphAPI):
    marketing_receipt(bridge)
    meta(bridge, preference_post("stop", wa_id=DIGITS))
    meta(bridge, category_post("payment_receipt", "en-US", "UTILITY", previous="MARKETING"))  # Meta writes en-US here
    assert notify(bridge, "payment_intent.succeeded")["status"] == Status.SENT


# -- consent mode opt_in ---------------------------------------------------------------------


@pytest.fixture
def opt_in(redis, redis_url, fake_graph: FakeGraphAPI) -> Iterator[Bridge]:
    b = Bridge(make_config(redis_url, fake_graph, consent={"mode": "opt_in", "opt_in_when": "object.metadata.whatsapp_opt_in == 'true'"}))
    try:
        yield b
    finally:
        b.close()


def notify_event(bridge: Bridge, event: dict) -> dict:
    assert bridge.post(event).status_code == 200
    bridge.work()
    (record,) = [d for d in bridge.deliveries() if d["event_id"] == event["id"]]
    return record


def test_opt_in_mode_without_consent_skips_with_the_reason(opt_in: Bridge, fake_graph: FakeGraphAPI):
    record = notify(opt_in)
    assert (record["status"], record["reason_code"]) == (Status.SKIPPED, SkipReason.NO_CONSENT)
    assert record["reason"].startswith("no consent: [consent] mode is opt_in")
    assert fake_graph.requests == []


def test_opt_in_mode_sends_when_the_event_carries_consent(opt_in: Bridge, fake_graph: FakeGraphAPI):
    event = event_of("payment_intent.succeeded", metadata={"whatsapp_opt_in": "true"})
    assert notify_event(opt_in, event)["status"] == Status.SENT


def test_opt_in_mode_sends_after_start_or_an_opt_in_recorded_with_the_cli(opt_in: Bridge, fake_graph: FakeGraphAPI):
    meta(opt_in, message_post("START", sender=DIGITS))
    assert notify(opt_in)["status"] == Status.SENT
    other = "+14155550199"
    opt_in.worker_runtime.optouts.remove(other, (Scope.ALL,), at=opt_in.worker_runtime.clock(), source="bridge optout remove")
    assert notify(opt_in, phone=other)["status"] == Status.SENT


def test_opt_in_mode_a_stop_beats_the_events_consent(opt_in: Bridge, fake_graph: FakeGraphAPI):
    meta(opt_in, message_post("STOP", sender=DIGITS))
    event = event_of("payment_intent.succeeded", metadata={"whatsapp_opt_in": "true"})
    assert notify_event(opt_in, event)["reason_code"] == SkipReason.OPTED_OUT


def test_a_marketing_signup_is_consent_to_marketing_only(opt_in: Bridge, fake_graph: FakeGraphAPI):
    """Meta's `signup` is recorded as consent to marketing messages, never to everything."""
    marketing_receipt(opt_in)
    meta(opt_in, preference_post("signup", wa_id=DIGITS))
    assert notify(opt_in, "payment_intent.succeeded")["status"] == Status.SENT  # marketing: consented
    assert notify(opt_in, "invoice.paid")["reason_code"] == SkipReason.NO_CONSENT  # utility: no consent on record


def test_staff_alerts_need_no_customer_consent(redis, redis_url, fake_graph: FakeGraphAPI):
    from tests.conftest import example_raw

    alerts = [m for m in example_raw()["mappings"] if m["name"] == "dispute_alert"]
    b = Bridge(make_config(redis_url, fake_graph, consent={"mode": "opt_in"}, mappings=alerts))
    try:
        event = event_of("charge.dispute.created")
        assert b.post(event).status_code == 200
        b.work()
        assert {d["status"] for d in b.deliveries()} == {Status.SENT}
    finally:
        b.close()


@pytest.mark.parametrize(
    ("consent", "message"),
    [
        ({"mode": "sometimes"}, 'consent.mode: must be "opt_out" or "opt_in"'),
        ({"stop_keywords": []}, "consent.stop_keywords: must be a list of words"),
        ({"stop_keywords": "STOP"}, "consent.stop_keywords: must be a list of words"),
        ({"stop_reply": "bye"}, "consent.stop_reply: must be a table language"),
        ({"forward_url": "ftp://x"}, "consent.forward_url: must be an http(s) URL"),
        ({"mode": "opt_in", "opt_in_when": "object.metadata.x =="}, "consent.opt_in_when: expression syntax error"),
        ({"colour": "blue"}, "consent.colour: unknown key"),
    ],
)
def test_consent_mistakes_name_the_key(redis_url, consent, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(redis_url, dry_run=True, consent=consent)
        from bridge.consent.policy import compile_policy

        compile_policy(make_config(redis_url, dry_run=True, consent=consent))


def test_delivery_days_sets_how_long_records_and_history_are_kept(redis, redis_url, fake_graph: FakeGraphAPI):
    b = Bridge(make_config(redis_url, fake_graph, retention={"delivery_days": 2}, redis={}))
    try:
        record = notify(b)
        for key in (f"bridge:delivery:{record['id']}", f"bridge:history:{record['id']}"):
            assert 2 * 86400 - 60 < b.worker_runtime.redis.ttl(key) <= 2 * 86400
        assert b.worker_runtime.redis.ttl(f"bridge:event:{record['event_id']}") > 29 * 86400  # events keep their own TTL
    finally:
        b.close()


def test_customer_consent_is_in_the_record_of_each_skipped_message(bridge: Bridge):
    meta(bridge, message_post("STOP", sender=DIGITS))
    record = notify(bridge)
    assert record["recipient"] == CUSTOMER and record["attempts"] == 0


@pytest.mark.parametrize(
    ("consent", "expected"), [({"promotions": "opt_in"}, Status.SENT), ({"promotions": "opt_out"}, Status.SKIPPED), (None, Status.SKIPPED)]
)
def test_checkouts_consent_collection_as_the_opt_in(redis, redis_url, fake_graph: FakeGraphAPI, consent, expected):
    """The expression config.example.toml suggests for Checkout's consent collection."""
    expression = "object.consent is not none and object.consent.promotions == 'opt_in'"
    b = Bridge(make_config(redis_url, fake_graph, consent={"mode": "opt_in", "opt_in_when": expression}))
    try:
        assert notify_event(b, event_of("checkout.session.completed", consent=consent))["status"] == expected
    finally:
        b.close()
