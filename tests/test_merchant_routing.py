"""One deployment, several merchants: Stripe events routed by their `account`, Meta's posts by the
number or business account they name, installs and uninstalls, and each merchant's queue taken in
turn by the worker.

The whole web app over Flask's client and the worker (RQ, burst) in this process, real Redis, and
one fake Graph API socket serving every merchant's number with its own token (`add_tenant`), as
Meta serves every business at one address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis import Redis

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Status
from bridge.merchants.records import MerchantStatus
from bridge.merchants.runtime import merchant_config
from bridge.merchants.sealing import new_key
from bridge.runtime import Role, Runtime, build_runtime
from bridge.services.merchants import add_merchant, get_merchant, merchant_runtime, merchant_store, remove_merchant, set_merchant_settings
from bridge.stripe_events import samples
from bridge.worker import make_worker
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import envelope, message_post, status_post, template_status_post
from tests.test_metrics import moved, scrape

A, B, C = "acct_1AaaaAAAA", "acct_2BbbbBBBB", "acct_3CcccCCCC"
PHONE = "+14155550123"


def mapping(name: str, events: list[str], template: str) -> dict[str, Any]:
    return {
        "name": name,
        "events": events,
        "template": template,
        "language": "en_US",
        "body": ["{{ object.id[-8:] }}"],
    }


MERCHANTS = {
    A: ("111000111", "111999111", "token-of-a", [mapping("paid_a", ["payment_intent.succeeded"], "payment_receipt")]),
    B: ("222000222", "222999222", "token-of-b", [mapping("paid_b", ["payment_intent.succeeded"], "order_confirmation")]),
    C: ("333000333", "333999333", "token-of-c", [mapping("refund_c", ["charge.refunded"], "refund_issued")]),
}


@pytest.fixture
def tenants(fake_graph: FakeGraphAPI) -> dict[str, FakeGraphAPI]:
    return {
        account: fake_graph.add_tenant(FakeGraphAPI(token=token, phone_number_id=phone, business_account_id=waba))
        for account, (phone, waba, token, _) in MERCHANTS.items()
    }


@pytest.fixture
def bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tenants: dict[str, FakeGraphAPI]) -> Iterator[Bridge]:
    b = Bridge(make_config(redis_url, fake_graph, merchants={"encryption_key": new_key()}))
    try:
        for account, (phone, waba, token, mappings) in MERCHANTS.items():
            rt = b.worker_runtime
            add_merchant(rt, account, phone_number_id=phone, access_token=token, business_account_id=waba, mappings=mappings, source="test")
        yield b
    finally:
        b.close()


def of(bridge: Bridge, account: str) -> Runtime:
    return merchant_runtime(bridge.worker_runtime, get_merchant(bridge.worker_runtime, account))


def paid(account: str | None, *, phone: str = PHONE) -> dict[str, Any]:
    event = samples.fresh_event("payment_intent.succeeded", phone=phone)
    if account:
        event["account"] = account
    return event


def template_of(request) -> str:
    return request.json["template"]["name"]


# -- Stripe events by account ---------------------------------------------------------------------


def test_each_account_s_event_goes_to_its_own_number_with_its_own_token_and_template(
    bridge: Bridge, fake_graph: FakeGraphAPI, tenants: dict[str, FakeGraphAPI]
):
    events = {A: paid(A), B: paid(B), None: paid(None)}
    refund = samples.fresh_event("charge.refunded", phone=PHONE)
    refund["account"] = C
    for event in [*events.values(), refund]:
        assert bridge.post(event).json["status"] == "queued"
    assert bridge.post(paid(C)).json["status"] == "ignored", "C maps no payment_intent.succeeded"
    bridge.work()

    sent = {account: fake.accepted for account, fake in tenants.items()}
    assert [template_of(r) for r in sent[A]] == ["payment_receipt"]
    assert [template_of(r) for r in sent[B]] == ["order_confirmation"]
    assert [template_of(r) for r in sent[C]] == ["refund_issued"]
    for account, fake in tenants.items():
        assert all(r.headers["authorization"] == f"Bearer {fake.token}" for r in fake.requests), account
        assert all(r.path == f"/{fake.api_version}/{fake.phone_number_id}/messages" for r in fake.requests)
        assert fake.problems == []
    assert [r.path for r in fake_graph.accepted] == [fake_graph.path], "the file's merchant sent its own event, from its own number"
    assert fake_graph.problems == []

    # Each merchant's records are under its own keys: none sees another's.
    for account in (A, B):
        records = of(bridge, account).store.list_deliveries()
        assert [(r["event_id"], r["status"]) for r in records] == [(events[account]["id"], Status.SENT.value)]
    assert [r["event_id"] for r in bridge.deliveries()] == [events[None]["id"]]


def test_a_merchant_s_own_consent_mode_applies_to_its_messages_alone(bridge: Bridge, tenants: dict[str, FakeGraphAPI]):
    set_merchant_settings(bridge.worker_runtime, B, consent_mode="opt_in")
    for account in (A, B):
        assert bridge.post(paid(account)).json["status"] == "queued"
    bridge.work()
    assert len(tenants[A].accepted) == 1, "A keeps the file's opt_out mode"
    assert tenants[B].requests == [], "B asks for consent on record, and there is none"
    assert of(bridge, B).store.list_deliveries()[0]["reason_code"] == "no_consent"


def test_a_merchant_never_gets_the_file_merchant_s_helpdesk_or_consent_expression(bridge: Bridge):
    base = replace(bridge.config, consent=replace(bridge.config.consent, forward_url="https://helpdesk.example/in", opt_in_when="true"))
    merchant = get_merchant(bridge.worker_runtime, A)
    consent = merchant_config(base, merchant, None).consent
    assert (consent.forward_url, consent.forward_secret, consent.opt_in_when) == (None, None, None)


def test_an_unknown_account_is_ignored_counted_and_nothing_is_stored(bridge: Bridge, redis: Redis, fake_graph: FakeGraphAPI):
    before = scrape(bridge)
    event = paid("acct_9UnknownZZ")
    response = bridge.post(event)
    assert response.status_code == 200 and response.json == {"status": "ignored"}
    assert moved(before, scrape(bridge), "bridge_unrouted_total", webhook="stripe", reason="unknown") == 1
    assert not [k for k in redis.scan_iter("*") if event["id"].encode() in k]
    bridge.work()
    assert fake_graph.requests == []


def test_a_disabled_merchant_s_events_are_ignored_and_its_queued_messages_wait_for_it(bridge: Bridge, tenants: dict[str, FakeGraphAPI]):
    queued = paid(A)
    assert bridge.post(queued).json["status"] == "queued"
    store = merchant_store(bridge.worker_runtime)
    store.disable(A, reason="test", erase_credentials=False)
    seen_by_the_web(bridge)
    before = scrape(bridge)
    assert bridge.post(paid(A)).json == {"status": "ignored"}
    assert moved(before, scrape(bridge), "bridge_unrouted_total", webhook="stripe", reason="disabled") == 1
    bridge.work()
    assert tenants[A].requests == [], "the worker leaves a disabled merchant's queue alone"
    assert of(bridge, A).queue.count == 1, "its message waits, it is not dropped"

    store.enable(A)
    bridge.work()
    assert [r.json["to"] for r in tenants[A].accepted] == [PHONE]
    assert of(bridge, A).store.list_deliveries()[0]["event_id"] == queued["id"]


def test_a_worker_that_cannot_open_a_merchant_s_token_leaves_its_messages_waiting(
    bridge: Bridge, fake_graph: FakeGraphAPI, tenants: dict[str, FakeGraphAPI]
):
    for account in (A, None):
        assert bridge.post(paid(account)).json["status"] == "queued"
    config = bridge.config
    without_key = replace(config, merchants=replace(config.merchants, encryption_key=""))
    keyless = build_runtime(without_key, redis=bridge.worker_runtime.redis, role=Role.WORKER)
    try:
        make_worker(keyless).work(burst=True, with_scheduler=False)
    finally:
        keyless.whatsapp.close()  # its own HTTP client; the Redis connection is the bridge's
    assert len(fake_graph.accepted) == 1, "the file's merchant's message went"
    assert tenants[A].requests == [] and of(bridge, A).queue.count == 1, "A's waits for a worker that can open its token"
    bridge.work()
    assert len(tenants[A].accepted) == 1


def seen_by_the_web(bridge: Bridge) -> None:
    """The web process looks at the merchants once a second; a test need not wait that second."""
    bridge.app.extensions["bridge.merchants"].refresh(force=True)


# -- installs and uninstalls ----------------------------------------------------------------------


def install_event(kind: str, account: str, created: int) -> dict[str, Any]:
    event = samples.fresh_event("payment_intent.succeeded")
    event.update(type=kind, account=account, created=created)
    event["data"] = {"object": {"id": "ca_TestApp", "object": "application", "name": "WhatsApp notifications"}}
    return event


def every_value(redis: Redis) -> bytes:
    """Every byte Redis holds in the bridge's keys (strings, hashes, lists, sets, sorted sets)."""
    parts = []
    for key in redis.scan_iter("*"):
        kind = redis.type(key)
        if kind == b"string":
            parts.append(redis.get(key) or b"")
        elif kind == b"hash":
            parts.extend(b"%s=%s" % item for item in redis.hgetall(key).items())
        elif kind == b"list":
            parts.extend(redis.lrange(key, 0, -1))
        elif kind == b"set":
            parts.extend(redis.smembers(key))
        elif kind == b"zset":
            parts.extend(redis.zrange(key, 0, -1))
    return b"\n".join(parts)


