"""Shared fixtures: a real Redis, a real fake Graph API over HTTP, and Stripe-signed events.

Redis: $REDIS_URL when set, else the machine's server on 127.0.0.1:6379 (database 9) if it
answers, else a redis-server child process started for the session. Each test starts from an
empty database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from werkzeug.serving import make_server

from bridge.config import Config, parse_config
from bridge.delivery.store import Store
from bridge.dev.dev_redis import RedisServer, answers
from bridge.runtime import Role, Runtime, build_runtime, install_process_runtime
from bridge.stripe_events import samples
from bridge.stripe_events.signature import sign_payload
from bridge.web.app import create_app
from bridge.whatsapp.signature import meta_signature
from bridge.worker import make_worker
from tests.fake_graph import FakeGraphAPI

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"
SECRET = "whsec_test_primary_0123456789abcdef"
ROLLED_SECRET = "whsec_test_rolled_fedcba9876543210"
APP_SECRET = "meta_app_secret_0123456789abcdef"
"""The Meta app's secret the tests' bridge checks Meta's webhook posts against."""
VERIFY_TOKEN = "verify-me-0123456789"
LOCAL_TEST_URL = "redis://127.0.0.1:6379/9"

# The browser tests' fixtures (browser, page) and helpers: Debian's Chromium under Playwright.
pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if answers(LOCAL_TEST_URL):
        yield LOCAL_TEST_URL
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def fake_graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI() as fake:
        yield fake


def example_raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text())


def make_config(redis_url: str, fake: FakeGraphAPI | None = None, *, dry_run: bool = False, **sections: dict[str, Any]) -> Config:
    """The example config's customer notices (not its staff alerts, which would add a delivery to
    every payment), pointed at the test Redis and fake Graph API, with overrides."""
    raw = example_raw()
    raw["mappings"] = [m for m in raw["mappings"] if "recipients" not in m]
    raw["stripe"]["webhook_secrets"] = [SECRET]
    raw["whatsapp"].update(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    raw["redis"]["url"] = redis_url
    raw["delivery"]["backoff_base_seconds"] = 0.0  # retries run immediately, no scheduler needed
    if fake is not None and not dry_run:
        raw["whatsapp"].update(
            access_token=fake.token,
            phone_number_id=fake.phone_number_id,
            api_base_url=fake.base_url,
            api_version=fake.api_version,
            timeout_seconds=2.0,
            # Tests about rate limits set their own; the rest must not wait for Meta's pacing.
            messages_per_second=1000,
            pair_interval_seconds=0,
        )
    else:
        raw["whatsapp"]["access_token"] = ""
    for section, values in sections.items():
        if section == "mappings":
            raw["mappings"] = values
        else:
            raw.setdefault(section, {}).update(values)
    return parse_config(raw, source="test-config.toml")


def signed(event: dict[str, Any] | bytes, secret: str = SECRET, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers exactly as Stripe sends them."""
    body = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode()
    return body, {"Stripe-Signature": sign_payload(body, secret, timestamp), "Content-Type": "application/json; charset=utf-8"}


def meta_signed(document: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """Body and headers exactly as Meta sends a webhook post: the raw bytes signed with the app secret.
    Meta serializes with non-ASCII escaped (\\u00e4), so the body here is too."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return body, {"X-Hub-Signature-256": meta_signature(body, secret), "Content-Type": "application/json"}


class Bridge:
    """The web app (Flask test client) and an in-process RQ SimpleWorker sharing one config."""

    def __init__(self, config: Config):
        self.config = config
        self.app = create_app(config)
        self.client = self.app.test_client()
        self.worker_runtime: Runtime = build_runtime(config, role=Role.WORKER)
        self.store: Store = self.worker_runtime.store

    def post(
        self, event: dict[str, Any] | bytes, *, secret: str = SECRET, timestamp: int | None = None, headers: dict[str, str] | None = None
    ):
        body, signed_headers = signed(event, secret, timestamp)
        return self.client.post("/stripe/webhook", data=body, headers={**signed_headers, **(headers or {})})

    def post_meta(self, document: dict[str, Any] | bytes, *, secret: str = APP_SECRET, headers: dict[str, str] | None = None):
        body, signed_headers = meta_signed(document, secret)
        return self.client.post("/whatsapp/webhook", data=body, headers={**signed_headers, **(headers or {})})

    def work(self) -> None:
        """Run the worker until the queue is empty (burst mode, no fork)."""
        make_worker(self.worker_runtime).work(burst=True, with_scheduler=False)

    def scheduled(self) -> list[tuple[str, float]]:
        """(job id, delay it was scheduled with) of every job in RQ's scheduled registry."""
        rt = self.worker_runtime
        registry = ScheduledJobRegistry(queue=rt.queue)
        out = []
        for job_id in registry.get_job_ids():
            created = Job.fetch(job_id, connection=rt.redis).created_at
            out.append((job_id, (registry.get_scheduled_time(job_id) - created).total_seconds()))
        return out

    def advance(self) -> list[float]:
        """Let time pass: every scheduled job becomes due and every rate-limit wait elapses.

        Returns the delays the jobs had been scheduled with. This stands in for a clock; the
        real scheduler path (the worker's RQ scheduler) is exercised by the subprocess tests.
        """
        rt = self.worker_runtime
        registry = ScheduledJobRegistry(queue=rt.queue)
        delays = []
        for job_id, delay in self.scheduled():
            delays.append(delay)
            registry.remove(job_id)
            rt.queue.enqueue_job(Job.fetch(job_id, connection=rt.redis))
        for pattern in ("bridge:rate:*", "bridge:pair:*", "bridge:probe-scheduled"):
            for key in rt.redis.scan_iter(pattern):
                rt.redis.delete(key)
        return delays

    def work_all(self, max_rounds: int = 50) -> list[float]:
        """Work, let time pass, and repeat until nothing is queued or scheduled."""
        delays: list[float] = []
        for _ in range(max_rounds):
            self.work()
            if not self.scheduled():
                return delays
            delays.extend(self.advance())
        raise AssertionError(f"still scheduled after {max_rounds} rounds")

    def queued_jobs(self) -> int:
        return self.worker_runtime.queue.count

    def deliveries(self) -> list[dict[str, str]]:
        return self.store.list_deliveries()

    def close(self) -> None:
        install_process_runtime(None)
        self.worker_runtime.close()
        self.app.extensions["bridge"].close()


@pytest.fixture
def bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[Bridge]:
    b = Bridge(make_config(redis_url, fake_graph))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def dry_bridge(redis: Redis, redis_url: str) -> Iterator[Bridge]:
    b = Bridge(make_config(redis_url, dry_run=True))
    try:
        yield b
    finally:
        b.close()


def event_of(event_type: str, **changes: Any) -> dict[str, Any]:
    """A fresh sample event (new id) with `changes` applied to data.object."""
    event = samples.fresh_event(event_type)
    event["data"]["object"].update(changes)
    return event


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, message: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def served():
    """Serve a Flask app over a real socket: `url = served(app)` gives its webhook URL."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/stripe/webhook"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def process_env(**values: str) -> dict[str, str]:
    """This process's environment without the bridge's own settings, plus `values`: a child
    process sees only the configuration the test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "WHATSAPP_", "BRIDGE_", "REDIS_"))}
    return {**env, **values}


def start_process(argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """A child process in its own session (so it and its children can be signalled together)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Signal the process group and wait for the exit code (SIGKILL after 30 s)."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()
    return process.returncode
