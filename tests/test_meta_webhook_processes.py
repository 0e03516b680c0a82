"""Step 5's "done when", as a host runs it: the Procfile's gunicorn `web` and `bridge worker` as
real processes, Stripe's and Meta's signed posts over real HTTP, the fake Graph API.

A message's record goes queued → sent → delivered → read from Meta's status webhooks (out of
order, repeated); a failed one keeps Meta's reason; a STOP stops every later message to that
customer; a paused template stops sends before Meta refuses them, and a replay sends them once
Meta approves it again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis

from bridge.dev.dev_redis import free_port
from bridge.stripe_events import samples
from tests.conftest import (
    APP_SECRET,
    ROOT,
    meta_signed,
    signed,
    start_process,
    stop_process,
    wait_until,
)
from tests.fake_graph import FakeGraphAPI
from tests.meta_posts import message_post, meta_error, status, statuses_post, template_status_post
from tests.test_cli import run_bridge
from tests.test_procfile import procfile, procfile_env

pytestmark = pytest.mark.slow


@dataclass
class Host:
    url: str
    env: dict[str, str]
    redis: Redis
    logs: Path

    def stripe(self, event: dict) -> dict:
        body, headers = signed(event)
        response = httpx.post(f"{self.url}/stripe/webhook", content=body, headers=headers, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def meta(self, document: dict) -> None:
        body, headers = meta_signed(document)
        response = httpx.post(f"{self.url}/whatsapp/webhook", content=body, headers=headers, timeout=5)
        assert response.status_code == 200, response.text

    def record(self, delivery: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(f"bridge:delivery:{delivery}").items()}

    def wait_status(self, delivery: str, expected: str) -> dict[str, str]:
        wait_until(lambda: self.record(delivery).get("status") == expected, timeout=20, message=f"{delivery} to be {expected}")
        return self.record(delivery)


@pytest.fixture
def host(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path) -> Iterator[Host]:
    port = free_port()
    env = procfile_env(redis_url, fake_graph, port, WHATSAPP_APP_SECRET=APP_SECRET, WHATSAPP_VERIFY_TOKEN="handshake-token")
    commands = procfile()
    web = start_process(["bash", "-c", f"exec {commands['web']}"], env, tmp_path / "web.log")
    worker = start_process(["bash", "-c", f"exec {commands['worker']}"], env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30, message="gunicorn to answer /healthz")
        yield Host(url, env, redis, tmp_path)
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert stop_process(web) == 0, (tmp_path / "web.log").read_text()[-3000:]
    for log in ("web.log", "worker.log"):
        text = (tmp_path / log).read_text()
        assert APP_SECRET not in text and fake_graph.token not in text and "4155550123" not in text, log


def test_a_message_is_tracked_to_read_and_a_stop_ends_the_conversation(host: Host, fake_graph: FakeGraphAPI):
    handshake = {"hub.mode": "subscribe", "hub.verify_token": "handshake-token", "hub.challenge": "31337"}
    assert httpx.get(f"{host.url}/whatsapp/webhook", params=handshake, timeout=5).text == "31337"

    event = samples.fresh_event("payment_intent.succeeded")
    delivery = f"{event['id']}:payment_received"
    assert host.stripe(event) == {"status": "queued"}
    sent = host.wait_status(delivery, "sent")
    wamid = sent["wamid"]

    # Meta reports the fate: read arrives before delivered, and sent is repeated.
    host.meta(statuses_post(status(wamid, "sent", callback=delivery, at=1_796_000_001, pricing_category="utility")))
    host.meta(statuses_post(status(wamid, "read", callback=delivery, at=1_796_000_009)))
    host.meta(statuses_post(status(wamid, "delivered", callback=delivery, at=1_796_000_005), status(wamid, "sent", at=1_796_000_001)))
    host.wait_status(delivery, "read")
    record = wait_until(lambda: (r := host.record(delivery)).get("delivered_at") and r, message="the late delivered")
    assert record["status"] == "read"
    assert (record["delivered_at"], record["read_at"], record["pricing_category"]) == ("1796000005.0", "1796000009.0", "utility")

    def history() -> list[tuple[str, str]]:
        shown = run_bridge("deliveries", "show", delivery, "--json", env=host.env)
        assert shown.returncode == 0, shown.stderr
        return [(e["status"], e["by"]) for e in json.loads(shown.stdout)["history"]]

    wait_until(lambda: len(history()) == 6, message="every status in the history")
    assert history() == [
        ("queued", "bridge"),
        ("sending", "bridge"),
        ("sent", "bridge"),
        ("sent", "meta"),  # the repeat of `sent` was dropped
        ("read", "meta"),
        ("delivered", "meta"),  # after read: kept in the history, the record stays read
    ]
    listed = run_bridge("deliveries", "--status", "read", env=host.env)
    assert delivery in listed.stdout

    # The customer replies STOP: the next payment notice is skipped, nothing reaches Meta.
    host.meta(message_post("Stop", sender="14155550123"))
    wait_until(lambda: host.redis.hexists("bridge:optout:all", "+14155550123"), message="the STOP to be recorded")
    later = samples.fresh_event("invoice.paid")
    host.stripe(later)
    skipped = host.wait_status(f"{later['id']}:invoice_paid", "skipped")
    assert skipped["reason_code"] == "opted_out"
    assert len(fake_graph.requests) == 1
    assert run_bridge("optout", "check", "+14155550123", env=host.env).returncode == 1


def test_a_failed_status_keeps_metas_reason(host: Host, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("payment_intent.succeeded")
    delivery = f"{event['id']}:payment_received"
    host.stripe(event)
    wamid = host.wait_status(delivery, "sent")["wamid"]
    host.meta(statuses_post(status(wamid, "failed", errors=[meta_error(131026, "Message undeliverable")])))
    record = host.wait_status(delivery, "failed")
    assert (record["error_code"], record["error_class"]) == ("131026", "PermanentError")
    assert record["error_meaning"].startswith("Message undeliverable")


def test_a_paused_template_stops_sends_before_meta_refuses_them(host: Host, fake_graph: FakeGraphAPI):
    host.meta(template_status_post("payment_receipt", "en_US", "PAUSED", reason="LOW_QUALITY"))
    wait_until(lambda: host.redis.hlen("bridge:template-state") == 1, message="the pause to be recorded")
    event = samples.fresh_event("payment_intent.succeeded")
    delivery = f"{event['id']}:payment_received"
    host.stripe(event)
    assert host.wait_status(delivery, "skipped")["reason_code"] == "template_unavailable"
    assert fake_graph.requests == []

    host.meta(template_status_post("payment_receipt", "en_US", "APPROVED"))
    wait_until(lambda: b'"APPROVED"' in (host.redis.hget("bridge:template-state", "payment_receipt|en_US") or b""))
    replayed = run_bridge("replay", "--skipped", "--reason", "template_unavailable", env=host.env)
    assert replayed.stdout.strip() == f"{delivery}: replayed (was skipped)"
    host.wait_status(delivery, "sent")
    assert len(fake_graph.wait_for(1)) == 1


def test_the_release_phase_still_passes(host: Host):
    release = subprocess.run(["bash", "-c", procfile()["release"]], env=host.env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert release.returncode == 0, release.stderr
