"""The admin API under /api/v1: the door (token, rate limit), each route against a real Redis and
the fake Graph API, and that the CLI and the API answer from the same service layer."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis

from bridge import defaults
from bridge.delivery.control import pause_sending
from bridge.delivery.records import Status
from bridge.errors import AccountError
from bridge.stripe_events import samples
from tests.conftest import ROOT, Bridge, make_config, process_env
from tests.fake_graph import FakeGraphAPI, Reply

TOKEN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = samples.DEFAULT_PHONE


class Admin:
    """A bridge with the admin API on, and its test client sending the right token."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge
        self.client = bridge.client

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.client.post(path, json=body, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.client.delete(path, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)


def admin_bridge(redis_url: str, fake: FakeGraphAPI | None = None, *, dry_run: bool = False, **sections: Any) -> Bridge:
    return Bridge(make_config(redis_url, fake, dry_run=dry_run, admin={"token": TOKEN}, **sections))


@pytest.fixture
def admin(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[Admin]:
    b = admin_bridge(redis_url, fake_graph)
    try:
        yield Admin(b)
    finally:
        b.close()


@pytest.fixture
def dry_admin(redis: Redis, redis_url: str) -> Iterator[Admin]:
    b = admin_bridge(redis_url, dry_run=True)
    try:
        yield Admin(b)
    finally:
        b.close()


def operations(bridge: Bridge) -> list[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI document describes, ids filled in."""
    document = bridge.client.get("/api/v1/openapi.json").json
    return [
        (method.upper(), path.replace("{delivery_id}", "evt_x:m").replace("{name}", "m"))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    ]


# -- the door -------------------------------------------------------------------------------------


def test_every_admin_route_answers_503_naming_admin_token_when_it_is_unset(redis: Redis, redis_url: str):
    bridge = Bridge(make_config(redis_url, dry_run=True))
    try:
        found = operations(bridge)
        assert len(found) >= 15
        for method, path in found:
            response = bridge.client.open(path, method=method, headers=AUTH)
            assert response.status_code == 503, (method, path)
            assert "ADMIN_TOKEN" in response.json["error"]
        assert redis.keys("bridge:admin-auth:*") == []
    finally:
        bridge.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer ünïcödé-tökén-0123456789"},
    ],
    ids=["missing", "wrong", "longer", "shorter", "basic scheme", "no scheme", "empty", "non-ascii"],
)
def test_a_missing_or_wrong_token_is_401_json_on_every_route(dry_admin: Admin, headers: dict[str, str]):
    for method, path in operations(dry_admin.bridge):
        response = dry_admin.client.open(path, method=method, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json == {"error": "missing or wrong bearer token (Authorization: Bearer $ADMIN_TOKEN)"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        dry_admin.bridge.store.redis.delete(*dry_admin.bridge.store.redis.keys("bridge:admin-auth:*"))


def test_the_right_token_opens_the_door_and_the_scheme_is_case_insensitive(dry_admin: Admin):
    assert dry_admin.get("/api/v1/status").status_code == 200
    assert dry_admin.client.get("/api/v1/status", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_the_openapi_document_is_public_and_names_the_bearer_scheme(dry_admin: Admin):
    document = dry_admin.client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]


FIXED_PATHS = [
    ("get", "/api/v1/deliveries"),
    ("get", "/api/v1/deliveries/{delivery_id}"),
    ("post", "/api/v1/deliveries/{delivery_id}/replay"),
    ("post", "/api/v1/replay"),
    ("get", "/api/v1/mappings"),
    ("post", "/api/v1/mappings/{name}/preview"),
    ("get", "/api/v1/templates"),
    ("get", "/api/v1/optouts"),
    ("post", "/api/v1/optouts"),
    ("delete", "/api/v1/optouts"),
    ("get", "/api/v1/status"),
    ("post", "/api/v1/resume"),
    ("post", "/api/v1/send-test"),
]


@pytest.mark.parametrize(("method", "path"), FIXED_PATHS)
def test_the_documented_paths_scripts_rely_on_are_all_there(dry_admin: Admin, method: str, path: str):
    document = dry_admin.client.get("/api/v1/openapi.json").json
    assert method in document["paths"][path]
    assert "200" in document["paths"][path][method]["responses"] or "201" in document["paths"][path][method]["responses"]


def test_twenty_failures_in_a_minute_lock_the_address_out_even_with_the_right_token(dry_admin: Admin, redis: Redis):
    wrong = {"Authorization": "Bearer wrong-token-0123456789abcdef"}
    # Behind the router: what the client wrote comes first, the router appends the real address.
    answers = [
        dry_admin.client.get("/api/v1/status", headers={**wrong, "X-Forwarded-For": f"10.9.9.{n}, 203.0.113.7"}).status_code
        for n in range(defaults.ADMIN_AUTH_FAILURES_PER_MINUTE)
    ]
    assert answers == [401] * defaults.ADMIN_AUTH_FAILURES_PER_MINUTE
    locked = dry_admin.get("/api/v1/status", headers={"X-Forwarded-For": "203.0.113.7"})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= defaults.ADMIN_AUTH_WINDOW_SECONDS
    assert "too many failed sign-ins" in locked.json["error"]
    # Another address is not affected, and the lock ends with the window.
    assert dry_admin.get("/api/v1/status", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 200
    (key,) = redis.keys("bridge:admin-auth:*")
    assert key == b"bridge:admin-auth:203.0.113.7"
    assert 0 < redis.ttl(key) <= defaults.ADMIN_AUTH_WINDOW_SECONDS
    redis.pexpire(key, 1)
    deadline = time.monotonic() + 5
    while redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dry_admin.get("/api/v1/status", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200


def test_without_a_proxy_the_forwarded_header_is_not_believed(redis: Redis, redis_url: str):
    bridge = admin_bridge(redis_url, dry_run=True, web={"proxy_hops": 0})
    try:
        wrong = {"Authorization": "Bearer wrong-token-0123456789abcdef"}
        for n in range(defaults.ADMIN_AUTH_FAILURES_PER_MINUTE):
            bridge.client.get("/api/v1/status", headers={**wrong, "X-Forwarded-For": f"10.0.0.{n}"})
        assert bridge.client.get("/api/v1/status", headers={**AUTH, "X-Forwarded-For": "10.0.0.99"}).status_code == 429
        assert redis.keys("bridge:admin-auth:*") == [b"bridge:admin-auth:127.0.0.1"]
    finally:
        bridge.close()


def test_redis_away_makes_the_door_answer_503_not_open(redis: Redis):
    from bridge.web.app import create_app

    app = create_app(make_config("redis://127.0.0.1:1/0", dry_run=True, admin={"token": TOKEN}))
    try:
        response = app.test_client().get("/api/v1/status", headers=AUTH)
        assert response.status_code == 503
        assert "Redis" in response.json["error"]
    finally:
        app.extensions["bridge"].close()


# -- deliveries -----------------------------------------------------------------------------------


def post_events(admin: Admin, count: int, event_type: str = "invoice.paid") -> list[str]:
    ids = []
    for _ in range(count):
        event = samples.fresh_event(event_type)
        assert admin.bridge.post(event).status_code == 200
        ids.append(event["id"])
        time.sleep(0.002)  # distinct creation times, so "newest first" is observable
    return ids


def test_deliveries_page_newest_first_through_every_record_once(admin: Admin):
    events = post_events(admin, 5)
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/api/v1/deliveries", query_string=query).json
        assert len(page["items"]) <= 2
        seen += [item["event_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(events))


def test_deliveries_filter_by_status_event_and_since_and_mask_numbers(admin: Admin, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026))
    failed, sent = post_events(admin, 2)
    admin.bridge.work()
    only_failed = admin.get("/api/v1/deliveries", query_string={"status": "failed"}).json["items"]
    assert [d["event_id"] for d in only_failed] == [failed]
    assert only_failed[0]["error_code"] == 131026 and only_failed[0]["error_meaning"]
    by_event = admin.get("/api/v1/deliveries", query_string={"event": sent}).json["items"]
    assert [(d["event_id"], d["status"]) for d in by_event] == [(sent, "sent")]
    assert by_event[0]["recipient"] == "+141******23" or by_event[0]["recipient"].endswith(PHONE[-4:])
    assert PHONE not in json.dumps(by_event) and PHONE[1:] not in json.dumps(by_event)
    future = admin.get("/api/v1/deliveries", query_string={"since": "2999-01-01T00:00:00Z"}).json
    assert future == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "1e400"}, "since"),
        ({"surprise": "1"}, "surprise"),
    ],
)
def test_a_bad_delivery_query_is_422_naming_the_field(dry_admin: Admin, query: dict[str, Any], field: str):
    response = dry_admin.get("/api/v1/deliveries", query_string=query)
    assert response.status_code == 422
    assert field in response.json["errors"]["query"]


def test_a_cursor_this_bridge_never_gave_is_422(dry_admin: Admin):
    response = dry_admin.get("/api/v1/deliveries", query_string={"cursor": "nonsense"})
    assert (response.status_code, response.json["errors"]["query"]["cursor"]) == (422, ["not a cursor given by this bridge"])


def test_a_delivery_shows_its_whole_history(admin: Admin):
    (event,) = post_events(admin, 1)
    admin.bridge.work()
    delivery = f"{event}:invoice_paid"
    shown = admin.get(f"/api/v1/deliveries/{delivery}").json
    assert shown["id"] == delivery and shown["status"] == "sent" and shown["wamid"].startswith("wamid.")
    assert [h["status"] for h in shown["history"]] == ["queued", "sending", "sent"]
    assert admin.get("/api/v1/deliveries/evt_nope:invoice_paid").status_code == 404


def test_replay_one_failed_delivery_then_refuse_a_sent_one_without_force(admin: Admin, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026))
    (event,) = post_events(admin, 1)
    admin.bridge.work()
    delivery = f"{event}:invoice_paid"
    replayed = admin.post(f"/api/v1/deliveries/{delivery}/replay")
    assert replayed.json == {"id": delivery, "replayed": True, "outcome": "replayed (was failed)"}
    admin.bridge.work()
    assert admin.get(f"/api/v1/deliveries/{delivery}").json["status"] == "sent"
    again = admin.post(f"/api/v1/deliveries/{delivery}/replay")
    assert again.status_code == 409 and "force" in again.json["error"]
    forced = admin.post(f"/api/v1/deliveries/{delivery}/replay", {"force": True})
    assert forced.json["replayed"] is True
    assert admin.post("/api/v1/deliveries/evt_nope:x/replay").status_code == 404


def test_replay_all_failed_since_a_time(admin: Admin, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026), Reply.error(131026))
    post_events(admin, 2)
    admin.bridge.work()
    summary = admin.post("/api/v1/replay", {"status": "failed", "since": time.time() - 60}).json
    assert (summary["replayed"], summary["not_replayed"]) == (2, 0)
    admin.bridge.work()
    assert {d["status"] for d in admin.get("/api/v1/deliveries").json["items"]} == {"sent"}
    assert admin.post("/api/v1/replay", {"status": "failed"}).json == {"replayed": 0, "not_replayed": 0, "results": []}
    assert admin.post("/api/v1/replay", {"status": "sent"}).status_code == 422
    assert admin.post("/api/v1/replay", {"status": "failed", "reason": "opted_out"}).status_code == 422


# -- mappings, templates --------------------------------------------------------------------------


def test_mappings_are_listed_as_their_tables_are_written(dry_admin: Admin):
    items = dry_admin.get("/api/v1/mappings").json["items"]
    config = dry_admin.bridge.config
    assert [m["name"] for m in items] == [m.name for m in config.mappings]
    assert all(m["table"]["name"] == m["name"] and m["table"]["template"] == m["template"] for m in items)


def test_preview_shows_the_text_and_the_exact_body_with_the_number_masked(dry_admin: Admin):
    shown = dry_admin.post("/api/v1/mappings/invoice_paid/preview", {"event_type": "invoice.paid"}).json
    assert shown["skipped"] is None and shown["event_type"] == "invoice.paid"
    (request,) = shown["requests"]
    assert request["type"] == "template" and request["template"]["name"] == shown["requests"][0]["template"]["name"]
    assert request["to"] == shown["recipients"][0] and "*" in request["to"]
    assert PHONE not in json.dumps(shown)


def test_preview_of_a_pasted_event_uses_its_own_data(dry_admin: Admin):
    event = samples.fresh_event("invoice.paid")
    shown = dry_admin.post("/api/v1/mappings/invoice_paid/preview", {"event": event}).json
    assert shown["event_id"] == event["id"]
    bad = dry_admin.post("/api/v1/mappings/invoice_paid/preview", {"event": {"object": "charge"}})
    assert bad.status_code == 422 and "Stripe event" in bad.json["error"]
    assert dry_admin.post("/api/v1/mappings/nope/preview", {}).status_code == 404


def test_validate_finds_what_check_config_finds_in_mappings_given(dry_admin: Admin):
    good = dry_admin.get("/api/v1/mappings").json["items"][0]["table"]
    ok = dry_admin.post("/api/v1/mappings/validate", {"mappings": [good]}).json
    assert ok["ok"] is True and ok["problems"] == []
    broken = {**good, "body": ["{{ object.amount_paid | money(object.currency) "]}
    found = dry_admin.post("/api/v1/mappings/validate", {"mappings": [broken]}).json
    assert found["ok"] is False
    assert found["problems"][0]["key"].startswith(f"mappings[{good['name']}].body")
    missing = dry_admin.post("/api/v1/mappings/validate", {"mappings": [{"name": "x"}]}).json
    assert {p["key"] for p in missing["problems"]} >= {"mappings[x].events", "mappings[x].template"}


def test_templates_list_and_pull_through_the_fake_graph_api(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path):
    snapshot = tmp_path / "templates.json"
    whatsapp = {"business_account_id": fake_graph.business_account_id, "templates_file": str(snapshot)}
    bridge = admin_bridge(redis_url, fake_graph, whatsapp=whatsapp)
    admin = Admin(bridge)
    try:
        empty = admin.get("/api/v1/templates").json
        assert (empty["items"], empty["pulled_at"]) == ([], None)
        pulled = admin.post("/api/v1/templates/pull").json
        assert pulled["templates"] == len(fake_graph.templates) and snapshot.is_file()
        listed = admin.get("/api/v1/templates").json
        assert {(t["name"], t["language"]) for t in listed["items"]} == {(t["name"], t["language"]) for t in fake_graph.templates}
    finally:
        bridge.close()


# -- opt-outs, status, send-test ------------------------------------------------------------------


def test_optouts_add_list_check_and_remove(dry_admin: Admin):
    added = dry_admin.post("/api/v1/optouts", {"phone": PHONE, "note": "asked by phone"})
    assert added.status_code == 201 and added.json["changed"] == ["all"] and "*" in added.json["phone"]
    listed = dry_admin.get("/api/v1/optouts").json["items"]
    assert [(o["scope"], o["source"], o["note"]) for o in listed] == [("all", "admin API", "asked by phone")]
    assert PHONE not in json.dumps(listed)
    assert dry_admin.get("/api/v1/optouts/check", query_string={"phone": PHONE}).json["receipts"] is False
    removed = dry_admin.delete("/api/v1/optouts", query_string={"phone": PHONE})
    assert removed.json["changed"] == ["all"]
    assert dry_admin.get("/api/v1/optouts").json["items"] == []
    assert dry_admin.get("/api/v1/optouts/check", query_string={"phone": PHONE}).json["receipts"] is True
    bad = dry_admin.post("/api/v1/optouts", {"phone": "12"})
    assert bad.status_code == 422 and bad.json["error"].startswith("phone:")


def test_status_shows_a_pause_with_metas_reason_and_resume_requeues_what_was_held(admin: Admin, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(190))
    post_events(admin, 1)
    admin.bridge.work()
    status = admin.get("/api/v1/status").json
    assert status["paused"] is True and status["pause"]["code"] == 190 and status["pause"]["meaning"]
    resumed = admin.post("/api/v1/resume").json
    assert resumed["was_paused"] is True and resumed["requeued"] == 1
    assert admin.get("/api/v1/status").json["paused"] is False
    admin.bridge.work()
    assert admin.get("/api/v1/deliveries").json["items"][0]["status"] == "sent"


def test_resume_refuses_when_only_another_number_is_paused(dry_admin: Admin):
    rt = dry_admin.bridge.worker_runtime
    rt.store.pause("999000111", {"code": 190, "reason": "token expired", "since": time.time()})
    response = dry_admin.post("/api/v1/resume")
    assert response.status_code == 409 and "999000111" in response.json["error"]
    assert dry_admin.get("/api/v1/status").json["paused_elsewhere"] == ["999000111"]


def test_send_test_returns_the_wamid_or_metas_refusal_with_its_meaning(admin: Admin, fake_graph: FakeGraphAPI):
    sent = admin.post("/api/v1/send-test", {"mapping": "invoice_paid", "to": "+14155550199"})
    assert sent.status_code == 200 and sent.json["wamid"].startswith("wamid.") and sent.json["dry_run"] is False
    assert fake_graph.accepted[-1].json["to"] == "+14155550199"
    fake_graph.script(Reply.error(131026))
    refused = admin.post("/api/v1/send-test", {"mapping": "invoice_paid", "to": "+14155550199"})
    assert refused.status_code == 409
    assert refused.json["meta_error"]["code"] == 131026 and refused.json["meta_error"]["meaning"]
    assert "14155550199" not in refused.json["error"]


def test_send_test_in_dry_run_goes_to_the_outbox(dry_admin: Admin):
    sent = dry_admin.post("/api/v1/send-test", {"mapping": "invoice_paid", "to": "+14155550199"}).json
    assert sent["dry_run"] is True and sent["wamid"] is None
    (entry,) = dry_admin.get("/api/v1/outbox").json["items"]
    assert entry["delivery_id"] == "send-test:invoice_paid" and entry["request"]["to"] != "+14155550199"


def test_send_test_to_an_opted_out_number_is_refused(dry_admin: Admin):
    dry_admin.post("/api/v1/optouts", {"phone": "+14155550199"})
    refused = dry_admin.post("/api/v1/send-test", {"mapping": "invoice_paid", "to": "+14155550199"})
    assert refused.status_code == 409 and "opted out" in refused.json["error"]


# -- limits and headers ---------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(admin: Admin):
    for response in (
        admin.get("/api/v1/status"),
        admin.client.get("/healthz"),
        admin.client.get("/no/such/page"),
        admin.bridge.post(samples.fresh_event("invoice.paid")),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers
    behind_https = admin.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_https.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_post_over_1_mib_is_413_declared_or_streamed(dry_admin: Admin, served):
    big = b'{"status": "failed", "pad": "' + b"x" * defaults.MAX_BODY_BYTES + b'"}'
    declared = dry_admin.client.post("/api/v1/replay", data=big, headers={**AUTH, "Content-Type": "application/json"})
    assert (declared.status_code, declared.json) == (413, {"error": "body larger than 1 MiB"})
    # Chunked, over a real socket: no Content-Length to refuse up front, Werkzeug stops reading at the limit.
    url = urlsplit(served(dry_admin.bridge.app))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        parts = (big[start : start + 65536] for start in range(0, len(big), 65536))
        connection.request("POST", "/api/v1/replay", body=parts, headers={**AUTH, "Content-Type": "application/json"}, encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (413, {"error": "body larger than 1 MiB"})
    finally:
        connection.close()


# -- one service layer ----------------------------------------------------------------------------


def run_bridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_cli_and_the_api_list_the_same_deliveries(admin: Admin, fake_graph: FakeGraphAPI, redis_url: str, tmp_path: Path):
    fake_graph.script(Reply.error(131026))
    post_events(admin, 3)
    admin.bridge.work()
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.example.toml").read_text())
    env = process_env(BRIDGE_CONFIG=str(config), REDIS_URL=redis_url)
    cli = [json.loads(line) for line in run_bridge("deliveries", "--json", env=env).stdout.splitlines()]
    api = admin.get("/api/v1/deliveries").json["items"]
    assert [d["id"] for d in cli] == [d["id"] for d in api]
    assert [(d["status"], d.get("recipient"), d.get("error_code")) for d in cli] == [
        (d["status"], d.get("recipient"), d.get("error_code")) for d in api
    ]
    assert Status.FAILED in {d["status"] for d in api}


def test_the_door_counts_nothing_for_the_webhooks(admin: Admin, redis: Redis):
    admin.bridge.post(samples.fresh_event("invoice.paid"), secret="whsec_wrong")
    assert redis.keys("bridge:admin-auth:*") == []


def test_an_account_error_pause_is_reported_by_status(dry_admin: Admin):
    rt = dry_admin.bridge.worker_runtime
    pause_sending(rt, AccountError("token expired", code=190, meaning="the access token expired"))
    status = dry_admin.get("/api/v1/status").json
    assert status["paused"] is True and status["pause"]["reason"] == "token expired" and status["pause"]["code"] == 190


def test_a_customers_data_is_exported_whole_and_erased_only_when_confirmed(admin: Admin):
    (event,) = post_events(admin, 1)
    admin.bridge.work()
    exported = admin.get("/api/v1/customers/export", query_string={"phone": PHONE}).json
    assert exported["phone"] == PHONE  # the customer's own data: not masked
    assert [d["event_id"] for d in exported["deliveries"]] == [event]
    refused = admin.post("/api/v1/customers/erase", {"phone": PHONE, "confirm": False})
    assert refused.status_code == 422 and "cannot be undone" in refused.json["error"]
    assert admin.post("/api/v1/customers/erase", {"phone": PHONE}).status_code == 422
    erased = admin.post("/api/v1/customers/erase", {"phone": PHONE, "confirm": True}).json
    assert erased["deliveries"] == 1 and erased["removed"] >= 1
    assert admin.get("/api/v1/customers/export", query_string={"phone": PHONE}).json["deliveries"] == []
    assert admin.get("/api/v1/deliveries").json["items"] == []


def test_changes_and_refusals_are_logged_without_the_query_or_the_token(dry_admin: Admin, caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", logger="bridge.api.auth")
    dry_admin.get("/api/v1/status")
    dry_admin.post("/api/v1/optouts", {"phone": PHONE})
    dry_admin.delete("/api/v1/optouts", query_string={"phone": PHONE})
    dry_admin.client.get("/api/v1/status", headers={"Authorization": "Bearer wrong-token-0123456789abcdef"})
    lines = [
        (r.levelname, r.fields["method"], r.fields["route"], r.fields["status"])
        for r in caplog.records
        if r.getMessage() == "admin request"
    ]
    assert lines == [
        ("INFO", "POST", "/api/v1/optouts", 201),
        ("INFO", "DELETE", "/api/v1/optouts", 200),
        ("WARNING", "GET", "/api/v1/status", 401),
    ]
    logged = " ".join(f"{r.getMessage()} {r.fields}" for r in caplog.records)
    assert PHONE[-10:] not in logged and TOKEN not in logged and "wrong-token" not in logged
