"""Several merchants on the Procfile's processes, as a host runs them: gunicorn `web` (two gevent
workers, each with its own merchants) and `bridge worker`, started before any merchant exists.
Merchants come by `bridge merchants add` and by Stripe's install event, go by its uninstall event;
each one's events, statuses and replies stay its own."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from redis import Redis

from bridge.dev.dev_redis import free_port
from bridge.merchants.sealing import new_key
from bridge.stripe_events import samples
from tests.conftest import meta_signed, signed, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI
from tests.meta_posts import status_post
from tests.test_cli import run_bridge
from tests.test_procfile import _answers, procfile, procfile_env

pytestmark = pytest.mark.slow

A, B, C = "acct_1ProcAAAAA", "acct_2ProcBBBBB", "acct_3ProcCCCCC"
TEMPLATES = {A: "payment_receipt", B: "order_confirmation"}
PHONE = "+14155550123"


def mappings_file(tmp_path: Path, account: str) -> Path:
    path = tmp_path / f"{account}.toml"
    path.write_text(
        f"""
[[mappings]]
name = "paid"
events = ["payment_intent.succeeded"]
template = "{TEMPLATES[account]}"
language = "en_US"
body = ["{{{{ object.id[-8:] }}}}"]
"""
    )
    return path


def test_merchants_come_and_go_while_the_procfile_runs(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path):
    tenants = {
        account: fake_graph.add_tenant(FakeGraphAPI(token=f"token-{account}", phone_number_id=phone, business_account_id=f"9{phone}"))
        for account, phone in ((A, "111000111"), (B, "222000222"))
    }
    port = free_port()
    env = procfile_env(redis_url, fake_graph, port, BRIDGE_ENCRYPTION_KEY=new_key(), WHATSAPP_APP_SECRET="meta_app_secret_0123456789abcdef")
    web = start_process(["bash", "-c", f"exec {procfile()['web']}"], env, tmp_path / "web.log")
    worker = start_process(["bash", "-c", f"exec {procfile()['worker']}"], env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"

    def post(event: dict) -> dict:
        body, headers = signed(event)
        answer = httpx.post(f"{url}/stripe/webhook", content=body, headers=headers, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def paid(account: str) -> dict:
        event = samples.fresh_event("payment_intent.succeeded", phone=PHONE)
        event["account"] = account
        return event

    def lifecycle(kind: str, account: str, created: int) -> dict:
        event = {**samples.fresh_event("payment_intent.succeeded"), "type": kind, "account": account, "created": created}
        event["data"] = {"object": {"id": "ca_TestApp", "object": "application"}}
        return event

    try:
        wait_until(lambda: _answers(port), timeout=30, message="gunicorn to answer /healthz")
        assert post(paid(A)) == {"status": "ignored"}, "no merchant A yet"
        for account, fake in tenants.items():
            added = run_bridge(
                "merchants", "add", account, "--phone-number-id", fake.phone_number_id, "--access-token", fake.token,
                "--mappings", str(mappings_file(tmp_path, account)), env=env,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
        # Every gunicorn worker sees the new merchants within about a second: poll with fresh events.
        for account in (A, B):
            wait_until(lambda a=account: post(paid(a)) == {"status": "queued"}, timeout=10, message=f"{account}'s first event queued")
        for account, fake in tenants.items():
            fake.wait_until(lambda f: len(f.accepted) >= 1, timeout=30, message=f"{account}'s message")
            assert {r.json["template"]["name"] for r in fake.accepted} == {TEMPLATES[account]}
            assert fake.problems == [], "its own token, its own number"
        assert fake_graph.requests == [], "nothing from the file's number"

        # Meta reports A's message delivered, to the one webhook URL of every merchant.
        wamid = tenants[A].accepted[0].wamid
        document = status_post(wamid, "delivered")
        document["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = tenants[A].phone_number_id
        body, headers = meta_signed(document)
        assert httpx.post(f"{url}/whatsapp/webhook", content=body, headers=headers, timeout=5).status_code == 200
        delivery = tenants[A].accepted[0].json["biz_opaque_callback_data"]
        wait_until(lambda: redis.hget(f"bridge:{{{A}}}:delivery:{delivery}", "status") == b"delivered", timeout=30)

        # Stripe announces an install (pending) and A's uninstall (disabled, token erased).
        assert post(lifecycle("account.application.authorized", C, 1_800_000_000)) == {"status": "installed"}
        assert post(lifecycle("account.application.deauthorized", A, 1_800_000_000)) == {"status": "uninstalled"}
        shown = json.loads(run_bridge("merchants", "show", A, env=env).stdout)
        assert (shown["status"], shown["access_token_set"]) == ("disabled", False)
        assert json.loads(run_bridge("merchants", "show", C, env=env).stdout)["status"] == "pending"
        wait_until(lambda: post(paid(A)) == {"status": "ignored"}, timeout=10, message="A's events to be ignored")
        assert post(paid(C)) == {"status": "ignored"}, "C is not configured yet"
    finally:
        worker_code, web_code = stop_process(worker), stop_process(web)
    assert (worker_code, web_code) == (0, 0)
    for log in ("web.log", "worker.log"):
        text = (tmp_path / log).read_text()
        assert not [t for t in ("token-" + A, "token-" + B) if t in text], f"a token in {log}"
        assert "Traceback" not in text, text[-3000:]
