"""Every accepted event becomes exactly one message or one recorded failure, under faults."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from redis import Redis

from bridge.config import DeliverySettings
from bridge.delivery.policy import backoff_delay, decide
from bridge.delivery.records import Status
from bridge.errors import PermanentError, RateLimitedError, TransientError
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config, signed
from tests.fake_graph import FakeGraphAPI, Reply


def one_record(bridge: Bridge) -> dict[str, str]:
    (record,) = bridge.deliveries()
    return record


# -- retry policy: pure, with an injected clock and random source -------------------------------


def test_backoff_doubles_with_jitter_and_a_cap():
    assert [backoff_delay(n, 2.0, 3600, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [backoff_delay(n, 2.0, 3600, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(30, 2.0, 3600, rand=lambda: 1.0) == 3600


def test_decide_by_class_attempts_and_age():
    settings = DeliverySettings(max_attempts=3, backoff_base_seconds=2, backoff_max_seconds=60, give_up_after_seconds=72 * 3600)
    transient = TransientError("x", code=131000)
    assert decide(transient, attempts=1, first_attempt_at=0, now=10, settings=settings, rand=lambda: 0.5).delay == 1.5
    assert not decide(transient, attempts=3, first_attempt_at=0, now=10, settings=settings).retry
    assert "gave up after 259200 s" in decide(transient, attempts=1, first_attempt_at=0, now=72 * 3600, settings=settings).reason
    assert not decide(PermanentError("x", code=131026), attempts=1, first_attempt_at=0, now=1, settings=settings).retry
    throttled = decide(RateLimitedError("x", code=130429, retry_after=7), attempts=9, first_attempt_at=0, now=1, settings=settings)
    assert (throttled.retry, throttled.delay) == (True, 7)


def test_transient_errors_give_up_after_72_hours_by_the_workers_clock(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"max_attempts": 100, "backoff_base_seconds": 60}))
    clock = [1_800_000_000.0]
    bridge.worker_runtime.clock = lambda: clock[0]
    try:
        fake_graph.script(Reply.error(131016), Reply.error(131016))
        bridge.post(samples.fresh_event("payment_intent.succeeded"))
        bridge.work()
        record = one_record(bridge)
        assert record["status"] == Status.RETRYING
        assert 30 <= float(record["next_attempt_at"]) - clock[0] <= 60  # base 60 s, half of it jitter
        clock[0] += 72 * 3600 + 1
        bridge.advance()
        bridge.work()
        record = one_record(bridge)
        assert (record["status"], record["attempts"]) == (Status.FAILED, 2)
        assert "gave up after 259200 s" in record["error_message"]
        assert bridge.scheduled() == []
    finally:
        bridge.close()


# -- one class of error each -------------------------------------------------------------------


def test_transient_code_is_retried_and_delivered_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131000), Reply.error(133004), Reply.server_error(502))
    bridge.post(samples.fresh_event("invoice.paid"))
    bridge.work()
    assert [r.status for r in fake_graph.requests] == [500, 503, 502, 200]
    record = one_record(bridge)
    assert (record["status"], record["attempts"]) == (Status.SENT, 4)
    assert len(fake_graph.accepted) == 1


@pytest.mark.parametrize("code", [130429, 131056, 80007, 4])
def test_rate_limited_codes_wait_and_are_not_counted_as_failures(bridge: Bridge, fake_graph: FakeGraphAPI, code: int):
    fake_graph.script(*[Reply.error(code)] * 3)
    bridge.post(samples.fresh_event("invoice.paid"))
    rounds = 0
    while one_record(bridge)["status"] != Status.SENT:
        bridge.work()
        if one_record(bridge)["status"] == Status.RETRYING:
            assert len(bridge.scheduled()) == 1  # waits; never hammers Meta again at once
            bridge.advance()
        rounds += 1
        assert rounds < 10
    record = one_record(bridge)
    assert (record["attempts"], record["throttled"]) == (1, 3)
    assert len(fake_graph.requests) == 4 and len(fake_graph.accepted) == 1


@pytest.mark.parametrize("code", [100, 131026, 131047, 131049, 131050, 132000, 132001, 132015, 132018, 130472])
def test_permanent_codes_fail_with_zero_retries(bridge: Bridge, fake_graph: FakeGraphAPI, code: int):
    fake_graph.script(Reply.error(code, details="details from Meta"))
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    assert len(fake_graph.requests) == 1
    assert bridge.scheduled() == [] and bridge.queued_jobs() == 0
    record = one_record(bridge)
    assert (record["status"], record["error_code"], record["error_class"], record["attempts"]) == (
        Status.FAILED,
        code,
        "PermanentError",
        1,
    )
    assert record["error_details"] == "details from Meta" and record["error_meaning"]


def test_expired_token_pauses_sending_keeps_jobs_and_resume_delivers_each_once(bridge: Bridge, fake_graph: FakeGraphAPI, redis_url: str):
    from tests.test_cli import run_bridge

    fake_graph.script(Reply.error(190, http_status=401))
    events = [samples.fresh_event(t) for t in ("payment_intent.succeeded", "invoice.paid", "charge.refunded")]
    for event in events:
        bridge.post(event)
    bridge.work()
    assert len(fake_graph.requests) == 1  # the first 190 pauses everything: no more calls to Meta
    records = bridge.deliveries()
    assert {r["status"] for r in records} == {Status.PAUSED}
    assert any(r.get("error_code") == 190 for r in records)
    rt = bridge.worker_runtime
    assert json.loads(rt.redis.get(rt.pause_key))["code"] == 190
    assert len(bridge.scheduled()) == 1  # one probe, not a retry per job

    env = {"REDIS_URL": redis_url, "BRIDGE_CONFIG": "config.example.toml"}
    wrong = run_bridge("resume", env=env)  # without the worker's phone number id
    assert wrong.returncode == 1 and f"paused for phone number id {fake_graph.phone_number_id}, not for" in wrong.stderr
    assert {r["status"] for r in bridge.deliveries()} == {Status.PAUSED}  # nothing touched
    resumed = run_bridge("resume", env={**env, "WHATSAPP_PHONE_NUMBER_ID": fake_graph.phone_number_id})
    assert resumed.returncode == 0, resumed.stderr
    assert "was paused since" in resumed.stdout and "(#190)" in resumed.stdout
    assert "resumed: 3 held deliveries re-queued" in resumed.stdout
    bridge.work()
    assert {r["status"] for r in bridge.deliveries()} == {Status.SENT}
    assert len(fake_graph.accepted) == 3
    assert sorted(r.json["biz_opaque_callback_data"] for r in fake_graph.accepted) == sorted(r["id"] for r in bridge.deliveries())


def test_probe_resumes_sending_by_itself_when_the_account_recovers(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"pause_probe_seconds": 30}))
    try:
        _probe_resumes_sending(bridge, fake_graph)
    finally:
        bridge.close()


def _probe_resumes_sending(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131042), Reply.error(131042))
    for t in ("payment_intent.succeeded", "invoice.paid"):
        bridge.post(samples.fresh_event(t))
    bridge.work()
    assert [delay for _, delay in bridge.scheduled()] == [pytest.approx(30, abs=1)]  # [delivery] pause_probe_seconds
    assert bridge.advance() == [pytest.approx(30, abs=1)]  # the probe is due: it fails again, stays paused
    bridge.work()
    assert [delay for _, delay in bridge.scheduled()] == [pytest.approx(60, abs=1)]  # and probes again, twice as late
    assert {r["status"] for r in bridge.deliveries()} == {Status.PAUSED}
    assert len(fake_graph.requests) == 2
    bridge.advance()  # billing fixed: the next probe goes through and resumes the rest
    bridge.work()
    assert {r["status"] for r in bridge.deliveries()} == {Status.SENT}
    assert len(fake_graph.accepted) == 2
    assert not bridge.worker_runtime.redis.exists(bridge.worker_runtime.pause_key)


def test_probe_does_not_resume_on_held_messages_that_never_reach_meta(bridge: Bridge, fake_graph: FakeGraphAPI, caplog):
    fake_graph.script(Reply.error(190, http_status=401), Reply.error(190, http_status=401))
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()  # paused
    for _ in range(4):  # held too, but they have no phone: they will be skipped without asking Meta
        without_phone = samples.fresh_event("invoice.paid")
        without_phone["data"]["object"]["customer_phone"] = None
        bridge.post(without_phone)
    bridge.work()
    held = bridge.worker_runtime.redis.scard(bridge.store.keys.paused_deliveries)
    assert held == 5

    bridge.advance()
    bridge.work()  # the probe picks at random; the skipped ones must not count as proof
    records = bridge.deliveries()
    assert [r["status"] for r in records if r["event_type"] == "payment_intent.succeeded"] == [Status.PAUSED]
    assert {r["status"] for r in records if r["event_type"] == "invoice.paid"} <= {Status.PAUSED, Status.SKIPPED}
    assert len(fake_graph.requests) == 2  # the first 190, then the probe's own 190
    assert "sending resumed" not in caplog.text
    assert bridge.worker_runtime.redis.exists(bridge.worker_runtime.pause_key)


def test_a_probe_that_meets_a_meta_outage_asks_once_and_waits(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(190, http_status=401), Reply.server_error(503), Reply.server_error(503))
    for t in ("payment_intent.succeeded", "invoice.paid", "charge.refunded"):
        bridge.post(samples.fresh_event(t))
    bridge.work()  # paused by the 190
    bridge.advance()
    bridge.work()  # the probe's request meets a 503: it proves nothing either way
    assert len(fake_graph.requests) == 2  # one request per probe, not one per held message
    assert bridge.worker_runtime.redis.exists(bridge.worker_runtime.pause_key)
    assert {r["status"] for r in bridge.deliveries()} == {Status.PAUSED}
    assert len(bridge.scheduled()) == 1  # the next probe


# -- duplicates ---------------------------------------------------------------------------------


def test_100_concurrent_duplicate_posts_make_one_message(bridge: Bridge, fake_graph: FakeGraphAPI, served):
    url = served(bridge.app)
    body, headers = signed(samples.fresh_event("payment_intent.succeeded"))
    with httpx.Client(limits=httpx.Limits(max_connections=100)) as client, ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: client.post(url, content=body, headers=headers, timeout=30), range(100)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert [r.status_code for r in responses] == [200] * 100
    assert statuses.count("queued") == 1 and statuses.count("duplicate") == 99
    bridge.work()
    assert len(fake_graph.accepted) == 1


# -- ambiguous outcomes -------------------------------------------------------------------------


def test_dropped_connection_is_ambiguous_then_resent_once(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"ambiguous_wait_seconds": 600}))
    try:
        fake_graph.script(Reply.drop())
        bridge.post(samples.fresh_event("payment_intent.succeeded"))
        bridge.work()
        record = one_record(bridge)
        assert record["status"] == Status.AMBIGUOUS and record["error_class"] == "AmbiguousError"
        assert len(fake_graph.requests) == 1
        ((_, delay),) = bridge.scheduled()
        assert 599 <= delay <= 601  # not resent blindly: waits for the status webhook first
        bridge.advance()
        bridge.work()
        record = one_record(bridge)
        assert (record["status"], record["ambiguous_resent"], record["attempts"]) == (Status.SENT, True, 2)
        assert len(fake_graph.requests) == 2
    finally:
        bridge.close()


def test_on_ambiguous_fail_records_a_failure_instead_of_resending(redis, redis_url, fake_graph: FakeGraphAPI):
    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"on_ambiguous": "fail", "ambiguous_wait_seconds": 0}))
    try:
        fake_graph.script(Reply.delay(5))  # longer than the client's 2 s timeout
        bridge.post(samples.fresh_event("payment_intent.succeeded"))
        bridge.work()
        record = one_record(bridge)
        assert record["status"] == Status.FAILED
        assert "not resent" in record["error_message"]
        assert len(fake_graph.requests) == 1
    finally:
        bridge.close()


@pytest.mark.parametrize(
    ("faults", "statuses", "attempts"),
    [
        ([Reply.server_error(500)] * 3, [500, 500, 500, 200], 4),
        ([Reply.error(2)] * 2, [503, 503, 200], 3),
        ([Reply.error(131000), Reply.server_error(503), Reply.error(131016)], [500, 503, 500, 200], 4),
    ],
)
def test_first_n_attempts_fail_then_exactly_one_message(bridge: Bridge, fake_graph: FakeGraphAPI, faults, statuses, attempts):
    fake_graph.script(*faults)
    bridge.post(samples.fresh_event("checkout.session.completed"))
    bridge.work()
    assert [r.status for r in fake_graph.requests] == statuses
    record = one_record(bridge)
    assert (record["status"], record["attempts"]) == (Status.SENT, attempts)


def test_timeouts_are_held_as_ambiguous_then_resent_once(redis, redis_url, fake_graph: FakeGraphAPI):
    """A read timeout is the documented exception: Meta may have the message (here it does)."""
    config = make_config(redis_url, fake_graph, whatsapp={"timeout_seconds": 0.3}, delivery={"ambiguous_wait_seconds": 600})
    bridge = Bridge(config)
    try:
        fake_graph.script(Reply.delay(0.6))  # answers 200, but after the client gave up
        bridge.post(samples.fresh_event("invoice.paid"))
        bridge.work()
        assert one_record(bridge)["status"] == Status.AMBIGUOUS
        fake_graph.wait_until(lambda f: len(f.accepted) == 1, timeout=5, message="the late answer")
        assert [delay for _, delay in bridge.scheduled()] == [pytest.approx(600, abs=1)]
        bridge.advance()  # ten minutes later, no status webhook has reconciled it
        bridge.work()
        record = one_record(bridge)
        assert (record["status"], record["attempts"], record["ambiguous_resent"]) == (Status.SENT, 2, True)
        assert len(fake_graph.requests) == 2 and len(fake_graph.accepted) == 2  # at most twice, and recorded so
        assert {r.json["biz_opaque_callback_data"] for r in fake_graph.requests} == {record["id"]}
    finally:
        bridge.close()


# -- ordering -----------------------------------------------------------------------------------


def test_refund_notice_waits_for_the_pending_payment_notice(bridge: Bridge, fake_graph: FakeGraphAPI):
    payment, refund = samples.fresh_event("payment_intent.succeeded", payment="p1"), samples.fresh_event("charge.refunded", payment="p1")
    refund["created"] = payment["created"] + 3600
    assert refund["data"]["object"]["payment_intent"] == payment["data"]["object"]["id"]
    bridge.post(refund)  # Stripe delivered them out of order
    bridge.post(payment)
    bridge.work_all()
    assert [r.json["template"]["name"] for r in fake_graph.accepted] == ["payment_receipt", "refund_issued"]


def test_older_notice_after_a_newer_one_was_sent_is_skipped_as_superseded(bridge: Bridge, fake_graph: FakeGraphAPI):
    refund, payment = samples.fresh_event("charge.refunded", payment="p2"), samples.fresh_event("payment_intent.succeeded", payment="p2")
    payment["created"] = refund["created"] - 3600
    bridge.post(refund)
    bridge.work()
    bridge.post(payment)  # created before the refund, arriving after the refund notice went out
    bridge.work()
    assert [r.json["template"]["name"] for r in fake_graph.accepted] == ["refund_issued"]
    skipped = [d for d in bridge.deliveries() if d["status"] == Status.SKIPPED]
    assert len(skipped) == 1 and skipped[0]["reason"].startswith("superseded")


# -- Redis restarted under load ------------------------------------------------------------------


def test_redis_restarted_mid_load_loses_nothing(fake_graph: FakeGraphAPI):
    from bridge.dev.dev_redis import RedisServer

    server = RedisServer(persistent=True).start()
    bridge = Bridge(make_config(server.url, fake_graph))
    try:
        events = [samples.fresh_event("invoice.paid", phone=f"+1415555{i:04d}") for i in range(30)]
        answers = {}
        for i, event in enumerate(events):
            if i == 10:
                server.stop()
            if i == 20:
                server.start()
            answers[event["id"]] = bridge.post(event).status_code
        assert list(answers.values()) == [200] * 10 + [503] * 10 + [200] * 10
        # Stripe retries what failed, and sometimes what didn't: what was accepted before the
        # restart survived it (AOF), so those are duplicates; the 503s get through now.
        retried = [bridge.post(event).get_json()["status"] for event in events]
        assert retried == ["duplicate"] * 10 + ["queued"] * 10 + ["duplicate"] * 10
        bridge.work()
        sent = sorted(r.json["to"] for r in fake_graph.accepted)
        assert sent == sorted(f"+1415555{i:04d}" for i in range(30))  # every event, each once
        assert {d["status"] for d in bridge.deliveries()} == {Status.SENT}
    finally:
        bridge.close()
        server.stop()


# -- CLI ----------------------------------------------------------------------------------------


def test_deliveries_and_replay_cli(bridge: Bridge, fake_graph: FakeGraphAPI, redis: Redis, redis_url: str):
    from tests.test_cli import run_bridge

    fake_graph.script(Reply.error(132001, details="template name does not exist in en_US"))
    event = samples.fresh_event("payment_intent.succeeded")
    bridge.post(event)
    bridge.work()
    delivery = f"{event['id']}:payment_received"
    env = {"REDIS_URL": redis_url, "BRIDGE_CONFIG": "config.example.toml"}

    table = run_bridge("deliveries", "--status", "failed", env=env)
    assert table.returncode == 0, table.stderr
    assert delivery in table.stdout and "(#132001)" in table.stdout and "+1******0123" in table.stdout
    assert "4155550123" not in table.stdout
    (line,) = run_bridge("deliveries", "--event", event["id"], "--json", env=env).stdout.splitlines()
    assert json.loads(line)["error_code"] == 132001
    assert run_bridge("deliveries", "--since", "2999-01-01", env=env).stdout.strip() == "no deliveries"

    replayed = run_bridge("replay", delivery, env=env)
    assert (replayed.returncode, replayed.stdout.strip()) == (0, f"{delivery}: replayed (was failed)")
    bridge.work()
    assert one_record(bridge)["status"] == Status.SENT
    assert one_record(bridge)["replays"] == 1

    again = run_bridge("replay", delivery, env=env)
    assert again.returncode == 1 and "not replayed: status sent (use --force" in again.stdout
    forced = run_bridge("replay", "--force", delivery, env=env)
    assert forced.returncode == 0
    bridge.work()
    assert len(fake_graph.accepted) == 2  # --force really sends again

    assert run_bridge("replay", "--failed", env=env).stdout.strip() == "nothing to replay"
    assert "sending is not paused" in run_bridge("resume", env=env).stdout
