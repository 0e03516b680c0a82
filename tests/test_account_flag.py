"""`--account` on `bridge deliveries`, `replay`, `resume` and `optout`, as processes against real
Redis: each acts on the named merchant's data alone, the config file's merchant without it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.config import load_config
from bridge.delivery.ingest import accept
from bridge.merchants.sealing import new_key
from bridge.runtime import Role, Runtime, build_runtime
from bridge.services.merchants import add_merchant, disable_merchant, get_merchant, merchant_runtime
from bridge.stripe_events import samples
from tests.test_cli import run_bridge

A, B = "acct_1FlagAAAAA", "acct_2FlagBBBBB"
PHONE = "+14155550123"
MAPPING = {
    "name": "receipt",
    "events": ["payment_intent.succeeded"],
    "template": "payment_receipt",
    "language": "en_US",
    "body": ["{{ object.id[-8:] }}"],
}


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text((Path(__file__).parent.parent / "config.example.toml").read_text())
    return {"BRIDGE_CONFIG": str(config), "REDIS_URL": redis_url, "BRIDGE_ENCRYPTION_KEY": new_key()}


@pytest.fixture
def base(env: dict[str, str], redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = build_runtime(load_config(env["BRIDGE_CONFIG"]), role=Role.CLI)
    for account, phone in ((A, "111000111"), (B, "222000222")):
        add_merchant(rt, account, phone_number_id=phone, access_token=f"token-{account}", mappings=[MAPPING], source="test")
    yield rt
    rt.close()


def of(base: Runtime, account: str) -> Runtime:
    return merchant_runtime(base, get_merchant(base, account))


def delivered_for(rt: Runtime) -> str:
    """A delivery in `rt`'s merchant's keys, through the webhook's own ingest; its id."""
    event = samples.fresh_event("payment_intent.succeeded", phone=PHONE)
    assert accept(rt, event, json.dumps(event).encode()) == "queued"
    return f"{event['id']}:receipt"


def test_deliveries_lists_and_shows_only_the_named_merchant_s(env: dict[str, str], base: Runtime):
    mine = delivered_for(of(base, A))
    listed = run_bridge("deliveries", "--json", "--account", A, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [mine]
    assert run_bridge("deliveries", "--account", B, env=env).stdout.strip() == "no deliveries"
    assert run_bridge("deliveries", env=env).stdout.strip() == "no deliveries", "the file's merchant has none"

    shown = run_bridge("deliveries", "show", mine, "--account", A, env=env)
    assert shown.returncode == 0 and shown.stdout.startswith(f"{mine}  queued")
    assert run_bridge("deliveries", "--account", A, "show", mine, env=env).returncode == 0, "the group's option reaches show"
    other = run_bridge("deliveries", "show", mine, "--account", B, env=env)
    assert other.returncode == 1 and "no such delivery" in other.stderr


def test_optout_acts_on_the_named_merchant_alone(env: dict[str, str], base: Runtime):
    added = run_bridge("optout", "add", PHONE, "--account", A, env=env)
    assert added.returncode == 0, added.stderr
    assert run_bridge("optout", "check", PHONE, "--account", A, env=env).returncode == 1, "A may not message them"
    assert run_bridge("optout", "check", PHONE, "--account", B, env=env).returncode == 0, "B still may"
    assert run_bridge("optout", "check", PHONE, env=env).returncode == 0, "so may the file's merchant"
    listed = run_bridge("optout", "list", "--json", "--account", A, env=env)
    assert [json.loads(line)["scope"] for line in listed.stdout.splitlines()] == ["all"]
    assert run_bridge("optout", "list", "--account", B, env=env).stdout.strip() == "no opt-outs"
    assert of(base, A).optouts.list() and not of(base, B).optouts.list() and not base.optouts.list()

    assert run_bridge("optout", "remove", PHONE, "--account", A, env=env).returncode == 0
    assert run_bridge("optout", "check", PHONE, "--account", A, env=env).returncode == 0


def test_replay_requeues_onto_the_merchant_s_own_queue(env: dict[str, str], base: Runtime, redis: Redis):
    rt = of(base, A)
    delivery = delivered_for(rt)
    rt.queue.empty()
    rt.store.redis.hset(rt.keys.delivery(delivery), "status", "failed")
    replayed = run_bridge("replay", delivery, "--account", A, env=env)
    assert replayed.returncode == 0, replayed.stderr + replayed.stdout
    assert rt.queue.count == 1 and rt.queue.name == f"{base.queue.name}:{{{A}}}"
    assert base.queue.count == 0 and of(base, B).queue.count == 0


def test_resume_resumes_the_named_merchant_s_number(env: dict[str, str], base: Runtime):
    resumed = run_bridge("resume", "--account", B, env=env)
    assert resumed.returncode == 0 and "sending is not paused" in resumed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deliveries", "--account", "acct_9NobodyZZZ"), "no merchant acct_9NobodyZZZ"),
        (("optout", "check", PHONE, "--account", "not-an-account"), "not a Stripe account id"),
        (("replay", "--failed", "--account", "acct_9NobodyZZZ"), "no merchant acct_9NobodyZZZ"),
    ],
    ids=["unknown", "malformed", "replay-unknown"],
)
def test_an_unknown_or_malformed_account_is_refused_by_name(env: dict[str, str], base: Runtime, args: tuple[str, ...], message: str):
    done = run_bridge(*args, env=env)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_a_disabled_merchant_can_be_read_but_not_replayed_or_resumed(env: dict[str, str], base: Runtime):
    delivery = delivered_for(of(base, A))
    disable_merchant(base, A, reason="uninstalled (evt_test)", erase_credentials=True)
    assert run_bridge("deliveries", "--account", A, env=env).returncode == 0
    for args in (("replay", delivery), ("resume",)):
        done = run_bridge(*args, "--account", A, env=env)
        assert done.returncode == 1 and f"merchant {A} is disabled (uninstalled (evt_test))" in done.stderr
