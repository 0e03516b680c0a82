"""`bridge dev` as the README's first command runs it: web + worker, dry run, then `simulate` and `outbox`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bridge.dev.dev_redis import free_port
from tests.conftest import EXAMPLE_CONFIG, ROOT, process_env, start_process, stop_process, wait_until
from tests.test_cli import run_bridge

pytestmark = pytest.mark.slow


def dev_env(redis_url: str, **extra: str) -> dict[str, str]:
    # PYTHONPATH: the child runs from a scratch folder, where `bridge` would otherwise be imported
    # from wherever the virtualenv installed it, not from this checkout.
    return process_env(REDIS_URL=redis_url, PYTHONPATH=str(ROOT), **extra)


def start_dev(env: dict[str, str], cwd: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """`bridge dev` in a fresh folder (no config.toml), waiting until its banner is printed."""
    log = cwd / "dev.log"
    dev = start_process([sys.executable, "-m", "bridge.cli", "dev", *args], env, log, cwd=cwd)
    wait_until(lambda: "try it" in log.read_text() or dev.poll() is not None, timeout=30, message="bridge dev to start")
    assert dev.poll() is None, log.read_text()
    return dev, log


def test_dev_serves_simulate_and_fills_the_outbox(redis, redis_url: str, tmp_path: Path):
    port = free_port()
    env = dev_env(redis_url, PORT=str(port))
    dev, log = start_dev(env, tmp_path)
    try:
        wait_until(lambda: _healthy(port), timeout=10, message="the web server")
        banner = log.read_text()
        assert "DRY RUN" in banner and f"http://127.0.0.1:{port}/stripe/webhook" in banner
        assert (tmp_path / "config.toml").read_text() == EXAMPLE_CONFIG.read_text()
        secret = (tmp_path / ".bridge" / "dev_webhook_secret").read_text().strip()
        assert secret.startswith("whsec_dev_") and secret in banner  # a generated dev secret is shown

        simulated = run_bridge("simulate", "payment_intent.succeeded", "--phone", "+5511987654321", env=env, cwd=tmp_path)
        assert simulated.returncode == 0, simulated.stderr
        assert simulated.stdout.rstrip().endswith('200 {"status":"queued"}')

        def outbox() -> list[dict]:
            result = run_bridge("outbox", "--limit", "5", env=env, cwd=tmp_path)
            return [] if "outbox is empty" in result.stdout else [json.loads(result.stdout)]

        (entry,) = wait_until(outbox, timeout=20, message="the worker to write the outbox")
        request = entry["request"]
        assert (request["to"], request["template"]["name"]) == ("+5511987654321", "payment_receipt")
        assert [p["text"] for p in request["template"]["components"][0]["parameters"]] == ["Jenny Rosen", "$19.99", "6735"]
        assert "+55*******4321" in log.read_text() and "5511987654321" not in log.read_text()
        # The admin API is on, with a generated token kept beside the other dev secrets.
        token = (tmp_path / ".bridge" / "dev_admin_token").read_text().strip()
        listed = httpx.get(f"http://127.0.0.1:{port}/api/v1/deliveries", headers={"Authorization": f"Bearer {token}"}).json()
        (sent,) = [d for d in listed["items"] if d["status"] == "dry_run"]
        assert sent["recipient"] == "+55*******4321"
    finally:
        assert stop_process(dev, signal.SIGINT) == 0  # Ctrl-C stops web and worker cleanly


def test_dev_never_prints_a_secret_from_the_environment(redis, redis_url: str, tmp_path: Path):
    real, app_secret = "whsec_from_stripe_listen_0123456789abcdef", "the_meta_apps_real_secret_0123"
    admin = "the-real-admin-token-0123456789"
    env = dev_env(redis_url, PORT=str(free_port()), STRIPE_WEBHOOK_SECRET=real, WHATSAPP_APP_SECRET=app_secret, ADMIN_TOKEN=admin)
    dev, log = start_dev(env, tmp_path)
    try:
        assert real not in log.read_text() and "whsec_from…" in log.read_text()
        assert app_secret not in log.read_text() and "app secret from WHATSAPP_APP_SECRET" in log.read_text()
        assert admin not in log.read_text() and "bearer token from ADMIN_TOKEN" in log.read_text()
        assert not (tmp_path / ".bridge").exists()  # no dev secret generated
    finally:
        stop_process(dev, signal.SIGINT)


def test_dev_takes_a_customers_stop_reply_and_skips_their_next_message(redis, redis_url: str, tmp_path: Path):
    port = free_port()
    env = dev_env(redis_url, PORT=str(port))
    dev, log = start_dev(env, tmp_path)
    try:
        wait_until(lambda: _healthy(port), timeout=10, message="the web server")
        assert f"http://127.0.0.1:{port}/whatsapp/webhook" in log.read_text()
        assert (tmp_path / ".bridge" / "dev_app_secret").read_text().startswith("dev_app_secret_")
        replied = run_bridge("simulate-reply", "STOP", env=env, cwd=tmp_path)
        assert replied.returncode == 0, replied.stderr
        assert replied.stdout.rstrip().endswith('200 {"status":"queued"}') and "4155550123" not in replied.stdout

        def opted_out() -> bool:
            return run_bridge("optout", "check", "+14155550123", env=env, cwd=tmp_path).returncode == 1

        wait_until(opted_out, timeout=20, message="the worker to record the STOP")
        assert run_bridge("simulate", "payment_intent.succeeded", env=env, cwd=tmp_path).returncode == 0

        def skipped() -> list[dict]:
            lines = run_bridge("deliveries", "--json", env=env, cwd=tmp_path).stdout.splitlines()
            return [r for r in map(json.loads, lines) if r["status"] == "skipped" and r.get("reason_code") == "opted_out"]

        wait_until(skipped, timeout=20, message="the next message to be skipped")
        assert run_bridge("outbox", env=env, cwd=tmp_path).stdout.strip() == "outbox is empty"
    finally:
        stop_process(dev, signal.SIGINT)


def test_dev_on_another_port_suggests_a_simulate_command_that_reaches_it(redis, redis_url: str, tmp_path: Path):
    port = free_port()
    env = dev_env(redis_url)  # no PORT: the other terminal does not have it either
    dev, log = start_dev(env, tmp_path, "--port", str(port))
    try:
        suggested = f".venv/bin/bridge simulate payment_intent.succeeded --url http://127.0.0.1:{port}/stripe/webhook"
        assert f"\n  {suggested}\n" in log.read_text(), log.read_text()
        wait_until(lambda: _healthy(port), timeout=10, message="the web server")
        simulated = run_bridge(*suggested.split()[1:], env=env, cwd=tmp_path)
        assert simulated.returncode == 0, simulated.stderr
        assert simulated.stdout.rstrip().endswith('200 {"status":"queued"}')
    finally:
        stop_process(dev, signal.SIGINT)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
