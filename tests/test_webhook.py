"""POST /stripe/webhook: every answer, and that nothing is queued on any non-200."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from redis import Redis

from bridge.delivery.records import Status
from bridge.dev.dev_redis import RedisServer
from bridge.stripe_events import samples
from tests.conftest import ROLLED_SECRET, SECRET, Bridge, make_config, signed
from tests.fake_graph import FakeGraphAPI


def nothing_stored(bridge: Bridge, redis: Redis) -> bool:
    return bridge.queued_jobs() == 0 and not redis.keys("bridge:*")


def test_valid_event_is_queued(bridge: Bridge, redis: Redis):
    event = samples.fresh_event("payment_intent.succeeded")
    response = bridge.post(event)
    assert (response.status_code, response.get_json()) == (200, {"status": "queued"})
    assert bridge.queued_jobs() == 1
    (record,) = bridge.deliveries()
    assert record["status"] == Status.QUEUED
    assert record["event_type"] == "payment_intent.succeeded"
    assert bridge.store.get_event(event["id"]) == event
    assert redis.strlen(f"bridge:event:{event['id']}") < len(json.dumps(event, indent=2)) / 2  # kept compressed


def test_dedupe_mark_lasts_at_least_30_days(bridge: Bridge, redis: Redis):
    event = samples.fresh_event("invoice.paid")
    bridge.post(event)
    assert redis.ttl(f"bridge:event:{event['id']}") >= 30 * 24 * 3600 - 5


def test_second_valid_secret_is_accepted_while_rolling(redis, redis_url, fake_graph: FakeGraphAPI):
    b = Bridge(make_config(redis_url, fake_graph, stripe={"webhook_secrets": [SECRET, ROLLED_SECRET]}))
    try:
        response = b.post(samples.fresh_event("invoice.paid"), secret=ROLLED_SECRET)
        assert (response.status_code, response.get_json()) == (200, {"status": "queued"})
    finally:
        b.close()


def test_secrets_from_environment_are_comma_separated(redis, redis_url, fake_graph: FakeGraphAPI):
    from bridge.config import parse_config
    from tests.conftest import example_raw

    raw = example_raw()
    raw["redis"]["url"] = redis_url
    config = parse_config(raw, env={"STRIPE_WEBHOOK_SECRET": f"{SECRET}, {ROLLED_SECRET}"})
    b = Bridge(config)
    try:
        assert b.post(samples.fresh_event("invoice.paid"), secret=ROLLED_SECRET).status_code == 200
        assert b.post(samples.fresh_event("invoice.paid"), secret=SECRET).status_code == 200
    finally:
        b.close()


def test_unmapped_event_type_is_ignored(bridge: Bridge, redis: Redis):
    event = samples.fresh_event("invoice.paid")
    event["type"] = "customer.created"
    response = bridge.post(event)
    assert (response.status_code, response.get_json()) == (200, {"status": "ignored"})
    # Only when a verified event last came (the overview's figure): no job, no record, no dedupe mark.
    assert bridge.queued_jobs() == 0 and redis.keys("bridge:*") == [b"bridge:last-event"]


def _tampered(event: dict) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(event)
    return body.replace(b"1999", b"9999"), headers


@pytest.mark.parametrize(
    ("case", "build", "message"),
    [
        ("no header", lambda e: (json.dumps(e).encode(), {}), "missing Stripe-Signature"),
        ("wrong secret", lambda e: signed(e, secret="whsec_wrong"), "No signatures found"),
        ("tampered body", _tampered, "No signatures found"),
        ("stale timestamp", lambda e: signed(e, timestamp=int(time.time()) - 301), "tolerance"),
        ("garbage header", lambda e: (json.dumps(e).encode(), {"Stripe-Signature": "nonsense"}), "signature"),
        (
            "v0 only",
            lambda e: (json.dumps(e).encode(), {"Stripe-Signature": signed(e)[1]["Stripe-Signature"].replace("v1=", "v0=")}),
            "signature",
        ),
    ],
)
def test_bad_signatures_are_400_and_nothing_is_queued(bridge: Bridge, redis: Redis, case, build, message):
    body, headers = build(samples.fresh_event("payment_intent.succeeded"))
    response = bridge.client.post("/stripe/webhook", data=body, headers=headers)
    assert response.status_code == 400, case
    assert message.lower() in response.get_json()["error"].lower()
    assert nothing_stored(bridge, redis)


@pytest.mark.parametrize(
    ("case", "body", "message"),
    [
        ("malformed JSON", b'{"id": "evt_1", "object": "event",', "not valid JSON"),
        ("JSON array", b"[1, 2, 3]", "not a Stripe event"),
        ("not an event object", json.dumps({"id": "pi_123", "object": "payment_intent"}).encode(), "not a Stripe event"),
        ("event without data", json.dumps({"id": "evt_123", "object": "event", "type": "invoice.paid"}).encode(), "data.object"),
        ("event with bad id", json.dumps({"id": 5, "object": "event", "type": "invoice.paid", "data": {"object": {}}}).encode(), "evt_"),
        ("not UTF-8", b"\x80\x81 not json", "not valid JSON"),
        ("nested 100,000 levels deep", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("an event nested deep", b'{"object": "event", "data": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001, "nested too deeply"),
    ],
)
def test_signed_bodies_that_are_not_events_are_400(bridge: Bridge, redis: Redis, case, body, message):
    response = bridge.post(body)
    assert response.status_code == 400, case
    assert message in response.get_json()["error"]
    assert nothing_stored(bridge, redis)


def test_body_over_one_mebibyte_is_413(bridge: Bridge, redis: Redis):
    event = samples.fresh_event("payment_intent.succeeded")
    event["data"]["object"]["metadata"]["padding"] = "x" * (1024 * 1024)
    response = bridge.post(event)
    assert response.status_code == 413
    assert "error" in response.get_json()
    assert nothing_stored(bridge, redis)


def test_chunked_body_over_one_mebibyte_is_413_over_a_real_socket(bridge: Bridge, redis: Redis, served):
    """No Content-Length: the limit must hold while reading the stream."""
    url = served(bridge.app)
    body = samples.fresh_event("payment_intent.succeeded")
    body["data"]["object"]["metadata"]["padding"] = "x" * (1024 * 1024)
    payload, headers = signed(body)

    def chunks():
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    response = httpx.post(url, content=chunks(), headers=headers, timeout=10)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413
    assert nothing_stored(bridge, redis)


def test_healthz(bridge: Bridge):
    assert bridge.client.get("/healthz").status_code == 200


def test_get_on_webhook_is_405(bridge: Bridge):
    assert bridge.client.get("/stripe/webhook").status_code == 405


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_outage_answers_503_and_the_retry_is_delivered_once(own_redis: RedisServer, fake_graph: FakeGraphAPI):
    bridge = Bridge(make_config(own_redis.url, fake_graph))
    try:
        event = samples.fresh_event("payment_intent.succeeded")
        own_redis.stop()
        response = bridge.post(event)
        assert response.status_code == 503
        assert "error" in response.get_json()

        own_redis.start()
        # Stripe retries the same event; it must not be taken for a duplicate.
        retried = bridge.post(event)
        assert (retried.status_code, retried.get_json()) == (200, {"status": "queued"})
        assert bridge.post(event).get_json() == {"status": "duplicate"}
        bridge.work()
        assert len(fake_graph.accepted) == 1
        assert [d["status"] for d in bridge.deliveries()] == [Status.SENT]
    finally:
        bridge.close()


def test_a_full_redis_answers_503_and_nothing_is_half_written(own_redis: RedisServer, fake_graph: FakeGraphAPI):
    """With `maxmemory-policy noeviction` (as production must run), Redis refuses writes when full."""
    bridge = Bridge(make_config(own_redis.url, fake_graph))
    admin = Redis.from_url(own_redis.url)
    try:
        admin.config_set("maxmemory", admin.info("memory")["used_memory"] + 1_000_000)
        chunk = b"x" * 100_000
        for i in range(100):  # fill it up, as months of events would
            try:
                admin.set(f"filler:{i}", chunk)
            except Exception:
                break
        else:
            raise AssertionError("Redis never filled up")
        event = samples.fresh_event("invoice.paid")
        response = bridge.post(event)
        assert response.status_code == 503
        assert admin.keys("bridge:*") == [] and bridge.queued_jobs() == 0

        admin.config_set("maxmemory", 0)  # the operator moves to a bigger plan
        assert bridge.post(event).get_json() == {"status": "queued"}  # Stripe's retry gets through
        bridge.work()
        assert len(fake_graph.accepted) == 1
    finally:
        admin.close()
        bridge.close()
