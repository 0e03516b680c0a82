"""`bridge merchants` as a process, against real Redis: add with a mappings file (checked as
check-config checks the file), list, show (never the token), disable, enable, remove, and the
encryption key's rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis import Redis

from bridge.merchants.sealing import new_key
from tests.test_cli import run_bridge

ACCOUNT = "acct_1Nv0FGQ9RKHgCVdK"
TOKEN = "EAAGmerchantTOKEN0123456789abcdef"
GOOD = """
[[mappings]]
name = "receipt"
events = ["payment_intent.succeeded"]
template = "payment_receipt"
language = "en_US"
body = ["{{ object.shipping.name }}", "{{ object.amount_received | money(object.currency) }}", "{{ object.id[-8:] }}"]
"""


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text((Path(__file__).parent.parent / "config.example.toml").read_text())
    return {"BRIDGE_CONFIG": str(config), "REDIS_URL": redis_url, "BRIDGE_ENCRYPTION_KEY": new_key()}


def test_a_merchant_is_added_listed_shown_disabled_enabled_and_removed(env: dict[str, str], tmp_path: Path, redis: Redis):
    mappings = tmp_path / "merchant.toml"
    mappings.write_text(GOOD)
    added = run_bridge(
        "merchants", "add", ACCOUNT, "--phone-number-id", "1055", "--access-token", TOKEN, "--mappings", str(mappings), env=env
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"{ACCOUNT}: active, sending from 1055, 1 mappings"

    listed = run_bridge("merchants", "list", "--json", env=env)
    (line,) = listed.stdout.splitlines()
    assert json.loads(line) | {} == {
        "account": ACCOUNT,
        "status": "active",
        "phone_number_id": "1055",
        "business_account_id": "",
        "access_token_set": True,
        "mappings": ["receipt"],
        "disabled_reason": None,
        "source": "bridge merchants add",
        "settings": {},
    }
    shown = run_bridge("merchants", "show", ACCOUNT, env=env)
    assert json.loads(shown.stdout)["mappings"][0]["template"] == "payment_receipt"
    for output in (added.stdout, listed.stdout, shown.stdout):
        assert TOKEN not in output
    sealed = redis.hget(f"bridge:{{{ACCOUNT}}}:merchant", "access_token")
    assert sealed and TOKEN.encode() not in sealed, "sealed at rest"

    assert run_bridge("merchants", "disable", ACCOUNT, env=env).stdout.strip() == f"{ACCOUNT}: disabled"
    assert run_bridge("merchants", "enable", ACCOUNT, env=env).stdout.strip() == f"{ACCOUNT}: active"
    assert run_bridge("merchants", "remove", ACCOUNT, env=env).returncode == 1, "asks first; no stdin: aborted"
    assert run_bridge("merchants", "remove", ACCOUNT, "--yes", env=env).stdout.strip() == f"{ACCOUNT}: removed"
    assert run_bridge("merchants", "list", env=env).stdout == ""
    missing = run_bridge("merchants", "show", ACCOUNT, env=env)
    assert missing.returncode == 1 and f"no merchant {ACCOUNT}" in missing.stderr


def test_mappings_with_problems_are_refused_with_every_finding_and_nothing_is_stored(env: dict[str, str], tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("{{ object.id[-8:] }}", "{{ object.id | }}").replace('"en_US"', '"xx"'))
    result = run_bridge("merchants", "add", ACCOUNT, "--phone-number-id", "1055", "--access-token", TOKEN, "--mappings", str(bad), env=env)
    assert result.returncode == 1
    assert f"merchant {ACCOUNT}: mappings[receipt].body[2]" in result.stderr and "nothing stored" in result.stderr, result.stderr
    assert run_bridge("merchants", "list", env=env).stdout == ""


def test_without_an_encryption_key_a_merchant_can_not_be_added(env: dict[str, str]):
    result = run_bridge(
        "merchants", "add", ACCOUNT, "--phone-number-id", "1055", "--access-token", TOKEN, env=env | {"BRIDGE_ENCRYPTION_KEY": ""}
    )
    assert result.returncode == 1 and "BRIDGE_ENCRYPTION_KEY" in result.stderr and TOKEN not in result.stderr


def test_a_key_that_is_not_a_fernet_key_is_a_config_error_naming_it(env: dict[str, str]):
    result = run_bridge("merchants", "list", env=env | {"BRIDGE_ENCRYPTION_KEY": "not-a-key"})
    assert result.returncode != 0
    assert "BRIDGE_ENCRYPTION_KEY" in result.stderr and "not a Fernet key" in result.stderr, result.stderr


def test_rotating_the_key_reseals_every_credential(env: dict[str, str]):
    assert run_bridge("merchants", "add", ACCOUNT, "--phone-number-id", "1055", "--access-token", TOKEN, env=env).returncode == 0
    rotated = env | {"BRIDGE_ENCRYPTION_KEY": f"{new_key()},{env['BRIDGE_ENCRYPTION_KEY']}"}
    result = run_bridge("merchants", "rotate-key", env=rotated)
    assert result.returncode == 0 and result.stdout.startswith("1 credentials encrypted again"), result.stderr
    only_new = {"BRIDGE_ENCRYPTION_KEY": rotated["BRIDGE_ENCRYPTION_KEY"].split(",")[0]}
    assert json.loads(run_bridge("merchants", "show", ACCOUNT, env=env | only_new).stdout)["access_token_set"] is True
    assert len(run_bridge("merchants", "new-key", env=env).stdout.strip()) == 44


def test_a_merchant_s_own_consent_mode_and_rate_are_set_and_checked(env: dict[str, str]):
    assert run_bridge("merchants", "add", ACCOUNT, "--phone-number-id", "1055", "--access-token", TOKEN, env=env).returncode == 0
    done = run_bridge("merchants", "set", ACCOUNT, "--consent-mode", "opt_in", "--messages-per-second", "20", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{ACCOUNT}: consent_mode opt_in, messages_per_second 20.0"
    assert json.loads(run_bridge("merchants", "show", ACCOUNT, env=env).stdout)["settings"] == {
        "consent_mode": "opt_in",
        "messages_per_second": 20.0,
    }
    assert run_bridge("merchants", "set", ACCOUNT, "--messages-per-second", "0", env=env).returncode == 2
    assert run_bridge("merchants", "set", ACCOUNT, env=env).returncode == 2
    missing = run_bridge("merchants", "set", "acct_9NobodyZZZ", "--consent-mode", "opt_in", env=env)
    assert missing.returncode == 1 and "no merchant acct_9NobodyZZZ" in missing.stderr
