"""GET|POST /whatsapp/webhook: Meta's handshake, signatures, the envelope, and that nothing is
stored on any non-200 while everything inside a valid envelope is answered 200."""

from __future__ import annotations

import json

import pytest
from redis import Redis

from tests.conftest import APP_SECRET, VERIFY_TOKEN, Bridge, make_config, meta_signed
from tests.fake_graph import FakeGraphAPI
from tests.meta_posts import corpus, message_post, status_post


def nothing_stored(bridge: Bridge, redis: Redis) -> bool:
    return bridge.queued_jobs() == 0 and not redis.keys("bridge:*")


# -- the handshake --------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_as_plain_text(bridge: Bridge):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    response = bridge.client.get("/whatsapp/webhook", query_string=query)
    assert (response.status_code, response.get_data(as_text=True), response.mimetype) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1], "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
    ids=["wrong token", "token prefix", "wrong mode", "no mode", "no token", "nothing"],
)
def test_a_handshake_without_the_verify_token_is_forbidden(bridge: Bridge, query):
    response = bridge.client.get("/whatsapp/webhook", query_string=query)
    assert response.status_code == 403 and "1" not in response.get_data(as_text=True)


def test_with_no_verify_token_configured_every_handshake_is_forbidden(redis, redis_url):
    b = Bridge(make_config(redis_url, dry_run=True, whatsapp={"verify_token": ""}))
    try:
        for token in ("", "anything"):
            query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1"}
            assert b.client.get("/whatsapp/webhook", query_string=query).status_code == 403
    finally:
        b.close()


# -- signatures ------------------------------------------------------------------------------


def test_a_signed_post_is_queued_and_a_byte_for_byte_repeat_is_not(bridge: Bridge, redis: Redis):
    post = status_post("wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI0", "delivered")
    first = bridge.post_meta(post)
    assert (first.status_code, first.get_json()) == (200, {"status": "queued"})
    assert bridge.queued_jobs() == 1
    again = bridge.post_meta(post)
    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate"})
    assert bridge.queued_jobs() == 1


def _tampered() -> tuple[bytes, dict[str, str]]:
    body, headers = meta_signed(status_post("wamid.x", "delivered"))
    return body.replace(b"delivered", b"read"), headers