def test_install_makes_a_pending_merchant_and_uninstall_disables_it_and_erases_its_credentials(bridge: Bridge, redis: Redis):
    account, now = "acct_4DdddDDDD", 1_800_000_000
    installed = bridge.post(install_event("account.application.authorized", account, now))
    assert installed.json == {"status": "installed"}
    merchant = get_merchant(bridge.worker_runtime, account)
    assert merchant.status is MerchantStatus.PENDING and not merchant.configured
    assert bridge.post(paid(account)).json == {"status": "ignored"}, "pending: no number, no token yet"

    add_merchant(bridge.worker_runtime, account, phone_number_id="444000444", access_token="token-of-d-secret", source="test")
    assert get_merchant(bridge.worker_runtime, account).status is MerchantStatus.ACTIVE
    assert b"token-of-d-secret" not in every_value(redis), "sealed at rest"

    uninstalled = bridge.post(install_event("apps.install.deleted", account, now + 60))
    assert uninstalled.json == {"status": "uninstalled"}
    merchant = get_merchant(bridge.worker_runtime, account)
    assert merchant.status is MerchantStatus.DISABLED and not merchant.has_access_token
    assert redis.hget(f"bridge:{{{account}}}:merchant", "access_token") is None, "not even the sealed token is kept"
    assert b"token-of-d-secret" not in every_value(redis)

    # Stripe retries the install late, after the uninstall: it is older, so it changes nothing.
    stale = bridge.post(install_event("account.application.authorized", account, now + 30))
    assert stale.json == {"status": "ignored"}
    assert get_merchant(bridge.worker_runtime, account).status is MerchantStatus.DISABLED

    # A real reinstall later: pending again, with no credentials from before.
    again = bridge.post(install_event("apps.install.created", account, now + 120))
    assert again.json == {"status": "installed"}
    merchant = get_merchant(bridge.worker_runtime, account)
    assert merchant.status is MerchantStatus.PENDING and not merchant.has_access_token


