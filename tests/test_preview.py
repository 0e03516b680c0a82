"""`bridge preview` shows exactly what the worker sends; `bridge send-test` sends it, or says why Meta refused."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.stripe_events import samples
from bridge.whatsapp.catalogue import snapshot_json
from tests.conftest import EXAMPLE_CONFIG, ROOT, SECRET, Bridge, make_config
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI, Reply
from tests.test_cli import run_bridge

TO = "+14155550188"


def merchant_folder(folder: Path, redis_url: str, *, snapshot: bool = True) -> dict[str, str]:
    """The example config with a templates snapshot beside it; the environment the CLI runs with."""
    folder.mkdir(exist_ok=True)
    (folder / "config.toml").write_text(EXAMPLE_CONFIG.read_text())
    if snapshot:
        (folder / "templates.json").write_text(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES))
    return {"BRIDGE_CONFIG": str(folder / "config.toml"), "REDIS_URL": redis_url, "STRIPE_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}


def live(env: dict[str, str], fake: FakeGraphAPI) -> dict[str, str]:
    return {
        **env,
        "WHATSAPP_ACCESS_TOKEN": fake.token,
        "WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
        "WHATSAPP_API_BASE_URL": fake.base_url,
        "WHATSAPP_API_VERSION": fake.api_version,
    }


def test_preview_prints_the_template_text_filled_in_and_the_request(tmp_path: Path, redis, redis_url: str):
    result = run_bridge("preview", "invoice_paid", env=merchant_folder(tmp_path, redis_url))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("invoice_paid × invoice.paid (evt_") and lines[0].endswith("[en_US] → +1******0123")
    assert "  [document: Invoice A1B2C3D4-0002.pdf]" in lines
    assert "  Hi Jenny Rosen, thank you for paying $19.99 for invoice A1B2C3D4-0002. The invoice is attached." in lines
    request = json.loads(result.stdout.split("request:\n", 1)[1])
    assert request["template"]["name"] == "invoice_paid" and request["to"] == "+14155550123"


def test_preview_is_exactly_what_the_worker_sends_for_that_event(tmp_path: Path, redis, redis_url: str, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("invoice.payment_failed")
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = merchant_folder(tmp_path, redis_url)
    shown = run_bridge("preview", "invoice_payment_failed", "--event", str(tmp_path / "event.json"), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    (request,) = json.loads(shown.stdout)["requests"]

    bridge = Bridge(make_config(redis_url, fake_graph))
    try:
        bridge.post(event)
        bridge.work()
    finally:
        bridge.close()
    (sent,) = fake_graph.accepted
    assert sent.json == request


def test_preview_without_a_snapshot_still_shows_the_request_and_says_how_to_see_the_text(tmp_path: Path, redis, redis_url: str):
    result = run_bridge(
        "preview", "payment_received", "--type", "payment_intent.succeeded", env=merchant_folder(tmp_path, redis_url, snapshot=False)
    )
    assert result.returncode == 0, result.stderr
    assert "`bridge templates pull` shows the template's text" in result.stdout and "request:" in result.stdout


def test_preview_of_an_unknown_mapping_names_the_ones_there_are(tmp_path: Path, redis, redis_url: str):
    result = run_bridge("preview", "invoice_payed", env=merchant_folder(tmp_path, redis_url))
    assert result.returncode == 1
    assert "no mapping named 'invoice_payed'; the config has: charge_refunded, checkout_paid" in result.stderr


def test_send_test_sends_for_real_and_prints_the_wamid(tmp_path: Path, redis, redis_url: str, fake_graph: FakeGraphAPI):
    env = live(merchant_folder(tmp_path, redis_url), fake_graph)
    result = run_bridge("send-test", "invoice_paid", "--to", TO, env=env)
    assert result.returncode == 0, result.stderr
    (request,) = fake_graph.accepted
    assert request.json["to"] == TO and request.json["biz_opaque_callback_data"] == "send-test:invoice_paid"
    assert result.stdout.strip() == f"sent to +1******0188: {request.wamid} (accepted)"
    assert fake_graph.problems == []


def test_send_test_prints_metas_error_with_its_meaning_and_the_fix(tmp_path: Path, redis, redis_url: str, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(132001))
    result = run_bridge("send-test", "invoice_paid", "--to", TO, env=live(merchant_folder(tmp_path, redis_url), fake_graph))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Meta refused the send to +1******0188: (#132001)")
    assert lines[1] == "  meaning: Template does not exist in this language or is not approved"
    assert lines[2].startswith("  fix: Check the mapping's template name and language against `bridge templates list`")


def test_send_test_in_dry_run_writes_the_outbox(tmp_path: Path, redis, redis_url: str):
    result = run_bridge("send-test", "payment_received", "--to", TO, env=merchant_folder(tmp_path, redis_url))
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout
    outbox = run_bridge("outbox", "--limit", "1", env=merchant_folder(tmp_path, redis_url))
    assert json.loads(outbox.stdout)["request"]["to"] == TO


def test_send_test_to_a_number_that_opted_out_is_refused(tmp_path: Path, redis, redis_url: str, fake_graph: FakeGraphAPI):
    env = live(merchant_folder(tmp_path, redis_url), fake_graph)
    assert run_bridge("optout", "add", TO, env=env).returncode == 0
    result = run_bridge("send-test", "invoice_paid", "--to", TO, env=env)
    assert result.returncode == 1 and "opted out" in result.stderr
    assert fake_graph.requests == []
