"""Template health from Meta's webhook: a paused template stops sends before Meta refuses them,
an approved one can be replayed, a move to MARKETING is flagged in the logs, check-config and
`bridge templates list`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from bridge.delivery.records import SkipReason, Status
from bridge.whatsapp.catalogue import save_snapshot
from tests.conftest import EXAMPLE_CONFIG, Bridge
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI
from tests.meta_posts import category_post, template_status_post
from tests.test_cli import run_bridge
from tests.test_customer_replies import meta, notify


@pytest.mark.parametrize("language", ["en_US", "en-US"])
def test_a_paused_template_is_skipped_with_the_reason_then_replayed_once_approved(
    bridge: Bridge, fake_graph: FakeGraphAPI, redis_url: str, language: str
):
    meta(bridge, template_status_post("payment_receipt", language, "PAUSED", reason="LOW_QUALITY", at=1_796_000_000))
    held = [notify(bridge), notify(bridge)]
    for record in held:
        assert (record["status"], record["reason_code"]) == (Status.SKIPPED, SkipReason.TEMPLATE_UNAVAILABLE)
        assert record["reason"].startswith("template unavailable: Meta reports payment_receipt [en_US] as PAUSED: LOW_QUALITY")
    assert notify(bridge, "invoice.paid")["status"] == Status.SENT  # other templates go on
    assert [r.json["template"]["name"] for r in fake_graph.accepted] == ["invoice_paid"]

    meta(bridge, template_status_post("payment_receipt", language, "APPROVED", at=1_796_000_600))
    env = {"REDIS_URL": redis_url, "BRIDGE_CONFIG": str(EXAMPLE_CONFIG)}
    replayed = run_bridge("replay", "--skipped", "--reason", "template_unavailable", env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert sorted(replayed.stdout.splitlines()) == sorted(f"{r['id']}: replayed (was skipped)" for r in held)
    bridge.work()
    assert {d["id"]: d["status"] for d in bridge.deliveries() if d["id"] in {r["id"] for r in held}} == {r["id"]: Status.SENT for r in held}
    assert [r.json["template"]["name"] for r in fake_graph.accepted].count("payment_receipt") == 2


def test_a_notice_older_than_the_state_on_record_changes_nothing(bridge: Bridge, fake_graph: FakeGraphAPI):
    meta(bridge, template_status_post("payment_receipt", "en_US", "PAUSED", at=1_796_000_600))
    meta(bridge, template_status_post("payment_receipt", "en_US", "APPROVED", at=1_796_000_000))  # Meta's retry, late
    assert notify(bridge)["reason_code"] == SkipReason.TEMPLATE_UNAVAILABLE


@pytest.mark.parametrize("event", ["DISABLED", "REJECTED", "PENDING_DELETION"])
def test_every_state_meta_refuses_stops_sends(bridge: Bridge, fake_graph: FakeGraphAPI, event: str):
    meta(bridge, template_status_post("payment_receipt", "en_US", event))
    assert notify(bridge)["reason_code"] == SkipReason.TEMPLATE_UNAVAILABLE
    assert fake_graph.requests == []


def test_a_flagged_template_is_still_sent_and_another_language_is_not_affected(bridge: Bridge, fake_graph: FakeGraphAPI):
    meta(bridge, template_status_post("payment_receipt", "en_US", "FLAGGED"))
    meta(bridge, template_status_post("payment_receipt", "es", "PAUSED"))
    assert notify(bridge)["status"] == Status.SENT


def test_a_pause_is_logged_naming_the_mappings_that_use_it(bridge: Bridge, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO):
        meta(bridge, template_status_post("payment_receipt", "en_US", "PAUSED", reason="LOW_QUALITY"))
        meta(bridge, category_post("invoice_paid", "en_US", "MARKETING"))
    paused = [r for r in caplog.records if "as PAUSED" in r.getMessage()]
    assert paused and paused[0].levelno == logging.ERROR and "mappings using it: payment_received" in paused[0].getMessage()
    moved = [r for r in caplog.records if "to MARKETING" in r.getMessage()]
    assert moved and moved[0].levelno == logging.WARNING and "mappings using it: invoice_paid" in moved[0].getMessage()


def test_an_advance_warning_of_a_category_change_changes_nothing_yet(bridge: Bridge, fake_graph: FakeGraphAPI):
    from tests.meta_posts import envelope

    value = {
        "message_template_id": 1,
        "message_template_name": "payment_receipt",
        "message_template_language": "en_US",
        "correct_category": "MARKETING",
        "new_category": None,
    }
    meta(bridge, envelope("template_category_update", value, at=int(time.time())))
    assert bridge.worker_runtime.templates.all() == {}


# -- check-config and templates list ---------------------------------------------------------


def merchant_config(folder: Path, redis_url: str, *, snapshot: bool) -> dict[str, str]:
    """The example config in its own folder (with the default catalogue when `snapshot`), as env."""
    folder.mkdir(exist_ok=True)
    config = folder / "config.toml"
    config.write_text(EXAMPLE_CONFIG.read_text())
    if snapshot:
        snapshot_of = {"business_account_id": "102290129340398", "api_version": "v23.0", "pulled_at": time.time()}
        save_snapshot(folder / "templates.json", templates=DEFAULT_TEMPLATES, **snapshot_of)
    return {"REDIS_URL": redis_url, "BRIDGE_CONFIG": str(config), "STRIPE_WEBHOOK_SECRET": "whsec_x", "WHATSAPP_APP_SECRET": "s"}


@pytest.mark.parametrize("snapshot", [True, False], ids=["over the snapshot", "without a snapshot"])
def test_check_config_reports_what_metas_webhook_said(bridge: Bridge, redis_url: str, tmp_path: Path, snapshot: bool):
    meta(bridge, template_status_post("payment_receipt", "en_US", "PAUSED", at=1_796_000_000))
    meta(bridge, category_post("invoice_paid", "en_US", "MARKETING", at=1_796_000_000))
    result = run_bridge("check-config", env=merchant_config(tmp_path, redis_url, snapshot=snapshot))
    assert result.returncode == 1
    assert "mappings[payment_received].template: payment_receipt is PAUSED: Meta paused it for low quality" in result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert any("mappings[invoice_paid].template:" in line and "invoice_paid is a MARKETING template" in line for line in lines)


def test_templates_list_shows_metas_latest_word_and_warns_about_marketing(bridge: Bridge, redis_url: str, tmp_path: Path):
    meta(bridge, template_status_post("payment_receipt", "en_US", "PAUSED", at=1_796_000_000))
    meta(bridge, category_post("invoice_paid", "en_US", "MARKETING", at=1_796_000_000))
    meta(bridge, template_status_post("brand_new", "fr", "APPROVED", at=1_796_000_000))
    env = merchant_config(tmp_path, redis_url, snapshot=True)
    listed = run_bridge("templates", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    (receipt,) = [line for line in listed.stdout.splitlines() if line.startswith("payment_receipt") and "en_US" in line]
    assert "PAUSED (Meta, 2026-11-30 " in receipt
    assert any(line.startswith("brand_new") and "not in the snapshot" in line for line in listed.stdout.splitlines())
    assert "warning: mapping invoice_paid sends invoice_paid [en_US], a MARKETING template (Meta moved it from UTILITY, 2026-11-30" in (
        listed.stdout
    )
    as_json = [json.loads(line) for line in run_bridge("templates", "list", "--json", env=env).stdout.splitlines()]
    (item,) = [t for t in as_json if (t["name"], t["language"]) == ("payment_receipt", "en_US")]
    assert (item["status"], item["reported_at"]) == ("PAUSED", 1_796_000_000.0)