def test_an_uninstall_before_its_install_arrived_is_kept_so_the_late_install_does_not_revive_it(bridge: Bridge):
    account = "acct_5EeeeEEEE"
    assert bridge.post(install_event("account.application.deauthorized", account, 1_800_000_100)).json == {"status": "uninstalled"}
    assert bridge.post(install_event("account.application.authorized", account, 1_800_000_000)).json == {"status": "ignored"}
    assert get_merchant(bridge.worker_runtime, account).status is MerchantStatus.DISABLED


def test_an_install_event_without_an_account_changes_nothing(bridge: Bridge, redis: Redis):
    event = install_event("account.application.authorized", "acct_6FfffFFFF", 1_800_000_000)
    del event["account"]
    before = set(redis.scan_iter("bridge:*merchant*"))
    assert bridge.post(event).json == {"status": "ignored"}
    assert set(redis.scan_iter("bridge:*merchant*")) == before


# -- Meta's posts by number -----------------------------------------------------------------------


def for_number(document: dict[str, Any], phone_number_id: str, waba: str | None = None) -> dict[str, Any]:
    for entry in document["entry"]:
        if waba:
            entry["id"] = waba
        for change in entry["changes"]:
            metadata = change["value"].get("metadata")
            if metadata:
                metadata["phone_number_id"] = phone_number_id
    return document


