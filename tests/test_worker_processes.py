"""Real `bridge worker` processes: killed mid-request, and two sharing Meta's rate limits."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry

from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, Bridge, make_config, process_env, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI, Reply

pytestmark = pytest.mark.slow


def worker_env(redis_url: str, fake: FakeGraphAPI, config: Path = EXAMPLE_CONFIG) -> dict[str, str]:
    return process_env(
        **{
            "BRIDGE_CONFIG": str(config),
            "REDIS_URL": redis_url,
            "STRIPE_WEBHOOK_SECRET": "whsec_unused_by_the_worker",
            "WHATSAPP_ACCESS_TOKEN": fake.token,
            "WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
            "WHATSAPP_API_BASE_URL": fake.base_url,
            "WHATSAPP_API_VERSION": fake.api_version,
        }
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start_process([sys.executable, "-m", "bridge.cli", "worker"], env, log)


def test_worker_killed_while_its_request_is_in_flight_loses_nothing(redis, redis_url, fake_graph: FakeGraphAPI, tmp_path: Path):
    bridge = Bridge(make_config(redis_url, fake_graph, delivery={"ambiguous_wait_seconds": 0}))
    worker = start_worker(worker_env(redis_url, fake_graph), tmp_path / "worker.log")
    try:
        fake_graph.script(Reply.hang())
        event = samples.fresh_event("payment_intent.succeeded")
        bridge.post(event)
        fake_graph.wait_for(1, timeout=30)  # the request is at "Meta", unanswered
        stop_process(worker, signal.SIGKILL)  # a dyno dies: no cleanup, no answer
        fake_graph.release()
        record = bridge.deliveries()[0]
        assert record["status"] == Status.SENDING and record.get("request_at")

        # Time passes: RQ's maintenance finds the job abandoned and, as it carries a Retry,
        # re-runs it (cleanup is given a timestamp past the job's timeout instead of a sleep).
        StartedJobRegistry(queue=bridge.worker_runtime.queue).cleanup(timestamp=2**31)
        bridge.work_all()
        record = bridge.deliveries()[0]
        # Documented ambiguous case: the first request may or may not have reached the
        # customer; after ambiguous_wait_seconds (0 here) it is resent once, and recorded so.
        assert (record["status"], record["ambiguous_resent"]) == (Status.SENT, True)
        assert len(fake_graph.requests) == 2 and len(fake_graph.accepted) == 1
    finally:
        stop_process(worker, signal.SIGKILL)
        bridge.close()


def test_sigterm_lets_the_current_job_finish(redis, redis_url, fake_graph: FakeGraphAPI, tmp_path: Path):
    bridge = Bridge(make_config(redis_url, fake_graph))
    worker = start_worker(worker_env(redis_url, fake_graph), tmp_path / "worker.log")
    try:
        fake_graph.script(Reply.delay(1.5))
        bridge.post(samples.fresh_event("invoice.paid"))
        fake_graph.wait_for(1, timeout=30)
        code = stop_process(worker, signal.SIGTERM)  # Heroku's shutdown: warm, then SIGKILL after 30 s
        assert code == 0
        assert bridge.deliveries()[0]["status"] == Status.SENT
    finally:
        stop_process(worker, signal.SIGKILL)
        bridge.close()


def test_two_workers_share_the_rate_limits(redis, redis_url, fake_graph: FakeGraphAPI, tmp_path: Path):
    rate, pair = 20, 2.0
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace("messages_per_second = 80", f"messages_per_second = {rate}")
        .replace("pair_interval_seconds = 6.0", f"pair_interval_seconds = {pair}")
    )
    bridge = Bridge(make_config(redis_url, fake_graph))
    # 190 customers get one receipt each; 5 customers get two (payment, then invoice).
    phones = [f"+1415555{i:04d}" for i in range(190)] + [f"+1415555{i:04d}" for i in range(5)]
    for i, phone in enumerate(phones):
        bridge.post(samples.fresh_event("invoice.paid" if i < 190 else "payment_intent.succeeded", phone=phone, payment=f"c{i}"))
    for i, phone in enumerate(phones[:5]):
        bridge.post(samples.fresh_event("refund.created", phone=phone, payment=f"c{190 + i}"))
    total = len(phones) + 5
    assert total == 200
    workers = [start_worker(worker_env(redis_url, fake_graph, config), tmp_path / f"worker{n}.log") for n in range(2)]
    try:
        wait_until(lambda: len(fake_graph.accepted) >= total, timeout=90, interval=0.2, message=f"{total} messages")
        assert fake_graph.problems == []
        per_second = Counter(int(r.received_at) for r in fake_graph.accepted)
        assert max(per_second.values()) <= rate, sorted(per_second.items())
        by_customer = defaultdict(list)
        for r in fake_graph.accepted:
            by_customer[r.json["to"]].append(r.received_at)
        gaps = [b - a for times in by_customer.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
        assert len(gaps) == 10  # 5 customers × 3 messages each
        assert min(gaps) >= pair - 0.05, gaps
        print(f"\nrate: busiest second {max(per_second.values())}/{rate}; closest same-customer gap {min(gaps):.3f}/{pair} s")
        assert len(fake_graph.accepted) == total and len({r.json["biz_opaque_callback_data"] for r in fake_graph.accepted}) == total
        assert {d["status"] for d in bridge.deliveries()} == {Status.SENT}
    finally:
        for w in workers:
            stop_process(w)
        bridge.close()


def test_worker_rides_out_a_redis_outage(fake_graph: FakeGraphAPI, tmp_path: Path):
    from bridge.dev.dev_redis import RedisServer

    server = RedisServer(persistent=True).start()
    bridge = Bridge(make_config(server.url, fake_graph))
    worker = start_worker(worker_env(server.url, fake_graph), tmp_path / "worker.log")
    try:
        bridge.post(samples.fresh_event("invoice.paid"))
        fake_graph.wait_for(1, timeout=30)
        server.stop()
        wait_until(
            lambda: "Redis" in (tmp_path / "worker.log").read_text() and "retrying" in (tmp_path / "worker.log").read_text(),
            timeout=30,
            message="the worker to notice the outage",
        )
        assert worker.poll() is None  # still running, not crashed
        server.start()
        event = samples.fresh_event("payment_intent.succeeded")
        wait_until(lambda: bridge.post(event).status_code == 200, timeout=30, message="the web side to reach Redis again")
        wait_until(lambda: len(fake_graph.accepted) == 2, timeout=60, message="the worker to deliver after Redis came back")
        assert worker.poll() is None
    finally:
        stop_process(worker, signal.SIGKILL)
        bridge.close()
        server.stop()
