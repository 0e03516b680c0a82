"""Error reports (SENTRY_DSN): a crash in a request and in a job reaches Sentry, scrubbed.

Sentry here is a local ingestion server on 127.0.0.1 that records every envelope posted to it;
the web is the Procfile's gunicorn line serving the bridge with one route that fails, the worker
is `bridge worker --burst` running a job that fails.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue

from bridge.dev.dev_redis import free_port
from bridge.observability.redact import REDACTED, REDACTOR
from bridge.observability.sentry import init_sentry, scrub_breadcrumb, scrub_event
from tests.conftest import APP_SECRET, ROOT, SECRET, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI
from tests.test_procfile import procfile, procfile_env

PHONE = "+14155550123"
MASKED = "+1******0123"
NAME = "Jenny Rosen"
ACCESS_TOKEN = "EAAGsentry_access_token_0123456789"
ADMIN_TOKEN = "admin-token-sentry-0123456789"
STRIPE_SIGNATURE = "t=1796000000,v1=" + "5a" * 32


class FakeSentry:
    """Sentry's envelope endpoint on 127.0.0.1: records each envelope, gunzipped."""

    def __init__(self) -> None:
        self.envelopes: list[str] = []
        received = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding")
                assert encoding in (None, "gzip"), f"unexpected Content-Encoding {encoding}"
                received.append((gzip.decompress(body) if encoding == "gzip" else body).decode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_port}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        """Every event item (an error report) in the envelopes received so far."""
        items = [json.loads(line) for envelope in self.envelopes for line in envelope.splitlines() if line.strip()]
        return [item for item in items if "exception" in item or "logentry" in item]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    fake = FakeSentry()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(token=ACCESS_TOKEN) as fake:
        yield fake


def forbidden() -> list[str]:
    return [ACCESS_TOKEN, ADMIN_TOKEN, SECRET, APP_SECRET, STRIPE_SIGNATURE, PHONE, PHONE[1:], NAME]


def failing_app():
    """The bridge with a route that fails with a phone number and the access token in its message
    (gunicorn imports it by name)."""
    from bridge import create_app

    app = create_app()

    @app.post("/boom")
    def boom():
        raise RuntimeError(f"could not reach {PHONE} with {os.environ['WHATSAPP_ACCESS_TOKEN']}")

    return app


def explode(phone: str, name: str) -> None:
    """A job that fails the same way, with the customer's name among its arguments (the worker imports it by name)."""
    raise RuntimeError(f"could not reach {phone} with {os.environ['WHATSAPP_ACCESS_TOKEN']}")


@pytest.mark.slow
def test_a_crash_in_a_request_is_reported_without_secrets_bodies_or_phone_numbers(
    redis: Redis, redis_url: str, graph: FakeGraphAPI, sentry: FakeSentry, tmp_path: Path
):
    port = free_port()
    env = procfile_env(redis_url, graph, port, SENTRY_DSN=sentry.dsn, ADMIN_TOKEN=ADMIN_TOKEN, WHATSAPP_APP_SECRET=APP_SECRET)
    line = procfile()["web"].replace("'bridge:create_app()'", "'tests.test_sentry:failing_app()'")
    web = start_process(["bash", "-c", f"exec {line}"], env, tmp_path / "web.log")
    try:
        wait_until(lambda: _answers(port), timeout=30, message="gunicorn to answer /healthz")
        signature = f"sha256={'ab' * 32}"
        headers = {"Stripe-Signature": STRIPE_SIGNATURE, "X-Hub-Signature-256": signature, "Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = httpx.post(
            f"http://127.0.0.1:{port}/boom", params={"to": PHONE}, json={"name": NAME, "phone": PHONE}, headers=headers, timeout=5
        )
        assert response.status_code == 500
        (event,) = wait_until(lambda: [e for e in sentry.events() if "exception" in e], timeout=20, message="the error report")
    finally:
        stop_process(web)
    (exception,) = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", f"could not reach {MASKED} with {REDACTED}")
    request = event["request"]
    assert request["url"].endswith("/boom") and "data" not in request
    assert not {"stripe-signature", "x-hub-signature-256", "authorization"} & {name.lower() for name in request["headers"]}
    _assert_clean("\n".join(sentry.envelopes))


