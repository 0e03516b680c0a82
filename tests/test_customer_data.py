"""`bridge customer export` and `bridge customer erase`: everything the bridge holds about one number,
and after the erase no key naming it, only a hashed opt-out (so the customer's STOP stays honoured).

The customer's data is made through the real paths: signed Stripe events worked by the worker
(sent, dry run, skipped after their STOP, skipped by `when` before a recipient was recorded),
Meta's status webhook (links a business-scoped user id), a STOP and another message from the
customer (forwarded to a helpdesk that is down: a scheduled retry), and an event and a post from
Meta that no worker has processed yet. Another customer has the same kinds of data, which must
come through untouched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis import Redis

from bridge.consent.check import check_customer
from bridge.delivery.records import SkipReason, Status
from bridge.errors import StoreUnavailable
from bridge.privacy.erase import ErasureReport, erase_customer
from bridge.privacy.export import export_customer
from bridge.privacy.records import Matcher, split_post
from bridge.runtime import Role, Runtime, build_runtime
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, ROOT, SECRET, Bridge, example_raw, make_config, process_env
from tests.fake_graph import FakeGraphAPI, new_wamid
from tests.meta_posts import message_post, preference_post, status, status_post, statuses_post

CUSTOMER, DIGITS = "+14155550123", "14155550123"
FORMATTED = "+1 (415) 555-0123"
USER_ID = "US.13491208655302741918"
OTHER, OTHER_DIGITS = "+14155550199", "14155550199"
OTHER_USER_ID = "US.70000000000000000042"
HELPDESK = {"forward_url": "http://127.0.0.1:9/helpdesk", "forward_secret": "helpdesk-secret-0123456789"}
"""Nothing listens there: a forwarded message waits in RQ's scheduled registry for its retry."""


# -- looking for the number anywhere in Redis --------------------------------------------------


NEEDLES = [DIGITS, CUSTOMER, FORMATTED, base64.b64encode(DIGITS.encode()).decode().rstrip("="), USER_ID]
"""What must be nowhere after the erase. Message ids are searched decoded too (see `dump`)."""
WAMID = re.compile(r"wamid\.([A-Za-z0-9+/_=-]+)")


