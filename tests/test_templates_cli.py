"""`bridge templates pull` and `bridge templates list` as a merchant runs them: a subprocess, a
config file in its own folder, the token in the environment, the fake Graph API over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bridge.whatsapp.catalogue import save_snapshot
from tests.conftest import ROOT
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI
from tests.test_cli import run_bridge

SEVEN = DEFAULT_TEMPLATES[:7]  # en_US, es, ar; refund_issued [es] is paused


def config_for(folder: Path, fake: FakeGraphAPI) -> Path:
    """A merchant's config in its own folder, pointing at the fake; secrets come from the environment."""
    folder.mkdir(exist_ok=True)
    path = folder / "config.toml"
    path.write_text(f'[whatsapp]\napi_base_url = "{fake.base_url}"\napi_version = "{fake.api_version}"\ntimeout_seconds = 5.0\n')
    return path


def secrets_of(fake: FakeGraphAPI, **changes: str) -> dict[str, str]:
    return {"WHATSAPP_ACCESS_TOKEN": fake.token, "WHATSAPP_BUSINESS_ACCOUNT_ID": fake.business_account_id} | changes


# ---- pull ----------------------------------------------------------------------------------------


def test_pull_follows_every_page_and_writes_the_snapshot_beside_the_config(tmp_path: Path):
    with FakeGraphAPI(templates=SEVEN, max_page_size=3) as fake:
        config = config_for(tmp_path / "merchant", fake)
        started = time.time()
        result = run_bridge("templates", "pull", "--config", str(config), env=secrets_of(fake))

    assert result.returncode == 0, result.stderr
    snapshot = tmp_path / "merchant" / "templates.json"
    assert result.stdout.splitlines() == [
        f"7 templates in 3 languages (ar, en_US, es), 6 approved, pulled from business account {fake.business_account_id} in 3 requests",
        f"written to {snapshot}",
    ]
    assert [r.method for r in fake.requests] == ["GET"] * 3 and fake.problems == []
    document = json.loads(snapshot.read_text(encoding="utf-8"))
    assert (document["business_account_id"], document["api_version"]) == (fake.business_account_id, fake.api_version)
    assert started <= document["pulled_at"] <= time.time()
    fields = ("name", "language", "status", "category", "parameter_format", "components", "id")
    assert document["templates"] == [{k: v for k, v in t.items() if k in fields} for t in SEVEN]


def test_pull_reads_the_config_named_by_bridge_config(tmp_path: Path):
    with FakeGraphAPI(templates=SEVEN) as fake:
        config = config_for(tmp_path, fake)
        result = run_bridge("templates", "pull", env=secrets_of(fake, BRIDGE_CONFIG=str(config)), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "in 1 requests" in result.stdout and (tmp_path / "templates.json").exists()


def test_pull_without_a_token_or_business_account_says_what_to_set_and_asks_nothing(tmp_path: Path):
    with FakeGraphAPI() as fake:
        config = config_for(tmp_path, fake)
        result = run_bridge("templates", "pull", "--config", str(config))

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{config}: whatsapp.access_token: empty: pulling templates needs a system-user token with whatsapp_business_management "
        "(set WHATSAPP_ACCESS_TOKEN)",
        f"{config}: whatsapp.business_account_id: empty: pulling templates needs the WhatsApp Business Account ID, not the phone "
        "number ID (set WHATSAPP_BUSINESS_ACCOUNT_ID or [whatsapp] business_account_id)",
    ]
    assert fake.requests == [] and not (tmp_path / "templates.json").exists()


def test_a_refused_token_is_a_clear_error_and_the_old_snapshot_stays(tmp_path: Path):
    with FakeGraphAPI() as fake:
        config = config_for(tmp_path, fake)
        (tmp_path / "templates.json").write_text("the previous snapshot")
        result = run_bridge("templates", "pull", "--config", str(config), env=secrets_of(fake, WHATSAPP_ACCESS_TOKEN="EAAG-expired"))

    assert result.returncode == 1 and result.stdout == ""
    first, hint = result.stderr.splitlines()
    assert first.startswith(f"templates pull: business account {fake.business_account_id}: (#190) Invalid OAuth access token")
    assert (
        hint
        == "templates pull: check WHATSAPP_ACCESS_TOKEN: a system-user token with whatsapp_business_management for this business account"
    )
    assert "EAAG-expired" not in result.stderr
    assert (tmp_path / "templates.json").read_text() == "the previous snapshot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "templates.json"]  # no temporary file either


