"""A merchant's templates snapshot: pulled from its own business account with its own token (the
fake Graph API checks both) into Redis under its account, used by its Runtime, listed and
refreshed by the Stripe App, and what its mappings are checked against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.merchants.sealing import new_key
from bridge.merchants.store import MerchantChanges
from bridge.services.mappings import MappingRefused
from bridge.services.merchants import add_merchant, get_merchant, merchant_runtime, merchant_store, remove_merchant, update_merchant
from bridge.whatsapp.catalogue import save_snapshot
from tests.conftest import Bridge, make_config
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI
from tests.test_cli import run_bridge
from tests.test_stripe_app_api import APP_SECRET, App

A, B = "acct_1TmplAAAAA", "acct_2TmplBBBBB"
A_TEMPLATES = [t for t in DEFAULT_TEMPLATES if t["name"] == "payment_receipt"]
MAPPING = {"name": "paid", "events": ["payment_intent.succeeded"], "language": "en_US", "body": ["{{ object.id[-8:] }}"]}


@pytest.fixture
def tenant(fake_graph: FakeGraphAPI) -> FakeGraphAPI:
    return fake_graph.add_tenant(
        FakeGraphAPI(token="token-of-a", phone_number_id="111000111", business_account_id="111999111", templates=A_TEMPLATES)
    )


@pytest.fixture
def bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tenant: FakeGraphAPI, tmp_path: Path) -> Iterator[Bridge]:
    config = make_config(
        redis_url,
        fake_graph,
        stripe={"app_secret": APP_SECRET},
        merchants={"encryption_key": new_key()},
        whatsapp={"templates_file": str(tmp_path / "templates.json")},
    )
    b = Bridge(config)
    try:
        rt = b.worker_runtime
        add_merchant(rt, A, phone_number_id=tenant.phone_number_id, access_token=tenant.token, business_account_id="111999111", source="t")
        add_merchant(rt, B, phone_number_id="222000222", access_token="token-of-b", source="test")
        yield b
    finally:
        b.close()


def env_of(bridge: Bridge, fake: FakeGraphAPI, tmp_path: Path, key: str) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text((Path(__file__).parent.parent / "config.example.toml").read_text())
    return {
        "BRIDGE_CONFIG": str(config),
        "REDIS_URL": bridge.config.redis.url,
        "BRIDGE_ENCRYPTION_KEY": key,
        "WHATSAPP_API_BASE_URL": fake.base_url,
        "WHATSAPP_API_VERSION": fake.api_version,
        "WHATSAPP_TEMPLATES_FILE": str(tmp_path / "templates.json"),
    }


def test_pull_for_a_merchant_reads_its_business_account_with_its_token_into_redis(
    bridge: Bridge, redis: Redis, fake_graph: FakeGraphAPI, tenant: FakeGraphAPI, tmp_path: Path
):
    version = merchant_store(bridge.worker_runtime).version()
    env = env_of(bridge, fake_graph, tmp_path, bridge.config.merchants.encryption_key)
    pulled = run_bridge("templates", "pull", "--account", A, env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled from business account 111999111" in pulled.stdout and "token-of-a" not in pulled.stdout
    assert [r.path.split("?")[0] for r in tenant.requests] == [f"/{tenant.api_version}/111999111/message_templates"]
    assert tenant.problems == [], "its own token, for its own business account"
    assert fake_graph.requests == []

    assert redis.exists(f"bridge:{{{A}}}:templates") and not redis.exists(f"bridge:{{{B}}}:templates")
    assert not (tmp_path / "templates.json").exists(), "the file's merchant's snapshot is not touched"
    assert merchant_store(bridge.worker_runtime).version() > version, "processes rebuild the merchant"
    catalogue = merchant_runtime(bridge.worker_runtime, get_merchant(bridge.worker_runtime, A)).catalogue
    assert catalogue is not None and {t.name for t in catalogue.templates} == {"payment_receipt"}

    listed = App(bridge, A).get("/templates").json
    assert {t["name"] for t in listed["templates"]} == {"payment_receipt"} and listed["pulled_at"]
    assert App(bridge, B).get("/templates").json == {"templates": [], "pulled_at": None}


def test_pull_without_a_business_account_id_is_refused_by_name(bridge: Bridge, fake_graph: FakeGraphAPI, tmp_path: Path):
    env = env_of(bridge, fake_graph, tmp_path, bridge.config.merchants.encryption_key)
    refused = run_bridge("templates", "pull", "--account", B, env=env)
    assert refused.returncode == 1 and f"merchant {B} has no WhatsApp Business Account id" in refused.stderr
    assert fake_graph.requests == []


def test_the_stripe_app_refreshes_the_merchant_s_templates(bridge: Bridge, tenant: FakeGraphAPI):
    answer = App(bridge, A).send("POST", "/templates/pull", {})
    assert answer.status_code == 200, answer.json
    assert {t["name"] for t in answer.json["templates"]} == {"payment_receipt"}
    refused = App(bridge, B).send("POST", "/templates/pull", {})
    assert refused.status_code == 422 and "no WhatsApp Business Account id" in refused.json["error"]


def test_a_merchant_s_mappings_are_checked_against_its_own_templates(bridge: Bridge):
    App(bridge, A).send("POST", "/templates/pull", {})
    rt = bridge.worker_runtime
    with pytest.raises(MappingRefused) as refused:
        update_merchant(rt, A, MerchantChanges(mappings=[{**MAPPING, "template": "order_confirmation"}]))
    assert any("order_confirmation" in str(p) for p in refused.value.report.problems), refused.value.report.problems
    three = ["{{ object.id[-8:] }}", "{{ object.amount | money(object.currency) }}", "{{ object.id }}"]
    with pytest.raises(MappingRefused, match="takes 3 parameters"):
        update_merchant(rt, A, MerchantChanges(mappings=[{**MAPPING, "template": "payment_receipt"}]))
    assert update_merchant(rt, A, MerchantChanges(mappings=[{**MAPPING, "template": "payment_receipt", "body": three}])).mappings

    # B pulled nothing: its mappings are checked without templates (a warning), not against A's or
    # the file's merchant's snapshot, which has no order_confirmation either.
    refunds = [t for t in DEFAULT_TEMPLATES if t["name"] == "refund_issued"]
    save_snapshot(bridge.config.whatsapp.templates_file, business_account_id="1", api_version="v23.0", pulled_at=1.0, templates=refunds)
    assert update_merchant(rt, B, MerchantChanges(mappings=[{**MAPPING, "template": "order_confirmation"}])).mappings


def test_removing_a_merchant_removes_its_snapshot(bridge: Bridge, redis: Redis):
    App(bridge, A).send("POST", "/templates/pull", {})
    assert redis.exists(f"bridge:{{{A}}}:templates")
    remove_merchant(bridge.worker_runtime, A)
    assert not redis.exists(f"bridge:{{{A}}}:templates")