def _reserialized() -> tuple[bytes, dict[str, str]]:
    """Signed as Meta signs (non-ASCII escaped), then re-serialized by a proxy as UTF-8."""
    document = message_post("Grüße, ça va? مرحبا")
    _body, headers = meta_signed(document)
    return json.dumps(document, ensure_ascii=False).encode(), headers


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: (meta_signed(status_post("wamid.x", "read"))[0], {}), "missing X-Hub-Signature-256"),
        (lambda: meta_signed(status_post("wamid.x", "read"), secret="another app's secret"), "does not match"),
        (_tampered, "does not match"),
        (_reserialized, "does not match"),
        (lambda: (b"{}", {"X-Hub-Signature-256": "sha1=0123"}), "must start with sha256="),
        (lambda: (b"{}", {"X-Hub-Signature-256": "sha256=" + "0" * 64}), "does not match"),
        (lambda: (b"{}", {"X-Hub-Signature-256": "sha256=\u00e9\u00e9"}), "does not match"),
    ],
    ids=["missing", "wrong secret", "tampered body", "re-serialized body", "not sha256", "zeros", "non-ascii"],
)
def test_a_post_without_a_valid_signature_is_401_and_nothing_is_stored(bridge: Bridge, redis: Redis, build, message):
    body, headers = build()
    response = bridge.client.post("/whatsapp/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert message in response.get_json()["error"]
    assert nothing_stored(bridge, redis)


def test_an_uppercase_hex_signature_is_accepted(bridge: Bridge):
    body, headers = meta_signed(status_post("wamid.x", "read"))
    headers["X-Hub-Signature-256"] = "sha256=" + headers["X-Hub-Signature-256"].removeprefix("sha256=").upper()
    assert bridge.client.post("/whatsapp/webhook", data=body, headers=headers).status_code == 200


def test_a_non_ascii_post_is_verified_on_its_raw_bytes(bridge: Bridge):
    """Meta signs the escaped-unicode bytes it sends; the bridge checks those exact bytes."""
    body, headers = meta_signed(message_post("إيقاف"))
    assert b"\\u0625" in body
    assert bridge.client.post("/whatsapp/webhook", data=body, headers=headers).status_code == 200


def test_with_no_app_secret_every_post_is_503_and_logged(redis, redis_url, caplog):
    b = Bridge(make_config(redis_url, dry_run=True, whatsapp={"app_secret": ""}))
    try:
        response = b.post_meta(status_post("wamid.x", "read"))
        assert response.status_code == 503 and "app secret" in response.get_json()["error"]
        assert "WHATSAPP_APP_SECRET" in caplog.text
        assert b.queued_jobs() == 0 and not redis.keys("bridge:*")
    finally:
        b.close()


def test_the_app_secret_and_verify_token_come_from_the_environment(redis, redis_url):
    from bridge.config import parse_config
    from tests.conftest import example_raw

    raw = example_raw()
    raw["redis"]["url"] = redis_url
    config = parse_config(raw, env={"WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN})
    assert (config.whatsapp.app_secret, config.whatsapp.verify_token) == (APP_SECRET, VERIFY_TOKEN)


# -- size and envelope -----------------------------------------------------------------------


def test_a_post_over_1_mib_is_413_and_nothing_is_stored(bridge: Bridge, redis: Redis):
    post = message_post("x" * (1024 * 1024))
    response = bridge.post_meta(post)
    assert response.status_code == 413
    assert nothing_stored(bridge, redis)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"whatsapp_business_account"',
        b"{}",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {}}]}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]}',
        b'{"object": 7, "entry": []}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "not json",
        "a list",
        "a string",
        "empty object",
        "no entry",
        "entry not a list",
        "no changes",
        "no field",
        "no value",
        "object not text",
        "not utf-8",
        "deeply nested",
    ],
)
def test_a_signed_body_without_metas_envelope_is_400_and_nothing_is_stored(bridge: Bridge, redis: Redis, body):
    response = bridge.post_meta(body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "not a webhook post from Meta" in response.get_json()["error"]
    assert nothing_stored(bridge, redis)


def test_redis_away_answers_503_so_meta_retries(redis_url, fake_graph: FakeGraphAPI):
    b = Bridge(make_config("redis://127.0.0.1:1/0", fake_graph))
    try:
        response = b.post_meta(status_post("wamid.x", "read"))
        assert (response.status_code, response.get_json()) == (503, {"error": "temporarily unavailable, retry later"})
    finally:
        b.close()


# -- everything inside the envelope is 200 ------------------------------------------------------


@pytest.mark.parametrize(("name", "post"), corpus(), ids=[name for name, _ in corpus()])
def test_every_captured_payload_is_answered_200_and_processed_without_failure(bridge: Bridge, name, post):
    """Shapes other WhatsApp libraries capture in their tests: every field and message type."""
    response = bridge.post_meta(post)
    assert (response.status_code, response.get_json()) == (200, {"status": "queued"}), name
    bridge.work()
    assert bridge.worker_runtime.queue.failed_job_registry.count == 0
    assert "updates_failed" not in bridge.store.counters()
    assert bridge.worker_runtime.redis.keys("bridge:meta-post:*") == [] or all(
        bridge.worker_runtime.redis.get(key) == b"" for key in bridge.worker_runtime.redis.keys("bridge:meta-post:*")
    )


def test_a_post_for_another_object_is_answered_200_and_ignored(bridge: Bridge):
    post = {"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed", "value": {"item": "status"}}]}]}
    assert bridge.post_meta(post).status_code == 200
    bridge.work()
    assert bridge.store.counters() == {"ignored page (object)": 1}


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "text",
        {"statuses": "not a list"},
        {"statuses": [None, 7, "x", {"id": 5}, {"status": "read"}]},
        {"messages": [{"id": "wamid.1", "type": {"nested": True}, "text": "no body"}]},
        {"messages": [{"id": "wamid.2", "type": "text", "text": {"body": ["STOP"]}, "timestamp": "soon"}]},
        {"contacts": [{"wa_id": {"x": 1}, "user_id": 7}], "metadata": "x"},
    ],
    ids=["null", "list", "text", "statuses text", "junk statuses", "junk type", "junk body", "junk contacts"],
)
def test_hostile_values_inside_a_valid_envelope_are_200_and_never_fail_the_job(bridge: Bridge, value):
    post = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}
    assert bridge.post_meta(post).status_code == 200
    bridge.work()
    assert bridge.worker_runtime.queue.failed_job_registry.count == 0
    assert "updates_failed" not in bridge.store.counters()


def test_a_post_whose_job_was_lost_is_processed_when_a_worker_starts(bridge: Bridge, redis: Redis):
    """RQ gives up on a job after its crash retries; the post (it may hold a STOP) is still stored."""
    from bridge.worker import run
    from tests.meta_posts import message_post

    assert bridge.post_meta(message_post("STOP", sender="14155550123")).status_code == 200
    bridge.worker_runtime.queue.empty()  # the job is lost
    assert bridge.queued_jobs() == 0
    run(bridge.config, burst=True, with_scheduler=False)
    assert bridge.worker_runtime.optouts.status(["+14155550123"])["optout"]
    assert bridge.store.unprocessed_meta_posts() == []
    run(bridge.config, burst=True, with_scheduler=False)  # nothing left to queue again
    assert bridge.store.counters()["inbound stop"] == 1