def test_meta_s_posts_reach_the_merchant_whose_number_or_business_they_name(bridge: Bridge, tenants: dict[str, FakeGraphAPI]):
    for account in (A, B):
        assert bridge.post(paid(account)).json["status"] == "queued"
    bridge.work()
    wamid_a = tenants[A].accepted[0].wamid
    wamid_b = tenants[B].accepted[0].wamid

    # One post with an entry for each of A and B (one Meta app, many businesses).
    post_a = for_number(status_post(wamid_a, "delivered"), tenants[A].phone_number_id)
    post_b = for_number(status_post(wamid_b, "read"), tenants[B].phone_number_id)
    both = {"object": "whatsapp_business_account", "entry": post_a["entry"] + post_b["entry"]}
    assert bridge.post_meta(both).status_code == 200
    # A STOP to B's number, and a template paused in C's business account.
    stop = for_number(message_post("STOP", sender=PHONE.lstrip("+")), tenants[B].phone_number_id)
    assert bridge.post_meta(stop).status_code == 200
    paused = template_status_post("refund_issued", "en_US", "PAUSED")
    paused["entry"][0]["id"] = tenants[C].business_account_id
    assert bridge.post_meta(paused).status_code == 200
    bridge.work()

    assert of(bridge, A).store.list_deliveries()[0]["status"] == Status.DELIVERED.value
    assert of(bridge, B).store.list_deliveries()[0]["status"] == Status.READ.value
    assert [o.scope for o in of(bridge, B).optouts.list()] == [Scope.ALL]
    assert of(bridge, A).optouts.list() == [], "the customer wrote STOP to B, not to A"
    assert bridge.worker_runtime.optouts.list() == []
    assert ("refund_issued", "en_US") in of(bridge, C).templates.all()
    assert ("refund_issued", "en_US") not in bridge.worker_runtime.templates.all()


def test_a_post_for_a_number_no_merchant_has_is_the_file_merchant_s(bridge: Bridge, fake_graph: FakeGraphAPI):
    assert bridge.post(paid(None)).json["status"] == "queued"
    bridge.work()
    wamid = fake_graph.accepted[0].wamid
    assert bridge.post_meta(status_post(wamid, "delivered")).status_code == 200
    bridge.work()
    assert bridge.deliveries()[0]["status"] == Status.DELIVERED.value


