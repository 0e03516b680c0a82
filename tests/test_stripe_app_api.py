"""/apps/v1, the Stripe App's backend: requests signed as `fetchStripeSignature()` signs them
(built by hand from Stripe's scheme), the whole web app over Flask's client with real Redis, and
the fake Graph API over a real socket for test sends.

The signature comes first (401 before any validation), the signed account is the only one a
request reaches, the access token is write-only, mappings are refused with check-config's
findings, and every answer allows the Dashboard's sandboxed (null-origin) iframe to read it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from bridge.delivery.ingest import accept
from bridge.merchants.sealing import new_key
from bridge.services.merchants import merchant_runtime, merchant_store
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI, Reply

APP_SECRET = "absec_test_0123456789abcdef"
USER = "usr_K3jHb1"
ACCOUNT, OTHER = "acct_1Nv0FGQ9RKHgCVdK", "acct_2Bq9XYZabc"
RECEIPT = {
    "name": "receipt",
    "events": ["payment_intent.succeeded"],
    "template": "payment_receipt",
    "language": "en_US",
    "body": ["{{ object.shipping.name }}", "{{ object.amount_received | money(object.currency) }}", "{{ object.id[-8:] }}"],
}


def signature(user: str, account: str, *, secret: str = APP_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    payload = json.dumps({"user_id": user, "account_id": account}, separators=(",", ":"))
    return f"t={timestamp},v1={hmac.new(secret.encode(), f'{timestamp}.{payload}'.encode(), hashlib.sha256).hexdigest()}"


class App:
    """The Stripe App's view talking to the bridge, as one account's user."""

    def __init__(self, bridge: Bridge, account: str = ACCOUNT, user: str = USER):
        self.bridge, self.account, self.user = bridge, account, user

    def get(self, path: str, **query: Any):
        headers = {"Stripe-Signature": signature(self.user, self.account)}
        return self.bridge.client.get(
            f"/apps/v1{path}", query_string={"user_id": self.user, "account_id": self.account, **query}, headers=headers
        )

    def send(self, method: str, path: str, body: dict[str, Any]):
        headers = {"Stripe-Signature": signature(self.user, self.account), "Content-Type": "application/json"}
        payload = {"user_id": self.user, "account_id": self.account, **body}
        return self.bridge.client.open(f"/apps/v1{path}", method=method, data=json.dumps(payload), headers=headers)


@pytest.fixture
def bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[Bridge]:
    config = make_config(redis_url, fake_graph, stripe={"app_secret": APP_SECRET}, merchants={"encryption_key": new_key()})
    bridge = Bridge(config)
    try:
        yield bridge
    finally:
        bridge.close()


@pytest.fixture
def app(bridge: Bridge) -> App:
    return App(bridge)


def configure(app: App, fake: FakeGraphAPI, **extra: Any):
    body = {"phone_number_id": fake.phone_number_id, "access_token": fake.token, "mappings": [RECEIPT], **extra}
    response = app.send("PUT", "/settings", body)
    assert response.status_code == 200, response.json
    return response


# -- the door ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ({"user_id": USER, "account_id": ACCOUNT}, None),
        ({"user_id": USER, "account_id": ACCOUNT}, signature(USER, ACCOUNT, secret="absec_other")),
        ({"user_id": USER, "account_id": ACCOUNT}, signature(USER, ACCOUNT, at=int(time.time()) - 301)),
        ({"user_id": USER, "account_id": OTHER}, signature(USER, ACCOUNT)),  # signed for one account, asking for another
        ({"user_id": "usr_other", "account_id": ACCOUNT}, signature(USER, ACCOUNT)),
        ({}, signature(USER, ACCOUNT)),
    ],
    ids=["unsigned", "wrong-secret", "stale", "other-account", "other-user", "no-ids"],
)
def test_an_unsigned_or_misdirected_request_is_401(bridge: Bridge, query: dict, header: str | None):
    response = bridge.client.get("/apps/v1/settings", query_string=query, headers={"Stripe-Signature": header} if header else {})
    assert response.status_code == 401 and response.json["error"].startswith("not a signed request of the Stripe App")
    assert response.headers["Access-Control-Allow-Origin"] == "*", "the view can read why"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"phone_number_id": 5, "nonsense": True}).encode()])
def test_the_signature_is_checked_before_the_body_is_validated(bridge: Bridge, redis: Redis, body: bytes):
    response = bridge.client.put("/apps/v1/settings", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert redis.keys("bridge:*merchant*") == []


def test_without_the_app_s_signing_secret_the_backend_is_off(redis: Redis, redis_url: str):
    bridge = Bridge(make_config(redis_url, None, dry_run=True))
    try:
        response = App(bridge).get("/settings")
        assert response.status_code == 503 and "STRIPE_APP_SECRET" in response.json["error"]
    finally:
        bridge.close()


def test_a_preflight_is_answered_without_a_signature_with_what_the_view_may_send(bridge: Bridge):
    response = bridge.client.options(
        "/apps/v1/settings",
        headers={"Origin": "null", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "stripe-signature"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    assert "Stripe-Signature" in response.headers["Access-Control-Allow-Headers"]


# -- settings ------------------------------------------------------------------------------------


def test_a_new_install_reads_pending_settings_and_nothing_is_stored(app: App, redis: Redis):
    response = app.get("/settings")
    assert response.status_code == 200
    assert response.json == {
        "account_id": ACCOUNT,
        "status": "pending",
        "phone_number_id": None,
        "business_account_id": None,
        "access_token_set": False,
        "mappings": [],
    }
    assert redis.keys("bridge:*merchant*") == []


def test_saved_settings_make_the_merchant_active_and_the_token_is_never_returned(app: App, fake_graph: FakeGraphAPI, redis: Redis):
    saved = configure(app, fake_graph, business_account_id="2055")
    assert saved.json["status"] == "active" and saved.json["access_token_set"] is True
    assert saved.json["mappings"] == [RECEIPT] and saved.json["business_account_id"] == "2055"
    read = app.get("/settings")
    assert read.json == saved.json
    for response in (saved, read):
        assert fake_graph.token not in response.get_data(as_text=True) and 'access_token"' not in response.get_data(as_text=True)
    sealed = redis.hget(f"bridge:{{{ACCOUNT}}}:merchant", "access_token")
    assert sealed and fake_graph.token.encode() not in sealed

    changed = app.send("PUT", "/settings", {"business_account_id": None})
    assert changed.json["business_account_id"] is None and changed.json["access_token_set"] is True, "only the fields given change"


def test_mappings_with_problems_are_refused_with_check_config_s_findings_and_nothing_changes(app: App, fake_graph: FakeGraphAPI):
    configure(app, fake_graph)
    broken = {**RECEIPT, "body": ["{{ object.amount_received | }}"]}
    response = app.send("PUT", "/settings", {"mappings": [broken], "phone_number_id": "999"})
    assert response.status_code == 422
    (finding,) = [f for f in response.json["errors"]["mappings"] if "body[0]" in f]
    assert finding.startswith("mappings[receipt].body[0]:") and "syntax error" in finding
    assert app.get("/settings").json["mappings"] == [RECEIPT] and app.get("/settings").json["phone_number_id"] == fake_graph.phone_number_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone_number_id": 1055}, "phone_number_id"),
        ({"mappings": {"name": "x"}}, "mappings"),
        ({"webhook_secret": "x"}, "webhook_secret"),
    ],
)
def test_a_malformed_settings_body_is_422_naming_the_field(app: App, body: dict, field: str):
    response = app.send("PUT", "/settings", body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_each_account_sees_and_changes_only_its_own_settings(bridge: Bridge, app: App, fake_graph: FakeGraphAPI):
    configure(app, fake_graph)
    other = App(bridge, OTHER, "usr_other")
    assert other.get("/settings").json["status"] == "pending", "another install sees nothing of the first"
    taken = other.send("PUT", "/settings", {"phone_number_id": fake_graph.phone_number_id})
    assert taken.status_code == 409 and "already belongs to" in taken.json["error"]
    assert app.get("/settings").json["status"] == "active"


# -- templates, preview, test send, deliveries ---------------------------------------------------


def test_a_preview_renders_the_posted_mapping_for_a_sample_event_with_the_number_masked(app: App, fake_graph: FakeGraphAPI):
    configure(app, fake_graph)
    response = app.send("POST", "/preview", {"mapping": RECEIPT, "event_type": "payment_intent.succeeded"})
    assert response.status_code == 200, response.json
    assert response.json["event_type"] == "payment_intent.succeeded"
    assert response.json["request"]["template"]["name"] == "payment_receipt"
    assert "*" in response.json["request"]["to"]
    broken = app.send("POST", "/preview", {"mapping": {**RECEIPT, "body": ["{{ nope | }}"]}})
    assert broken.status_code == 422 and broken.json["errors"]["mappings"]


def test_a_test_send_goes_from_the_merchant_s_number_and_meta_s_refusal_is_explained(app: App, fake_graph: FakeGraphAPI):
    configure(app, fake_graph)
    sent = app.send("POST", "/send-test", {"mapping": "receipt", "phone": "+14155550123"})
    assert sent.status_code == 200, sent.json
    (request,) = fake_graph.accepted
    assert sent.json == {"wamid": request.wamid, "to": "+1******0123", "dry_run": False}
    assert request.path == f"/{fake_graph.api_version}/{fake_graph.phone_number_id}/messages"
    fake_graph.script(Reply.error(131026))
    refused = app.send("POST", "/send-test", {"mapping": "receipt", "phone": "+14155550123"})
    assert refused.status_code == 422 and refused.json["meta_error"]["code"] == 131026
    assert app.send("POST", "/send-test", {"mapping": "nope", "phone": "+14155550123"}).status_code == 404


def test_deliveries_are_the_signed_account_s_only(bridge: Bridge, app: App, fake_graph: FakeGraphAPI):
    assert app.get("/deliveries").status_code == 404, "no settings yet"
    configure(app, fake_graph)
    rt = bridge.app.extensions["bridge"]
    merchant = merchant_store(rt).get(ACCOUNT)
    event = samples.fresh_event("payment_intent.succeeded", phone="+14155550123")
    accept(merchant_runtime(rt, merchant), event, json.dumps(event).encode())
    accept(rt, samples.fresh_event("payment_intent.succeeded", phone="+14155550199"), b"{}")  # the file's merchant
    listed = app.get("/deliveries", limit=5).json["deliveries"]
    assert [(d["event_id"], d["mapping"], d["status"], d["phone"]) for d in listed] == [(event["id"], "receipt", "queued", None)]
    assert app.get("/deliveries", status="failed").json["deliveries"] == []
    assert app.get("/deliveries", status="nonsense").status_code == 422
    assert App(bridge, OTHER, "usr_other").get("/settings").status_code == 200
    assert App(bridge, OTHER, "usr_other").get("/deliveries").status_code == 404


def test_templates_are_listed_from_the_merchant_s_snapshot(app: App, fake_graph: FakeGraphAPI):
    configure(app, fake_graph)
    response = app.get("/templates")
    assert response.status_code == 200 and response.json == {"templates": [], "pulled_at": None}, "no snapshot pulled for it yet"