def decoded_wamids(content: str) -> str:
    """The bytes inside every WhatsApp message id in `content`: Meta builds them from the number
    ("wamid." + base64), so the base64 of the digits alone, at one alignment, would not find them."""
    decoded = []
    for token in WAMID.findall(content):
        padded = token.rstrip("=") + "=" * (-len(token.rstrip("=")) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded.append(decode(padded).decode("latin-1"))
            except ValueError:
                continue
    return "\n".join(decoded)


def _readable(value: bytes) -> str:
    """A value as text, and decompressed too when it is zlib data (events, Meta's posts, RQ's job data)."""
    shown = value.decode("latin-1")
    with contextlib.suppress(zlib.error):
        shown += "\n" + zlib.decompress(value).decode("latin-1")
    return shown


def dump(redis: Redis, key: bytes) -> str:
    """A key's name and everything in it, whatever its type."""
    kind = redis.type(key).decode()
    if kind == "string":
        parts = [redis.get(key) or b""]
    elif kind == "hash":
        parts = [part for pair in redis.hgetall(key).items() for part in pair]
    elif kind == "list":
        parts = redis.lrange(key, 0, -1)
    elif kind == "set":
        parts = list(redis.smembers(key))
    elif kind == "zset":
        parts = redis.zrange(key, 0, -1)
    elif kind == "stream":
        parts = [part for _id, entry in redis.xrange(key) for pair in entry.items() for part in pair]
    else:
        parts = []
    content = "\n".join([key.decode("latin-1"), *(_readable(part) for part in parts)])
    return content + "\n" + decoded_wamids(content)


def keys_naming(redis: Redis, needles: list[str]) -> dict[str, list[str]]:
    """Every key in the database (the bridge's and RQ's) whose name or content holds one of `needles`."""
    found = {}
    for key in redis.scan_iter(count=1000):
        content = dump(redis, key)
        hits = [needle for needle in needles if needle in content]
        if hits:
            found[key.decode()] = hits
    return found


# -- the customer's data, made through the real paths ------------------------------------------


@dataclass
class World:
    live: Bridge
    dry: Bridge
    fake: FakeGraphAPI
    redis: Redis
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every Stripe event about the customer."""
    other_events: list[dict[str, Any]] = field(default_factory=list)
    pending_status: str = ""
    other_wamid: str = ""

    @property
    def rt(self) -> Runtime:
        return self.live.worker_runtime

    def notify(self, bridge: Bridge, event_type: str, phone: str, *, work: bool = True, **changes: Any) -> dict[str, Any]:
        """Stripe posts a fresh event for `phone`; the worker delivers it unless `work` is False."""
        event = samples.fresh_event(event_type, phone=phone)
        event["data"]["object"].update(changes)
        assert bridge.post(event).get_json() == {"status": "queued"}
        (self.events if phone in (CUSTOMER, FORMATTED) else self.other_events).append(event)
        if work:
            bridge.work()
        return event

    def meta(self, document: dict[str, Any], *, work: bool = True) -> None:
        assert self.live.post_meta(document).status_code == 200
        if work:
            self.live.work()

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        (found,) = self.live.store.query(event_id=event["id"]).items
        return found


@pytest.fixture
def world(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[World]:
    live = Bridge(make_config(redis_url, fake_graph, consent=HELPDESK))
    dry = Bridge(make_config(redis_url, dry_run=True, consent=HELPDESK))
    w = World(live, dry, fake_graph, redis)
    try:
        build(w)
        yield w
    finally:
        live.close()
        dry.close()


def build(w: World) -> None:
    sent = [w.notify(w.live, "payment_intent.succeeded", CUSTOMER), w.notify(w.live, "invoice.paid", CUSTOMER)]
    others = [w.notify(w.live, "payment_intent.succeeded", OTHER), w.notify(w.live, "invoice.paid", OTHER)]
    assert [w.record(e)["status"] for e in sent + others] == [Status.SENT] * 4
    w.notify(w.dry, "payment_intent.succeeded", CUSTOMER)
    w.notify(w.dry, "payment_intent.succeeded", OTHER)
    wamids = [w.record(e)["wamid"] for e in sent]
    w.other_wamid = w.record(others[0])["wamid"]
    # Meta's statuses link each customer's business-scoped user id to their number.
    w.meta(status_post(wamids[0], "delivered", recipient=DIGITS, user_id=USER_ID))
    w.meta(status_post(w.other_wamid, "delivered", recipient=OTHER_DIGITS, user_id=OTHER_USER_ID))
    # The customer replies STOP, then asks something (forwarded to a helpdesk that is down).
    w.meta(message_post("STOP", sender=DIGITS, message_id=new_wamid(CUSTOMER)))
    w.meta(message_post("Where is my receipt?", sender=DIGITS, message_id=new_wamid(CUSTOMER)))
    w.meta(message_post("Hello?", sender=OTHER_DIGITS, message_id=new_wamid(OTHER)))
    w.meta(preference_post("stop", wa_id=OTHER_DIGITS))
    skipped = w.notify(w.live, "invoice.paid", CUSTOMER)
    assert (w.record(skipped)["status"], w.record(skipped)["reason_code"]) == (Status.SKIPPED, SkipReason.OPTED_OUT)
    # `when` is false: skipped before any recipient was recorded; only the event names the number.
    unaddressed = w.notify(w.live, "invoice.paid", FORMATTED, amount_paid=0)
    assert "recipient" not in w.record(unaddressed)
    # Not processed yet: a payment (its job queued), and one post from Meta about both customers.
    w.notify(w.live, "payment_intent.succeeded", CUSTOMER, work=False)
    w.pending_status = wamids[1]
    post = statuses_post(status(wamids[1], "read", recipient=DIGITS), status(w.other_wamid, "read", recipient=OTHER_DIGITS))
    w.meta(post, work=False)


def delivery_ids(w: World, events: list[dict[str, Any]]) -> set[str]:
    return {record["id"] for event in events for record in w.live.store.query(event_id=event["id"]).items}


# -- export --------------------------------------------------------------------------------------


def test_export_holds_every_record_about_the_customer_and_nothing_of_the_other(world: World):
    document = export_customer(world.rt, CUSTOMER)
    json.dumps(document, ensure_ascii=False)  # serializable as the CLI prints it

    assert document["phone"] == CUSTOMER
    assert document["identities"] == [CUSTOMER, USER_ID]
    assert {d["id"] for d in document["deliveries"]} == delivery_ids(world, world.events)
    assert all(d["history"] and d["history"][0]["status"] == Status.QUEUED for d in document["deliveries"])
    assert {e["id"] for e in document["events"]} == {e["id"] for e in world.events}
    stop = document["consent"]["optout"]["all"][CUSTOMER]
    assert stop["source"] == "replied 'stop' on WhatsApp"
    assert [(o["request"]["to"], o["delivery_id"]) for o in document["outbox"]] == [
        (CUSTOMER, next(d["id"] for d in document["deliveries"] if d["status"] == Status.DRY_RUN))
    ]
    jobs = {(j["func"], j["status"]) for j in document["jobs"]}  # finished ones too, kept a few seconds
    assert {("workers.jobs.deliver", "queued"), ("workers.jobs.forward", "scheduled")} <= jobs
    assert {func for func, _ in jobs} == {"workers.jobs.deliver", "workers.jobs.forward"}
    assert [u["id"] for u in document["whatsapp_updates"]] == [world.pending_status]
    assert document["erased"] is False

    shown = json.dumps(document)
    assert OTHER_DIGITS not in shown and OTHER_USER_ID not in shown and world.other_wamid not in shown
    assert not any(e["id"] in shown for e in world.other_events)


# -- erase ---------------------------------------------------------------------------------------


def test_erase_leaves_no_key_naming_the_customer_and_the_other_customer_untouched(world: World):
    assert keys_naming(world.redis, NEEDLES)  # the helper does find the customer before
    other_before = export_customer(world.rt, OTHER)
    assert len(other_before["deliveries"]) == 3 and len(other_before["events"]) == 3
    assert set(other_before["consent"]["optout"]) == {"marketing"}

    before = export_customer(world.rt, CUSTOMER)
    jobs, sent = len(before["jobs"]), [d["id"] for d in before["deliveries"] if d.get("sent_at")]
    assert sent and all(world.redis.zscore(world.rt.keys.sent_deliveries, d) for d in sent)

    report = erase_customer(world.rt, CUSTOMER, now=time.time())

    assert keys_naming(world.redis, NEEDLES) == {}
    assert [d for d in sent if world.redis.zscore(world.rt.keys.sent_deliveries, d) is not None] == [], "no index names an erased record"
    assert (report.deliveries, report.events, report.jobs, report.outbox, report.whatsapp_posts) == (6, 6, jobs, 1, 1)
    assert report.hashed_optouts == ("all",) and report.jobs_running == 0
    assert export_customer(world.rt, OTHER) == other_before
    # The post from Meta lost only the customer's status: the other customer's is still acted on.
    world.live.work()
    (read,) = [d for d in world.live.deliveries() if d.get("wamid") == world.other_wamid]
    assert read["status"] == Status.READ
    assert keys_naming(world.redis, NEEDLES) == {}


def test_after_the_erase_the_stop_stays_honoured_and_stripe_retries_stay_duplicates(world: World):
    erase_customer(world.rt, CUSTOMER, now=time.time())
    erased_events = list(world.events)
    assert export_customer(world.rt, CUSTOMER)["erased"] is True
    assert check_customer(world.rt, CUSTOMER).erased
    requests = len(world.fake.requests)

    event = world.notify(world.live, "payment_intent.succeeded", CUSTOMER)
    record = world.record(event)
    assert (record["status"], record["reason_code"]) == (Status.SKIPPED, SkipReason.OPTED_OUT)
    assert len(world.fake.requests) == requests

    for erased in erased_events:
        response = world.live.post(erased)
        assert (response.status_code, response.get_json()) == (200, {"status": "duplicate"})


def test_an_erased_customers_start_lets_messages_go_again(world: World):
    """The hashed opt-out holds a STOP; the customer's own START (newer) ends it."""
    erase_customer(world.rt, CUSTOMER, now=time.time())
    world.meta(message_post("START", sender=CUSTOMER.lstrip("+")))
    assert not check_customer(world.rt, CUSTOMER).erased
    event = world.notify(world.live, "payment_intent.succeeded", CUSTOMER)
    assert world.record(event)["status"] == Status.SENT


def test_erasing_twice_removes_nothing_the_second_time(world: World):
    first = erase_customer(world.rt, CUSTOMER, now=time.time())
    assert first.removed > 0
    assert erase_customer(world.rt, CUSTOMER, now=time.time()) == ErasureReport()


def test_a_stop_not_processed_yet_is_kept_hashed(bridge: Bridge, fake_graph: FakeGraphAPI):
    """The customer's STOP waits in a post from Meta when the erase runs: it is not lost with the post."""
    assert bridge.post_meta(message_post("STOP", sender=DIGITS, at=1_796_000_000)).status_code == 200
    report = erase_customer(bridge.worker_runtime, CUSTOMER, now=time.time())
    assert (report.whatsapp_posts, report.hashed_optouts) == (1, ("all",))
    assert keys_naming(bridge.worker_runtime.redis, NEEDLES) == {}
    bridge.work()  # the post was emptied: nothing left to act on
    event = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)
    assert bridge.post(event).status_code == 200
    bridge.work()
    (record,) = bridge.store.query(event_id=event["id"]).items
    assert (record["status"], record["reason_code"]) == (Status.SKIPPED, SkipReason.OPTED_OUT)
    assert fake_graph.requests == []


