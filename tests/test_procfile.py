"""The Procfile as a host runs it: gunicorn `web` and `bridge worker` as real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from redis import Redis

from bridge.dev.dev_redis import free_port
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, ROOT, SECRET, process_env, signed, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI

pytestmark = pytest.mark.slow


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def procfile_env(redis_url: str, fake_graph: FakeGraphAPI, port: int, **extra: str) -> dict[str, str]:
    """The environment a host gives the Procfile's processes: the example config, the test Redis,
    the fake Graph API, the Stripe secret, and `extra`."""
    return process_env(
        **{
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            # The `bridge` and `gunicorn` scripts import `bridge` from wherever the virtualenv
            # installed it, which need not be this checkout (a git worktree shares the venv).
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "BRIDGE_CONFIG": str(EXAMPLE_CONFIG),
            "REDIS_URL": redis_url,
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "WHATSAPP_ACCESS_TOKEN": fake_graph.token,
            "WHATSAPP_PHONE_NUMBER_ID": fake_graph.phone_number_id,
            "WHATSAPP_API_BASE_URL": fake_graph.base_url,
            "WHATSAPP_API_VERSION": fake_graph.api_version,
            **extra,
        }
    )


def test_the_web_line_sets_up_metrics_through_gunicorns_config_module():
    """prometheus_client's multiprocess mode needs its directory set before the app is imported:
    the line itself loads the module that does it, so no host needs an extra variable."""
    line = procfile()["web"]
    assert line.startswith("gunicorn 'bridge:create_app()' --config python:bridge.web.gunicorn_conf ")
    assert "PROMETHEUS_MULTIPROC_DIR" not in line


def test_procfile_web_and_worker_send_exactly_one_template_request(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path):
    port = free_port()
    env = procfile_env(redis_url, fake_graph, port)
    commands = procfile()
    release = subprocess.run(["bash", "-c", commands["release"]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert release.returncode == 0, release.stderr

    web = start_process(["bash", "-c", f"exec {commands['web']}"], env, tmp_path / "web.log")
    worker = start_process(["bash", "-c", f"exec {commands['worker']}"], env, tmp_path / "worker.log")
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30, message="gunicorn to answer /healthz")
        event = samples.fresh_event("payment_intent.succeeded")
        body, headers = signed(event)
        for expected in ("queued", "duplicate"):
            response = httpx.post(f"{url}/stripe/webhook", content=body, headers=headers, timeout=5)
            assert (response.status_code, response.json()) == (200, {"status": expected})

        (request,) = fake_graph.wait_for(1, timeout=30)
        assert fake_graph.problems == []
        assert request.json["to"] == "+14155550123"
        assert request.json["template"]["name"] == "payment_receipt"
        assert request.json["biz_opaque_callback_data"] == f"{event['id']}:payment_received"
        wait_until(
            lambda: redis.hget(f"bridge:delivery:{event['id']}:payment_received", "status") == b"sent",
            message="the delivery to be recorded as sent",
        )
        assert len(fake_graph.requests) == 1
    finally:
        worker_code = stop_process(worker)
        web_code = stop_process(web)
    # SIGTERM is a warm shutdown for both, as on a Heroku dyno restart.
    assert worker_code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert web_code == 0, (tmp_path / "web.log").read_text()[-3000:]
    log = (tmp_path / "worker.log").read_text()
    assert fake_graph.token not in log and "4155550123" not in log


def _slow_client(port: int, path: str = "/stripe/webhook", content_type: str = "application/json") -> socket.socket:
    """A client that sends a POST's headers and one byte of its body, then nothing more for now."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: 5000\r\n\r\n{{".encode())
    return conn


def test_fifty_slow_clients_do_not_stop_intake(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path):
    """An attacker's connections that send a body a byte at a time hold greenlets, not workers."""
    port = free_port()
    env = procfile_env(redis_url, fake_graph, port)
    web = start_process(["bash", "-c", f"exec {procfile()['web']}"], env, tmp_path / "web.log")
    attackers: list[socket.socket] = []
    try:
        wait_until(lambda: _answers(port), timeout=30, message="gunicorn to answer /healthz")
        attackers = [_slow_client(port) for _ in range(50)]
        for _ in range(5):
            body, headers = signed(samples.fresh_event("invoice.paid"))
            response = httpx.post(f"http://127.0.0.1:{port}/stripe/webhook", content=body, headers=headers, timeout=5)
            assert (response.status_code, response.json()) == (200, {"status": "queued"})
    finally:
        for conn in attackers:
            conn.close()
        stop_process(web)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/stripe/webhook", "application/json"), ("/admin/sign-in", "application/x-www-form-urlencoded")],
    ids=["webhook", "settings-page"],
)
def test_a_body_that_does_not_arrive_in_time_is_answered_408(
    redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path, path: str, content_type: str
):
    """The body deadline (`defaults.BODY_READ_SECONDS`, 1 s here) frees the connection, on the
    webhooks and on the settings page's forms (its own app, mounted at /admin) alike."""
    port = free_port()
    env = procfile_env(redis_url, fake_graph, port)
    line = procfile()["web"].replace("'bridge:create_app()'", "'tests.test_procfile:impatient_app()'")
    web = start_process(["bash", "-c", f"exec {line}"], env, tmp_path / "web.log")
    try:
        wait_until(lambda: _answers(port), timeout=30, message="gunicorn to answer /healthz")
        received = b""
        with _slow_client(port, path, content_type) as conn:
            conn.settimeout(10)
            while chunk := conn.recv(4096):  # until the server closes the connection (a timeout fails the test)
                received += chunk
        answer = received.decode()
        assert answer.startswith("HTTP/1.1 408") and "longer than 1 s" in answer, answer
        assert redis.keys("bridge:*") == []
    finally:
        stop_process(web)


def impatient_app():
    """The bridge with a 1-second body deadline, for the test above (gunicorn imports it by name)."""
    from bridge import create_app, defaults

    defaults.BODY_READ_SECONDS = 1.0
    return create_app()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
