"""`/healthz` and `/readyz`: the verdicts as pure functions, and the route against a real Redis
that is stopped and started again, a real pause and real snapshot files."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from bridge.config import HealthSettings, parse_config
from bridge.delivery.control import pause_sending, resume
from bridge.dev.dev_redis import RedisServer
from bridge.errors import AccountError, ConfigError
from bridge.observability.readiness import (
    Check,
    SnapshotState,
    Verdict,
    config_verdict,
    readiness,
    redis_verdict,
    sending_verdict,
    templates_verdict,
)
from bridge.stripe_events import samples
from tests.conftest import Bridge, example_raw, make_config, wait_until
from tests.fake_graph import FakeGraphAPI

NOW = 1_796_000_000.0
HOUR = 3600.0


def readyz(bridge: Bridge) -> tuple[int, dict[str, Any]]:
    response = bridge.client.get("/readyz")
    return response.status_code, response.json


def write_snapshot(path: Path, pulled_at: float) -> Path:
    path.write_text(json.dumps({"business_account_id": "102290129340398", "pulled_at": pulled_at, "templates": []}))
    return path


# --- the verdicts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "ok", "skipped"),
    [
        (SnapshotState("templates.json"), True, True),
        (SnapshotState("templates.json", pulled_at=NOW - 2 * HOUR), True, False),
        (SnapshotState("templates.json", pulled_at=NOW - 25 * HOUR), False, False),
        (SnapshotState("templates.json", pulled_at=NOW + 60), True, False),  # a clock a little ahead is not an error
        (SnapshotState("templates.json", error="templates.json: (file): is not JSON"), False, False),
    ],
    ids=["no snapshot", "fresh", "too old", "from the future", "unreadable"],
)
def test_the_templates_verdict_by_snapshot(snapshot: SnapshotState, ok: bool, skipped: bool):
    verdict = templates_verdict(snapshot, now=NOW, max_age_hours=24)
    assert (verdict.ok, verdict.skipped is not None) == (ok, skipped)
    assert ("error" in verdict.details) == (not ok)


def test_redis_verdict_reports_latency_or_the_error():
    assert redis_verdict(0.0012).as_json() == {"ok": True, "latency_ms": 1.2}
    assert redis_verdict(None, "ConnectionError").as_json() == {"ok": False, "error": "Redis did not answer PING: ConnectionError"}


def test_the_config_verdict_names_its_source_and_fails_without_a_webhook_secret(redis_url: str):
    config = make_config(redis_url)
    assert config_verdict(config).as_json() == {"ok": True, "source": "test-config.toml", "mappings": len(config.mappings)}
    raw = example_raw()
    raw["stripe"]["webhook_secrets"] = []
    verdict = config_verdict(parse_config(raw, source="no-secret.toml"))
    assert not verdict.ok and "STRIPE_WEBHOOK_SECRET" in verdict.details["error"]


def test_a_pause_fails_sending_with_its_cause():
    pause = {"code": 190, "reason": "token expired", "meaning": "the access token expired", "since": NOW, "probe_interval": 60}
    verdict = sending_verdict(pause, "1065")
    assert not verdict.ok
    assert {k: verdict.details[k] for k in ("phone_number_id", "code", "since", "paused")} == {
        "phone_number_id": "1065",
        "code": 190,
        "since": NOW,
        "paused": True,
    }
    assert "probe_interval" not in verdict.details
    assert sending_verdict(None, "1065") == Verdict(ok=True, details={"phone_number_id": "1065"})


def test_readiness_is_200_only_when_every_check_passes_and_names_the_failed_ones():
    good, bad = Verdict(ok=True), Verdict(ok=False, details={"error": "x"})
    assert readiness({Check.REDIS: good, Check.CONFIG: good}) == (
        200,
        {"status": "ready", "checks": {"redis": {"ok": True}, "config": {"ok": True}}, "failed": []},
    )
    status, body = readiness({Check.REDIS: good, Check.SENDING: bad, Check.TEMPLATES: bad})
    assert (status, body["status"], body["failed"]) == (503, "not ready", ["sending", "templates"])


@pytest.mark.parametrize("value", [0, -1, "24", True])
def test_templates_max_age_hours_must_be_a_positive_number(redis_url: str, value: Any):
    raw = example_raw()
    raw["health"] = {"templates_max_age_hours": value}
    with pytest.raises(ConfigError, match=r"health\.templates_max_age_hours"):
        parse_config(raw, source="c.toml")


def test_templates_max_age_hours_defaults_to_thirty_days():
    assert parse_config(example_raw()).health == HealthSettings(templates_max_age_hours=720)


# --- the routes --------------------------------------------------------------------------------


def test_healthz_answers_without_redis():
    bridge = Bridge(make_config("redis://127.0.0.1:1/0", dry_run=True))
    try:
        response = bridge.client.get("/healthz")
        assert (response.status_code, response.json) == (200, {"status": "ok"})
    finally:
        bridge.close()


def test_a_fresh_bridge_is_ready_with_every_check_named(bridge: Bridge):
    status, body = readyz(bridge)
    assert (status, body["status"], body["failed"]) == (200, "ready", [])
    assert set(body["checks"]) == {"redis", "config", "sending", "templates"}
    assert body["checks"]["templates"]["skipped"] is True  # the tests' config has no snapshot file
    assert body["checks"]["config"]["source"] == "test-config.toml"


def test_readyz_flips_to_503_while_sending_is_paused_and_back_on_resume(bridge: Bridge, fake_graph: FakeGraphAPI):
    pause_sending(bridge.worker_runtime, AccountError("token expired", code=190, meaning="the access token expired"))
    status, body = readyz(bridge)
    assert (status, body["status"], body["failed"]) == (503, "not ready", ["sending"])
    assert body["checks"]["sending"]["code"] == 190
    resume(bridge.worker_runtime)
    assert readyz(bridge)[0] == 200


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server child of this test, to stop and start."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_readyz_flips_to_503_when_redis_stops_and_back_when_it_returns(own_redis: RedisServer):
    bridge = Bridge(make_config(own_redis.url, dry_run=True))
    try:
        assert readyz(bridge)[0] == 200
        own_redis.stop()
        status, body = readyz(bridge)
        assert (status, body["failed"]) == (503, ["redis"])
        assert body["checks"]["redis"]["ok"] is False and "ConnectionError" in body["checks"]["redis"]["error"]
        assert body["checks"]["sending"]["skipped"] is True
        assert bridge.client.get("/metrics").status_code == 200  # and /metrics still answers
        own_redis.start()
        wait_until(lambda: readyz(bridge)[0] == 200, timeout=15, message="/readyz to be ready again")
        assert bridge.post(samples.fresh_event("invoice.paid")).json == {"status": "queued"}
    finally:
        bridge.close()


def test_a_snapshot_older_than_the_limit_is_not_ready_until_pulled_again(redis: Redis, redis_url: str, tmp_path: Path):
    path = write_snapshot(tmp_path / "templates.json", time.time() - 3 * HOUR)
    config = make_config(redis_url, dry_run=True, whatsapp={"templates_file": str(path)}, health={"templates_max_age_hours": 2})
    bridge = Bridge(config)
    try:
        status, body = readyz(bridge)
        assert (status, body["failed"]) == (503, ["templates"])
        assert body["checks"]["templates"]["max_age_hours"] == 2 and body["checks"]["templates"]["age_hours"] >= 3
        write_snapshot(path, time.time())
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new mtime, even on a coarse clock
        status, body = readyz(bridge)
        assert (status, body["failed"], body["checks"]["templates"]["ok"]) == (200, [], True)
    finally:
        bridge.close()


def test_an_unreadable_snapshot_is_a_failed_check_not_a_500(redis: Redis, redis_url: str, tmp_path: Path):
    path = tmp_path / "templates.json"
    path.write_text("{not json")
    bridge = Bridge(make_config(redis_url, dry_run=True, whatsapp={"templates_file": str(path)}))
    try:
        status, body = readyz(bridge)
        assert (status, body["failed"]) == (503, ["templates"])
        assert "is not JSON" in body["checks"]["templates"]["error"]
    finally:
        bridge.close()