def test_every_whatsapp_form_of_the_number_is_erased(bridge: Bridge, fake_graph: FakeGraphAPI):
    """Mexico: Stripe's +52 number, Meta's 521 form (wa_id, a STOP): both go, the STOP holds for both."""
    event = samples.fresh_event("payment_intent.succeeded", phone="+525512345678")
    assert bridge.post(event).status_code == 200
    bridge.work()
    assert bridge.post_meta(message_post("STOP", sender="5215512345678")).status_code == 200
    bridge.work()
    forms = ["525512345678", "5215512345678", "55 1234 5678"]
    assert keys_naming(bridge.worker_runtime.redis, forms)
    report = erase_customer(bridge.worker_runtime, "+525512345678", now=time.time())
    assert report.hashed_optouts == ("all",)
    assert keys_naming(bridge.worker_runtime.redis, forms) == {}
    event = samples.fresh_event("payment_intent.succeeded", phone="+52 1 55 1234 5678")
    assert bridge.post(event).status_code == 200
    bridge.work()
    assert bridge.store.query(event_id=event["id"]).items[0]["reason_code"] == SkipReason.OPTED_OUT
    assert len(fake_graph.requests) == 1


def test_erasing_a_staff_number_keeps_the_customers_events(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI):
    """Staff alerts go to the merchant's team about a customer's payment: erasing a team member's
    number removes their alerts, not the customer's event or notice."""
    mappings = [m for m in example_raw()["mappings"] if m["name"] in ("payment_received", "large_payment_alert")]
    staff = Bridge(make_config(redis_url, fake_graph, mappings=mappings))
    try:
        event = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)
        event["data"]["object"]["amount_received"] = 250_000
        assert staff.post(event).status_code == 200
        staff.work()
        assert sorted(d["recipient"] for d in staff.deliveries()) == ["+14155550100", CUSTOMER]
        report = erase_customer(staff.worker_runtime, "+14155550100", now=time.time())
        assert (report.deliveries, report.events) == (1, 0)
        assert staff.store.get_event(event["id"]) is not None
        assert [d["recipient"] for d in staff.deliveries()] == [CUSTOMER]
    finally:
        staff.close()