@pytest.mark.slow
def test_a_crash_in_a_job_is_reported_without_its_arguments(redis: Redis, redis_url: str, graph: FakeGraphAPI, sentry: FakeSentry):
    env = procfile_env(redis_url, graph, free_port(), SENTRY_DSN=sentry.dsn, ADMIN_TOKEN=ADMIN_TOKEN)
    # A fixed description, as the bridge gives its jobs (RQ's default one is the call with its arguments).
    Queue("bridge", connection=redis).enqueue("tests.test_sentry.explode", PHONE, NAME, description="a job that fails")
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "worker", "--burst"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = wait_until(lambda: [e for e in sentry.events() if "exception" in e], timeout=20, message="the error report")
    job = next(e["extra"]["rq-job"] for e in events if "rq-job" in e.get("extra", {}))
    assert job["func"] == "tests.test_sentry.explode" and "args" not in job and "kwargs" not in job
    assert any(v["value"] == f"could not reach {MASKED} with {REDACTED}" for e in events for v in e["exception"]["values"])
    _assert_clean("\n".join(sentry.envelopes))
    _assert_clean(done.stderr)  # the worker's own log of the crash too


def _assert_clean(text: str) -> None:
    leaked = [text[max(0, text.index(value) - 300) : text.index(value) + 100] for value in forbidden() if value in text]
    assert not leaked, f"reported: {leaked}"
    assert MASKED in text


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_without_sentry_dsn_nothing_is_initialised(monkeypatch):
    import sentry_sdk

    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert init_sentry() is False
    assert not sentry_sdk.is_initialized()


def test_an_event_loses_bodies_signature_headers_job_arguments_and_the_user(monkeypatch):
    monkeypatch.setattr(REDACTOR, "_secrets", (ACCESS_TOKEN,))
    event = {
        "message": f"refused {PHONE}",
        "request": {
            "url": "https://bridge.example/stripe/webhook",
            "query_string": "to=%2B14155550123&x=1",
            "data": {"name": NAME},
            "cookies": {"session": "x"},
            "headers": {"Stripe-Signature": STRIPE_SIGNATURE, "X-Hub-Signature-256": "sha256=ab", "Content-Type": "application/json"},
        },
        "extra": {"rq-job": {"func": "workers.jobs.reply", "args": [PHONE, "Bye"], "kwargs": {}, "description": "confirm"}},
        "user": {"ip_address": "203.0.113.9"},
        "breadcrumbs": {"values": [{"message": f"token {ACCESS_TOKEN}"}]},
    }
    scrubbed = scrub_event(event, {})
    assert scrubbed == {
        "message": f"refused {MASKED}",
        "request": {
            "url": "https://bridge.example/stripe/webhook",
            "query_string": f"to={MASKED}&x=1",
            "headers": {"Content-Type": "application/json"},
        },
        "extra": {"rq-job": {"func": "workers.jobs.reply", "description": "confirm"}},
        "breadcrumbs": {"values": [{"message": f"token {REDACTED}"}]},
    }


def test_a_breadcrumb_is_scrubbed_like_a_log_line():
    crumb = {"category": "bridge.updates.inbound", "message": "replied", "data": {"fields": {"to": "14155550123"}}}
    assert scrub_breadcrumb(crumb, {})["data"] == {"fields": {"to": MASKED}}


@pytest.mark.parametrize(
    ("description", "kept"),
    [("confirm a customer's STOP or START", True), (f"tests.test_sentry.explode('{PHONE}', '{NAME}')", False)],
)
def test_rqs_default_job_description_is_dropped_as_it_holds_the_arguments(description, kept):
    job = {"func": "tests.test_sentry.explode", "description": description}
    scrubbed = scrub_event({"extra": {"rq-job": job}}, {})["extra"]["rq-job"]
    assert ("description" in scrubbed) is kept
