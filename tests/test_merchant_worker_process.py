"""A real `bridge worker` process serving merchants: it follows the merchants as they are added
(within about a second, no restart) and its RQ scheduler moves their rescheduled jobs too."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from bridge.delivery.records import Status
from bridge.merchants.sealing import new_key
from bridge.services.merchants import add_merchant, get_merchant, merchant_runtime
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI, Reply
from tests.test_worker_processes import worker_env

pytestmark = pytest.mark.slow

ACCOUNT = "acct_1WorkerAAA"


def test_the_worker_serves_a_merchant_added_while_it_runs_and_schedules_its_retries(
    redis, redis_url, fake_graph: FakeGraphAPI, tmp_path: Path
):
    key = new_key()
    tenant = fake_graph.add_tenant(FakeGraphAPI(token="token-of-a", phone_number_id="555000555", business_account_id="555999555"))
    bridge = Bridge(make_config(redis_url, fake_graph, merchants={"encryption_key": key}))
    log = tmp_path / "worker.log"
    worker = start_process(
        [sys.executable, "-m", "bridge.cli", "worker"], {**worker_env(redis_url, fake_graph), "BRIDGE_ENCRYPTION_KEY": key}, log
    )
    try:
        wait_until(lambda: b"on queue" in log.read_bytes(), timeout=30, message="the worker to start")
        mapping = {
            "name": "paid",
            "events": ["payment_intent.succeeded"],
            "template": "payment_receipt",
            "language": "en_US",
            "body": ["{{ object.id[-8:] }}"],
        }
        add_merchant(
            bridge.worker_runtime,
            ACCOUNT,
            phone_number_id=tenant.phone_number_id,
            access_token=tenant.token,
            mappings=[mapping],
            source="test",
        )
        # Meta throttles the first send and says when to come back: the retry goes through RQ's
        # scheduler, which must now know the merchant's queue too.
        tenant.script(Reply.error(130429, headers={"Retry-After": "1"}))
        event = samples.fresh_event("payment_intent.succeeded", phone="+14155550123")
        event["account"] = ACCOUNT
        wait_until(
            lambda: bridge.post(event).json["status"] == "queued", timeout=5, interval=0.2, message="the web side to see the merchant"
        )

        tenant.wait_until(lambda f: len(f.accepted) == 1, timeout=30, message="the retried send")
        assert [r.status for r in tenant.requests] == [429, 200]
        assert fake_graph.requests == [], "nothing went out from the file's number"
        rt = merchant_runtime(bridge.worker_runtime, get_merchant(bridge.worker_runtime, ACCOUNT))
        wait_until(lambda: rt.store.list_deliveries()[0]["status"] == Status.SENT.value, timeout=10, message="the record")
        assert b"now on 2 queues" in log.read_bytes()
        assert b"token-of-a" not in log.read_bytes()
    finally:
        stop_process(worker, signal.SIGTERM)
        bridge.close()