# -- the command ---------------------------------------------------------------------------------


def bridge_command(redis_url: str, *args: str) -> subprocess.CompletedProcess:
    env = process_env(REDIS_URL=redis_url, BRIDGE_CONFIG=str(EXAMPLE_CONFIG), STRIPE_WEBHOOK_SECRET=SECRET)
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL
    )


def test_the_command_exports_and_erases_only_with_yes(world: World, redis_url: str):
    refused = bridge_command(redis_url, "customer", "erase", CUSTOMER)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr and "irreversible" in refused.stderr
    assert len(export_customer(world.rt, CUSTOMER)["deliveries"]) == 6  # nothing erased

    exported = bridge_command(redis_url, "customer", "export", "+1 415 555 0123")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["phone"] == CUSTOMER and len(document["deliveries"]) == 6

    erased = bridge_command(redis_url, "customer", "erase", CUSTOMER, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "6 delivery records" in erased.stdout and "opt-out kept as a hash of the number: all" in erased.stdout
    assert DIGITS not in erased.stdout
    assert keys_naming(world.redis, NEEDLES) == {}

    again = bridge_command(redis_url, "customer", "erase", CUSTOMER, "--yes")
    assert again.returncode == 0, again.stderr
    assert "nothing to erase" in again.stdout
    assert json.loads(bridge_command(redis_url, "customer", "export", CUSTOMER).stdout)["erased"] is True


def test_redis_errors_are_store_unavailable():
    rt = build_runtime(make_config("redis://127.0.0.1:1/0"), role=Role.CLI)
    with pytest.raises(StoreUnavailable):
        export_customer(rt, CUSTOMER)
    with pytest.raises(StoreUnavailable):
        erase_customer(rt, CUSTOMER, now=time.time())


# -- recognising the number ----------------------------------------------------------------------


def test_the_number_is_recognised_in_every_written_form():
    matcher = Matcher.for_phone(CUSTOMER, [USER_ID])
    for text in (CUSTOMER, DIGITS, FORMATTED, "+1 415-555-0123", "(415) 555-0123", "415.555.0123", '{"phone": "4155550123"}', USER_ID):
        assert matcher.names(text), text
    assert matcher.names("meta-seen:status:wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI0:read")  # Meta's id embeds the number
    assert matcher.names(new_wamid(CUSTOMER).replace("+", "-").replace("/", "_").rstrip("="))  # urlsafe, unpadded
    for text in (OTHER, "+1 415-555-0199", new_wamid(OTHER), '{"amount": 4155, "created": 5550123}', "pi_3NxYz41555501"):
        assert not matcher.names(text), text


def test_a_post_from_meta_keeps_the_other_customers_updates():
    matcher = Matcher.for_phone(CUSTOMER)
    mixed = statuses_post(status("wamid.a", "read", recipient=DIGITS), status("wamid.b", "read", recipient=OTHER_DIGITS))
    kept, removed = split_post(mixed, matcher)
    assert [s["id"] for s in removed] == ["wamid.a"]
    assert [s["id"] for s in kept["entry"][0]["changes"][0]["value"]["statuses"]] == ["wamid.b"]
    assert split_post(message_post("STOP", sender=DIGITS), matcher)[0] is None  # nothing else in it
    other = message_post("hi", sender=OTHER_DIGITS)
    assert split_post(other, matcher) == (other, [])