def test_a_stop_to_a_disabled_merchant_s_number_is_kept_and_applied_before_its_waiting_messages_go(
    bridge: Bridge, tenants: dict[str, FakeGraphAPI], redis: Redis
):
    """An operator disables B while one of its messages waits; the customer writes STOP to B's
    number meanwhile. Dropping the STOP would send that message once B is enabled again."""
    waiting = paid(B)
    assert bridge.post(waiting).json["status"] == "queued"
    store = merchant_store(bridge.worker_runtime)
    store.disable(B, reason="paused by the operator", erase_credentials=False)
    seen_by_the_web(bridge)
    before = scrape(bridge)
    stop = for_number(message_post("STOP", sender=PHONE.lstrip("+")), tenants[B].phone_number_id)
    assert bridge.post_meta(stop).status_code == 200
    assert moved(before, scrape(bridge), "bridge_unrouted_total", webhook="whatsapp", reason="disabled") == 0, "kept, not ignored"
    assert list(redis.scan_iter(f"bridge:{{{B}}}:meta-post:*")), "stored under B's keys"
    bridge.work()
    assert of(bridge, B).optouts.list() == [] and tenants[B].requests == [], "nothing of B's is worked while it is disabled"

    store.enable(B)
    bridge.work()
    assert [o.scope for o in of(bridge, B).optouts.list()] == [Scope.ALL]
    assert tenants[B].accepted == [], "the waiting message is not sent to a customer who said STOP"
    assert of(bridge, B).store.list_deliveries()[0]["reason_code"] == "opted_out"


def test_a_post_for_an_uninstalled_merchant_without_a_record_is_the_file_merchant_s(bridge: Bridge, redis: Redis):
    """A number no merchant record names is the file's merchant's, as before merchants."""
    remove_merchant(bridge.worker_runtime, C)
    seen_by_the_web(bridge)
    post = envelope("messages", {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "333000333"}})
    assert bridge.post_meta(post).status_code == 200
    assert list(redis.scan_iter("bridge:meta-post:*")) and not list(redis.scan_iter(f"bridge:{{{C}}}:*"))


# -- fairness --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [130429, 190], ids=["A-throttled", "A-token-expired"])
def test_one_merchant_s_backlog_and_outage_do_not_delay_another_s_messages(bridge: Bridge, tenants: dict[str, FakeGraphAPI], code: int):
    """A's 40 events come first and Meta refuses every one of A's sends; B's 10 come after. Taken in
    turn, B's messages go out within the first B-jobs-plus-as-many-A-jobs, not after A's backlog."""
    a, b = tenants[A], tenants[B]
    if code == 190:
        a.expire_token()
    else:
        a.script(*[Reply.error(code) for _ in range(40)])
    for n in range(40):
        assert bridge.post(paid(A, phone=f"+1415555{n:04d}")).json["status"] == "queued"
    for n in range(10):
        assert bridge.post(paid(B, phone=f"+1646555{n:04d}")).json["status"] == "queued"
    bridge.work()

    assert len(b.accepted) == 10, "every one of B's messages went out"
    records = {account: of(bridge, account).store.list_deliveries(limit=100) for account in (A, B)}
    b_done = max(float(r["sent_at"]) for r in records[B])
    a_handled_after = [r for r in records[A] if float(r.get("updated_at") or 0) > b_done]
    # In turn: by B's last send, about ten of A's jobs had run; thirty or so still waited.
    assert len(a_handled_after) >= 25, f"only {len(a_handled_after)} of A's 40 jobs ran after B's last send"
    queue_wait = [float(r["sent_at"]) - float(r["created_at"]) for r in records[B]]
    print(f"B's queue wait with A {code}: max {max(queue_wait) * 1000:.0f} ms")
    if code == 190:
        assert of(bridge, A).redis.exists(of(bridge, A).pause_key), "A's number is paused"
        assert not of(bridge, B).redis.exists(of(bridge, B).pause_key), "B's is not"
        assert len(a.requests) == 1, "after Meta's 190 A's messages are held, not sent"