def test_an_unknown_business_account_is_a_clear_error_and_no_file(tmp_path: Path):
    with FakeGraphAPI() as fake:
        config = config_for(tmp_path, fake)
        result = run_bridge(
            "templates", "pull", "--config", str(config), env=secrets_of(fake, WHATSAPP_BUSINESS_ACCOUNT_ID="106540352242922")
        )

    assert result.returncode == 1
    first, hint = result.stderr.splitlines()
    assert first.startswith("templates pull: business account 106540352242922: (#100) Unsupported get request.")
    assert hint.startswith("templates pull: check the business account ID (WhatsApp Manager, account overview; not the phone number ID)")
    assert not (tmp_path / "templates.json").exists()


def test_pull_when_meta_is_unreachable_writes_nothing(tmp_path: Path):
    with FakeGraphAPI() as fake:
        config = config_for(tmp_path, fake)
    result = run_bridge("templates", "pull", "--config", str(config), env=secrets_of(fake))  # the fake has stopped
    assert result.returncode == 1
    assert "could not connect to the Cloud API" in result.stderr and "try again later" in result.stderr
    assert not (tmp_path / "templates.json").exists()


# ---- list ----------------------------------------------------------------------------------------


def snapshot_in(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.toml").write_text("")
    return save_snapshot(
        folder / "templates.json",
        business_account_id="102290129340398",
        api_version="v23.0",
        pulled_at=1_767_225_600.0,  # 2026-01-01 00:00:00 UTC
        templates=DEFAULT_TEMPLATES,
    )


def test_list_shows_status_category_and_the_parameters_of_each_component(tmp_path: Path):
    snapshot = snapshot_in(tmp_path)
    result = run_bridge("templates", "list", "--config", str(tmp_path / "config.toml"))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    count = len(DEFAULT_TEMPLATES)
    assert lines[0] == f"{count} templates of business account 102290129340398, pulled 2026-01-01 00:00:00 UTC ({snapshot})"
    assert lines[1].split() == ["name", "language", "status", "category", "parameters"]
    rows = {tuple(line.split()[:2]): " ".join(line.split()[2:]) for line in lines[2:]}
    assert len(rows) == len(DEFAULT_TEMPLATES) and list(rows) == sorted(rows)
    assert rows[("invoice_document", "en_US")] == (
        "APPROVED UTILITY header DOCUMENT; body {{1}} {{2}} {{3}}; button 0 URL {{1}}; button 1 QUICK_REPLY"
    )
    assert (
        rows[("shipping_update", "en_US")] == "APPROVED UTILITY header {{1}}; body {{1}} {{2}}; button 0 URL {{1}}; button 1 PHONE_NUMBER"
    )
    assert rows[("payment_failed", "en_US")] == "APPROVED UTILITY body {{customer_name}} {{amount}} {{reason}}; button 0 PHONE_NUMBER"
    assert rows[("refund_issued", "es")] == "PAUSED UTILITY body {{1}} {{2}} {{3}}"
    assert rows[("spring_sale", "en_US")] == "APPROVED MARKETING header IMAGE; body {{1}} {{2}}; button 0 COPY_CODE; button 1 QUICK_REPLY"
    assert rows[("payment_receipt", "ar")] == "APPROVED UTILITY body {{1}} {{2}} {{3}}"


def test_list_json_prints_one_object_per_template(tmp_path: Path):
    snapshot = snapshot_in(tmp_path)
    # From a folder without a config: --file is enough. PYTHONPATH: import `bridge` from this checkout there too.
    result = run_bridge("templates", "list", "--json", "--file", str(snapshot), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})

    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == len(DEFAULT_TEMPLATES)
    (receipt,) = [o for o in objects if o["name"] == "payment_receipt_v2"]
    assert receipt == {
        "name": "payment_receipt_v2",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "header": {"format": "DOCUMENT", "placeholders": []},
        "body": {"placeholders": ["first_name", "amount", "paid_on"]},
        "buttons": [
            {"index": 0, "type": "URL", "text": "Ver recibo", "placeholders": ["1"]},
            {"index": 1, "type": "QUICK_REPLY", "text": "Parar promoções", "placeholders": []},
        ],
        "id": "1387372356726612",
        "reported_at": None,  # nothing reported by Meta's webhook since the pull
    }
    assert next(o for o in objects if o["name"] == "payment_receipt")["header"] is None


def test_list_without_a_snapshot_says_to_pull_first(tmp_path: Path):
    (tmp_path / "config.toml").write_text("")
    result = run_bridge("templates", "list", "--config", str(tmp_path / "config.toml"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"no template snapshot at {tmp_path / 'templates.json'}: run `bridge templates pull` first"


def test_list_of_a_broken_snapshot_names_the_file(tmp_path: Path):
    (tmp_path / "templates.json").write_text('{"templates": [')
    result = run_bridge("templates", "list", "--file", str(tmp_path / "templates.json"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path / 'templates.json'}: (file): is not JSON")
