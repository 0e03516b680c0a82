"""The fake Graph API itself, over real sockets: it must accept what Meta documents, reject what
Meta would reject (with Meta's error shapes), and play scripted failures faithfully."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bridge.stripe_events import samples
from tests.conftest import Bridge, example_raw, make_config
from tests.fake_graph import (
    DEFAULT_PHONE_NUMBER,
    DEFAULT_TEMPLATE_FIELDS,
    DEFAULT_TEMPLATES,
    ERROR_CODES,
    FakeGraphAPI,
    Reply,
    default_status,
    error_body,
    template_violations,
    validate_message,
)

TO = "+14155550123"

POSITIONAL: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": TO,
    "type": "template",
    "template": {
        "name": "payment_receipt",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Jenny"}, {"type": "text", "text": "$19.99"}]}],
    },
}

NAMED: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "to": "+5511987654321",
    "type": "template",
    "biz_opaque_callback_data": "evt_1Q2w3E:payment_received",
    "template": {
        "name": "payment_receipt_v2",
        "language": {"code": "pt_BR", "policy": "deterministic"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "document", "document": {"link": "https://example.com/r.pdf", "filename": "r.pdf"}}],
            },
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "first_name", "text": "Jessica"},
                    {
                        "type": "currency",
                        "parameter_name": "amount",
                        "currency": {"fallback_value": "R$ 19,99", "code": "BRL", "amount_1000": 19990},
                    },
                    {"type": "date_time", "parameter_name": "paid_on", "date_time": {"fallback_value": "5 de agosto de 2025"}},
                ],
            },
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "receipts/abc123"}]},
            {"type": "button", "sub_type": "quick_reply", "index": 1, "parameters": [{"type": "payload", "payload": "STOP_PROMOS"}]},
        ],
    },
}


@pytest.fixture
def fake() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI() as server:
        yield server


@pytest.fixture
def client(fake: FakeGraphAPI) -> Iterator[httpx.Client]:
    # Plain HTTP only: verify=False spares building a TLS context (~20 ms) per client.
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {fake.token}"}, timeout=5, verify=False) as c:
        yield c


def changed(change: Callable[[dict[str, Any]], Any], base: dict[str, Any] = POSITIONAL) -> dict[str, Any]:
    body = copy.deepcopy(base)
    change(body)
    return body


def body_params(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["template"]["components"][0]["parameters"]


def assert_meta_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] in {"OAuthException", "GraphMethodException"}
    assert error["message"].startswith(f"(#{code}) ") or code in {100, 190}
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert re.fullmatch(r"A[A-Za-z0-9_-]{22}", error["fbtrace_id"])
    return error


def send_in_background(fake: FakeGraphAPI, timeout: float = 5) -> tuple[threading.Thread, list[BaseException]]:
    """POST a valid request from another thread; the list collects the httpx error it ends with, if any."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            httpx.post(fake.messages_url, json=POSITIONAL, headers={"Authorization": f"Bearer {fake.token}"}, timeout=timeout, verify=False)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, errors


# ---- valid requests ----------------------------------------------------------------------------


def test_positional_template_gets_metas_success_body_and_is_recorded(fake: FakeGraphAPI, client: httpx.Client):
    response = client.post(fake.path, json=POSITIONAL)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": TO, "wa_id": "14155550123"}]
    (message,) = body["messages"]
    assert re.fullmatch(r"wamid\.[A-Za-z0-9+/]+=*", message["id"])
    assert message["message_status"] == "accepted"

    (request,) = fake.requests
    assert (request.method, request.path, request.status, request.wamid) == ("POST", fake.path, 200, message["id"])
    assert request.json == POSITIONAL and request.body == response.request.content
    assert request.headers["authorization"] == "Bearer test-token"
    assert request.headers["content-type"] == "application/json"
    assert abs(request.received_at - time.time()) < 5 and request.monotonic <= time.monotonic()
    assert fake.accepted == [request]
    assert fake.problems == []


def test_named_template_with_every_documented_parameter_kind_is_accepted(fake: FakeGraphAPI, client: httpx.Client):
    response = client.post(fake.path, json=NAMED)
    assert response.status_code == 200, response.text
    assert response.json()["contacts"] == [{"input": "+5511987654321", "wa_id": "5511987654321"}]
    assert fake.problems == []
    assert validate_message(NAMED) == [] and validate_message(POSITIONAL) == []


def test_wamids_are_unique_and_wa_id_and_message_status_are_configurable(fake: FakeGraphAPI, client: httpx.Client):
    ids = {client.post(fake.path, json=POSITIONAL).json()["messages"][0]["id"] for _ in range(5)}
    assert len(ids) == 5

    fake.wa_id_for = lambda to: "52" + to[4:]  # Mexico: sent +521..., WhatsApp id 52...
    fake.message_status = None
    body = client.post(fake.path, json=changed(lambda b: b.update(to="+5215512345678"))).json()
    assert body["contacts"] == [{"input": "+5215512345678", "wa_id": "525512345678"}]
    assert "message_status" not in body["messages"][0]

    fake.script(Reply.ok(wamid="wamid.FIXED", message_status="held_for_quality_assessment"))
    assert client.post(fake.path, json=POSITIONAL).json()["messages"] == [
        {"id": "wamid.FIXED", "message_status": "held_for_quality_assessment"}
    ]
    assert len(fake.accepted) == 7 and fake.problems == []


# ---- shape violations --------------------------------------------------------------------------

VIOLATIONS = [
    # (id, body, expected code, fragment of details)
    ("no plus", changed(lambda b: b.update(to="14155550123")), 131009, "leading '+'"),
    ("formatted to", changed(lambda b: b.update(to="+1 (415) 555-0123")), 131009, "E.164"),
    ("to not a string", changed(lambda b: b.update(to=14155550123)), 131009, "E.164"),
    ("messaging_product", changed(lambda b: b.update(messaging_product="sms")), 100, "messaging_product"),
    ("recipient_type group", changed(lambda b: b.update(recipient_type="group")), 100, "recipient_type"),
    ("type text without text", changed(lambda b: b.update(type="text")), 131008, "text is required"),
    ("type video", changed(lambda b: b.update(type="video")), 100, "type must be 'template'"),
    ("unknown top-level key", changed(lambda b: b.update(preview_url=True)), 100, "preview_url"),
    ("empty callback data", changed(lambda b: b.update(biz_opaque_callback_data="")), 100, "biz_opaque_callback_data"),
    ("long callback data", changed(lambda b: b.update(biz_opaque_callback_data="x" * 513)), 100, "biz_opaque_callback_data"),
    ("missing template", changed(lambda b: b.pop("template")), 131008, "template is required"),
    ("template name", changed(lambda b: b["template"].update(name="Payment Receipt")), 100, "template.name"),
    ("language code", changed(lambda b: b["template"].update(language={"code": "en-US"})), 100, "language.code"),
    ("language string", changed(lambda b: b["template"].update(language="en_US")), 100, "template.language"),
    ("language policy", changed(lambda b: b["template"]["language"].update(policy="fallback")), 100, "policy"),
    ("components not a list", changed(lambda b: b["template"].update(components={"type": "body"})), 100, "components"),
    ("component type", changed(lambda b: b["template"]["components"][0].update(type="footer")), 100, "header, body, button"),
    ("empty parameters", changed(lambda b: b["template"]["components"][0].update(parameters=[])), 100, "non-empty list"),
    (
        "button without sub_type",
        changed(
            lambda b: b["template"]["components"].append({"type": "button", "index": "0", "parameters": [{"type": "text", "text": "x"}]})
        ),
        100,
        "sub_type",
    ),
    (
        "button index 10",
        changed(
            lambda b: b["template"]["components"].append(
                {"type": "button", "sub_type": "url", "index": "10", "parameters": [{"type": "text", "text": "x"}]}
            )
        ),
        100,
        "index",
    ),
    ("parameter type", changed(lambda b: body_params(b).__setitem__(0, {"type": "string", "text": "x"})), 100, "type must be one of"),
    ("new line", changed(lambda b: body_params(b)[0].update(text="Jenny\nDoe")), 132018, "new-line/tab"),
    ("tab", changed(lambda b: body_params(b)[0].update(text="Jenny\tDoe")), 132018, "new-line/tab"),
    ("five spaces", changed(lambda b: body_params(b)[0].update(text="Jenny     Doe")), 132018, "4 consecutive spaces"),
    ("empty text", changed(lambda b: body_params(b)[0].update(text="")), 132018, "non-empty string"),
    ("text too long", changed(lambda b: body_params(b)[0].update(text="x" * 1025)), 132005, "1024"),
    (
        "mixed named and positional",
        changed(lambda b: body_params(b)[0].update(parameter_name="first_name")),
        132018,
        "mix named",
    ),
    ("bad parameter_name", changed(lambda b: [p.update(parameter_name="First-Name") for p in body_params(b)]), 132018, "parameter_name"),
    (
        "currency amount as float",
        changed(
            lambda b: body_params(b).__setitem__(
                1, {"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1.5}}
            )
        ),
        132018,
        "amount_1000",
    ),
    (
        "currency lower-case code",
        changed(
            lambda b: body_params(b).__setitem__(
                1, {"type": "currency", "currency": {"fallback_value": "$1", "code": "usd", "amount_1000": 1000}}
            )
        ),
        132018,
        "ISO 4217",
    ),
    (
        "date_time without fallback",
        changed(lambda b: body_params(b).__setitem__(1, {"type": "date_time", "date_time": {"day_of_month": 5}})),
        132018,
        "fallback_value",
    ),
    (
        "document without link or id",
        changed(lambda b: b["template"]["components"][0]["parameters"][0].update(document={"filename": "r.pdf"}), NAMED),
        132018,
        "link or an id",
    ),
]


@pytest.mark.parametrize(("body", "code", "fragment"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_each_shape_violation_is_rejected_with_metas_code_and_recorded(
    fake: FakeGraphAPI, client: httpx.Client, body: dict[str, Any], code: int, fragment: str
):
    response = client.post(fake.path, json=body)

    error = assert_meta_error(response, 400, code)
    assert fragment in error["error_data"]["details"]
    assert fake.problems and any(fragment in p for p in fake.problems), fake.problems
    (request,) = fake.requests
    assert (request.status, request.wamid, fake.accepted) == (400, None, [])
    assert request.problems


def test_wrong_content_type_and_non_json_bodies_are_code_100(fake: FakeGraphAPI, client: httpx.Client):
    as_text = client.post(fake.path, content=json.dumps(POSITIONAL), headers={"Content-Type": "text/plain"})
    assert "Content-Type" in assert_meta_error(as_text, 400, 100)["error_data"]["details"]
    not_json = client.post(fake.path, content=b"to=+14155550123", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_meta_error(not_json, 400, 100)["error_data"]["details"]
    array = client.post(fake.path, json=[POSITIONAL])
    assert "JSON object" in assert_meta_error(array, 400, 100)["error_data"]["details"]
    assert len(fake.problems) == 3 and fake.accepted == []


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "bearer test-token", "test-token", "Bearer  test-token"])
def test_missing_or_wrong_token_is_401_code_190(fake: FakeGraphAPI, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(fake.messages_url, json=POSITIONAL, headers=headers, timeout=5, verify=False)

    error = assert_meta_error(response, 401, 190)
    assert error["message"].startswith("Invalid OAuth access token")
    assert "invalid_token" in response.headers["www-authenticate"]
    assert len(fake.problems) == 1 and "Authorization" in fake.problems[0]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v22.0/106540352242922/messages"),  # another API version than configured
        ("POST", "/v23.0/999/messages"),  # another phone number id
        ("POST", "/v23.0/106540352242922/messages?access_token=test-token"),
        ("GET", "/v23.0/106540352242922/messages"),
        ("DELETE", "/v23.0/106540352242922/messages"),
    ],
)
def test_other_paths_and_methods_are_graph_404s(fake: FakeGraphAPI, client: httpx.Client, method: str, path: str):
    response = client.request(method, path, json=POSITIONAL if method == "POST" else None)

    error = assert_meta_error(response, 404, 100)
    assert error["message"].startswith("Unsupported ") and error["type"] == "GraphMethodException"
    assert [r.path for r in fake.requests] == [path] and len(fake.problems) == 1


def test_invalid_requests_do_not_consume_the_script(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.error(131026))
    assert client.post(fake.path, json=changed(lambda b: b.update(to="14155550123"))).json()["error"]["code"] == 131009
    assert len(fake.scripted) == 1
    assert client.post(fake.path, json=POSITIONAL).json()["error"]["code"] == 131026
    assert client.post(fake.path, json=POSITIONAL).status_code == 200


# ---- scripted replies --------------------------------------------------------------------------

REQUIRED_CODES = [0, 1, 2, 3, 4, 10, 100, 190, 200, 368, 80007, 130429, 130472, 131000, 131008, 131009, 131016, 131021, 131026]
REQUIRED_CODES += [131031, 131042, 131045, 131047, 131048, 131049, 131050, 131051, 131053, 131056, 131057, 132000, 132001]
REQUIRED_CODES += [132005, 132007, 132012, 132015, 132016, 132018, 133004, 133010]
EXPECTED_STATUS = {0: 401, 190: 401, 3: 500, 10: 403, 200: 403, 250: 403, 299: 403, 368: 403, 131031: 403}
EXPECTED_STATUS |= {131000: 500, 131016: 500, 131045: 500, 131057: 500, 2: 503, 133004: 503, 132001: 404}
EXPECTED_STATUS |= {4: 429, 80007: 429, 130429: 429, 131048: 429, 131056: 429, 1: 400, 100: 400, 131026: 400, 132018: 400}


def test_every_required_code_has_a_title_and_details():
    for code in REQUIRED_CODES:
        title, details = ERROR_CODES[code]
        assert title and details, code
    assert {code: default_status(code) for code in EXPECTED_STATUS} == EXPECTED_STATUS
    assert default_status(999999) == 400


def test_scripted_errors_answer_metas_body_with_the_documented_status(fake: FakeGraphAPI, client: httpx.Client):
    codes = sorted(set(REQUIRED_CODES) | set(EXPECTED_STATUS))
    fake.script(*(Reply.error(code) for code in codes))
    for code in codes:
        response = client.post(fake.path, json=POSITIONAL)
        error = assert_meta_error(response, default_status(code), code)
        title, details = ERROR_CODES.get(code, ERROR_CODES[200])
        assert error["message"] == f"(#{code}) {title}"
        assert (error["type"], error["error_data"]["details"]) == ("OAuthException", details)
        assert "error_subcode" not in error
    assert [r.status for r in fake.requests] == [default_status(c) for c in codes]
    assert fake.accepted == [] and fake.problems == []
    assert len({r.headers["authorization"] for r in fake.requests}) == 1


def test_scripted_error_overrides(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(
        Reply.error(
            130429, http_status=400, details="Cloud API message throughput has been reached.", subcode=2494055, headers={"Retry-After": "7"}
        ),
        Reply.error(131026, message="(#131026) Message undeliverable to +14155550123", type="GraphMethodException"),
        Reply.error(132001, title="Template name does not exist in the translation", details="template name (x) does not exist in en"),
    )
    first = client.post(fake.path, json=POSITIONAL)
    assert (first.status_code, first.headers["retry-after"]) == (400, "7")
    assert first.json()["error"]["error_subcode"] == 2494055
    second = client.post(fake.path, json=POSITIONAL).json()["error"]
    assert (second["message"], second["type"]) == ("(#131026) Message undeliverable to +14155550123", "GraphMethodException")
    third = client.post(fake.path, json=POSITIONAL)
    assert third.status_code == 404 and third.json()["error"]["error_data"]["details"] == "template name (x) does not exist in en"
    assert error_body(131026)["error"]["fbtrace_id"] != error_body(131026)["error"]["fbtrace_id"]


def test_server_error_and_ok_after_failures(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.server_error(502, "<html>Bad Gateway</html>"), Reply.server_error(), Reply.ok())
    bad_gateway = client.post(fake.path, json=POSITIONAL)
    assert (bad_gateway.status_code, bad_gateway.text) == (502, "<html>Bad Gateway</html>")
    assert bad_gateway.headers["content-type"].startswith("text/html")
    assert client.post(fake.path, json=POSITIONAL).status_code == 500
    assert client.post(fake.path, json=POSITIONAL).status_code == 200
    assert [r.status for r in fake.requests] == [502, 500, 200] and len(fake.accepted) == 1


def test_delay_then_answer(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.delay(0.2, then=Reply.error(131000)), Reply.delay(0.1))
    started = time.monotonic()
    assert_meta_error(client.post(fake.path, json=POSITIONAL), 500, 131000)
    assert time.monotonic() - started >= 0.2
    assert client.post(fake.path, json=POSITIONAL).status_code == 200
    assert [r.status for r in fake.requests] == [500, 200]


def test_delay_longer_than_the_client_timeout_still_counts_as_accepted(fake: FakeGraphAPI, client: httpx.Client):
    """Meta processes a request whatever the client does: a late answer means a sent message."""
    fake.script(Reply.delay(0.3))
    with pytest.raises(httpx.ReadTimeout):
        client.post(fake.path, json=POSITIONAL, timeout=0.05)
    fake.wait_until(lambda f: len(f.accepted) == 1, timeout=5, message="the late answer")
    (request,) = fake.accepted
    assert request.client_closed is True


def test_drop_closes_the_connection_after_reading_the_request(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.drop())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(fake.path, json=POSITIONAL)
    (request,) = fake.requests
    assert (request.status, request.wamid, request.json) == (None, None, POSITIONAL)
    assert client.post(fake.path, json=POSITIONAL).status_code == 200  # the client reconnects
    assert fake.connections_opened == 2 and len(fake.accepted) == 1


def test_hang_times_the_client_out_until_released(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.hang(), Reply.hang())
    with pytest.raises(httpx.ReadTimeout):
        client.post(fake.path, json=POSITIONAL, timeout=0.2)
    assert fake.requests[0].status is None

    # A second hang, this time released while the client is still waiting.
    sender, outcome = send_in_background(fake)
    fake.wait_for(2, timeout=5)
    fake.release()
    sender.join(timeout=5)
    assert not sender.is_alive()
    assert [type(e) for e in outcome] == [httpx.RemoteProtocolError]
    assert [r.status for r in fake.requests] == [None, None]
    assert client.post(fake.path, json=POSITIONAL).status_code == 200


def test_stop_ends_hangs_and_delays_promptly():
    fake = FakeGraphAPI().start()
    fake.script(Reply.hang(), Reply.delay(60))
    senders = [send_in_background(fake, timeout=10) for _ in range(2)]
    fake.wait_for(2, timeout=5)
    started = time.monotonic()
    fake.stop()
    for sender, _ in senders:
        sender.join(timeout=5)
    assert time.monotonic() - started < 2
    assert [type(e) for _, errors in senders for e in errors] == [httpx.RemoteProtocolError] * 2
    assert fake.accepted == [] and [r.status for r in fake.requests] == [None, None]
    fake.stop()  # idempotent


# ---- connections, waiting, reset ---------------------------------------------------------------


def test_keep_alive_one_client_uses_one_connection(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.error(130429))
    statuses = [client.post(fake.path, json=POSITIONAL).status_code for _ in range(3)]
    invalid = client.post(fake.path, json=changed(lambda b: b.update(to="123")))

    assert statuses == [429, 200, 200] and invalid.status_code == 400
    assert fake.connections_opened == 1 and fake.open_connections == 1
    assert len({(r.connection_id, r.client_port) for r in fake.requests}) == 1


def test_parallel_requests_are_all_recorded_with_unique_wamids(fake: FakeGraphAPI):
    def send(i: int) -> None:
        body = changed(lambda b: b.update(to=f"+1415555{i:04d}"))
        httpx.post(fake.messages_url, json=body, headers={"Authorization": "Bearer test-token"}, timeout=5, verify=False).raise_for_status()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    requests = fake.wait_for(10, timeout=5)
    assert len({r.wamid for r in requests}) == 10 and len(fake.accepted) == 10
    assert sorted(r.json["to"] for r in requests) == [f"+1415555{i:04d}" for i in range(10)]


def test_wait_for_returns_as_soon_as_requests_arrive(fake: FakeGraphAPI):
    fake.script(Reply.hang())
    sender, _ = send_in_background(fake)
    (request,) = fake.wait_for(1, timeout=5)  # arrived, not answered yet
    assert request.status is None and request.json["to"] == TO
    fake.release()
    sender.join(timeout=5)
    assert not sender.is_alive()


def test_wait_for_times_out_with_what_arrived(fake: FakeGraphAPI, client: httpx.Client):
    client.post(fake.path, json=POSITIONAL)
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"expected 2 request\(s\) within 0.1 s, got 1: POST /v23.0/106540352242922/messages to='\+14155550123' -> 200"
    ):
        fake.wait_for(2, timeout=0.1)
    assert time.monotonic() - started < 1


def test_reset_forgets_requests_problems_and_script(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.error(131026), Reply.error(131026))
    client.post(fake.path, json=POSITIONAL)
    client.post(fake.path, json=changed(lambda b: b.update(to="0")))
    fake.reset()
    assert (fake.requests, fake.problems, fake.scripted, fake.accepted) == ([], [], [], [])
    assert client.post(fake.path, json=POSITIONAL).status_code == 200


def test_base_url_is_the_listening_address():
    fake = FakeGraphAPI(token="other", phone_number_id="123", api_version="v25.0")
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
        assert fake.messages_url == f"{fake.base_url}/v25.0/123/messages"
        response = httpx.post(fake.messages_url, json=POSITIONAL, headers={"Authorization": "Bearer other"}, timeout=5, verify=False)
        assert response.status_code == 200


# ---- the phone number node ---------------------------------------------------------------------


def test_the_phone_number_node_gives_the_fields_asked_for_and_always_the_id(fake: FakeGraphAPI, client: httpx.Client):
    response = client.get(fake.phone_number_path, params={"fields": "display_phone_number,verified_name,quality_rating"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "display_phone_number": "+1 631-555-5555",
        "verified_name": "Jasper's Market",
        "quality_rating": "GREEN",
        "id": fake.phone_number_id,
    }
    assert fake.phone_number_reads == fake.requests and fake.problems == []


def test_without_fields_the_node_gives_graph_s_default_ones(fake: FakeGraphAPI, client: httpx.Client):
    fake.phone_number["quality_rating"] = "NA"  # a new number Meta has not rated yet
    assert client.get(fake.phone_number_path).json() == {
        "verified_name": "Jasper's Market",
        "code_verification_status": "VERIFIED",
        "display_phone_number": "+1 631-555-5555",
        "quality_rating": "NA",
        "id": fake.phone_number_id,
    }
    assert set(DEFAULT_PHONE_NUMBER) < set(fake.phone_number)


@pytest.mark.parametrize(
    ("params", "body", "problem"),
    [
        ({"fields": "verified_name,owner"}, None, "Tried accessing nonexisting field (owner) on node type (WhatsAppBusinessPhoneNumber)"),
        ({"access_token": "test-token"}, None, "unexpected query parameter 'access_token'"),
        ({"fields": "verified_name", "limit": "1"}, None, "unexpected query parameter 'limit'"),
        ({"fields": "verified_name"}, b"{}", "a GET carries no body"),
    ],
)
def test_a_read_of_the_node_meta_would_not_take_is_code_100(
    fake: FakeGraphAPI, client: httpx.Client, params: dict[str, str], body: bytes | None, problem: str
):
    response = client.request("GET", fake.phone_number_path, params=params, content=body)
    error = assert_meta_error(response, 400, 100)
    assert problem in error["message"]
    assert len(fake.problems) == 1 and problem in fake.problems[0]


def test_another_phone_number_is_graph_s_unsupported_get_request(fake: FakeGraphAPI, client: httpx.Client):
    response = client.get(f"/{fake.api_version}/999", params={"fields": "verified_name"})
    error = response.json()["error"]
    assert response.status_code == 400 and (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert fake.problems == [
        f"GET /{fake.api_version}/999?fields=verified_name: (100) no phone number '999' (this fake serves {fake.phone_number_id})"
    ]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}])
def test_the_node_wants_the_bearer_token(fake: FakeGraphAPI, headers: dict[str, str]):
    response = httpx.get(fake.base_url + fake.phone_number_path, headers=headers, timeout=5)
    assert_meta_error(response, 401, 190)
    assert "Authorization" in fake.problems[0]


def test_an_expired_token_is_refused_everywhere_as_meta_documents_until_renewed(fake: FakeGraphAPI, client: httpx.Client):
    fake.expire_token(at=time.time() - 3600)
    for response in (client.get(fake.phone_number_path), client.post(fake.path, json=POSITIONAL), client.get(fake.templates_path)):
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["type"], error["code"], error["error_subcode"]) == ("OAuthException", 190, 463)
        assert re.fullmatch(
            r"Error validating access token: Session has expired on \w+, .+ PST\. The current time is .+ PST\.", error["message"]
        )
        assert "error_data" not in error and "invalid_token" in response.headers["www-authenticate"]
    assert fake.problems == [] and fake.accepted == [], "the requests were right: the token expired"
    fake.renew_token()
    assert client.get(fake.phone_number_path).status_code == 200


def test_reads_of_the_node_play_their_own_script(fake: FakeGraphAPI, client: httpx.Client):
    fake.script(Reply.error(131026))
    fake.script_phone_number(Reply.error(4), Reply.server_error(503), Reply.ok())
    assert client.get(fake.phone_number_path).json()["error"]["code"] == 4
    assert client.get(fake.phone_number_path).status_code == 503
    assert client.get(fake.phone_number_path).json()["id"] == fake.phone_number_id
    assert client.post(fake.path, json=POSITIONAL).json()["error"]["code"] == 131026, "the sends' script is untouched"
    assert client.get(fake.phone_number_path).status_code == 200


def test_a_hanging_read_of_the_node_times_the_client_out(fake: FakeGraphAPI, client: httpx.Client):
    fake.script_phone_number(Reply.hang())
    with pytest.raises(httpx.ReadTimeout):
        client.get(fake.phone_number_path, timeout=0.3)
    fake.release()
    assert client.get(fake.phone_number_path).status_code == 200


# ---- the template list -------------------------------------------------------------------------


def list_templates(client: httpx.Client, fake: FakeGraphAPI, **params: str) -> httpx.Response:
    return client.get(fake.templates_path, params=params)


def test_the_template_list_is_served_page_by_page_with_graph_cursors(fake: FakeGraphAPI, client: httpx.Client):
    pages = [list_templates(client, fake, fields="name,language,status,category,parameter_format,components", limit="5").json()]
    while "next" in pages[-1]["paging"]:
        next_url = pages[-1]["paging"]["next"]
        assert next_url.startswith(fake.base_url + fake.templates_path + "?") and "after=" in next_url and "limit=5" in next_url
        pages.append(client.get(next_url).json())

    assert [len(page["data"]) for page in pages] == [5, 5, 5, 4]  # 19 templates
    # Every template, as Meta keeps it, but only the fields asked for (sub_category was not).
    assert [t for page in pages for t in page["data"]] == [{k: v for k, v in t.items() if k != "sub_category"} for t in DEFAULT_TEMPLATES]
    cursors = [page["paging"]["cursors"] for page in pages]
    assert all(c["before"] and c["after"] and c["before"] != c["after"] for c in cursors[:3])
    assert len({c["after"] for c in cursors}) == 4
    assert [r.status for r in fake.requests] == [200] * 4 and fake.problems == []
    assert {r.headers["authorization"] for r in fake.requests} == {"Bearer test-token"}


def test_the_list_gives_the_fields_asked_for_and_always_the_id(fake: FakeGraphAPI, client: httpx.Client):
    names = list_templates(client, fake, fields="name,status", limit="2").json()["data"]
    assert names == [
        {"name": "order_confirmation", "status": "APPROVED", "id": "1387372356726601"},
        {"name": "payment_receipt", "status": "APPROVED", "id": "1387372356726602"},
    ]
    default = list_templates(client, fake).json()
    assert len(default["data"]) == len(DEFAULT_TEMPLATES) < 25  # under Graph's default page size of 25: no next page
    assert "next" not in default["paging"]
    assert {key for t in default["data"] for key in t} == set(DEFAULT_TEMPLATE_FIELDS)


def test_a_limit_above_the_page_size_cap_gets_capped_pages():
    with FakeGraphAPI(max_page_size=4) as fake:
        headers = {"Authorization": "Bearer test-token"}
        first = httpx.get(fake.base_url + fake.templates_path, params={"limit": "100"}, headers=headers, timeout=5).json()
        assert len(first["data"]) == 4 and "limit=100" in first["paging"]["next"]
        second = httpx.get(first["paging"]["next"], headers=headers, timeout=5).json()
    assert [t["id"] for t in first["data"] + second["data"]] == [t["id"] for t in DEFAULT_TEMPLATES[:8]]


def test_an_empty_catalogue_is_an_empty_list_without_paging():
    with FakeGraphAPI(templates=[]) as fake:
        response = httpx.get(fake.base_url + fake.templates_path, headers={"Authorization": "Bearer test-token"}, timeout=5)
    assert response.json() == {"data": []}


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"limit": "0"}, "Param limit must be a positive integer, got '0'"),
        ({"limit": "ten"}, "Param limit must be a positive integer, got 'ten'"),
        ({"fields": "name,body"}, "Tried accessing nonexisting field (body) on node type (WhatsAppBusinessHSM)"),
        ({"after": "not-a-cursor"}, "Param after is not a cursor this endpoint returned: 'not-a-cursor'"),
    ],
)
def test_a_bad_limit_field_or_cursor_is_code_100(fake: FakeGraphAPI, client: httpx.Client, params: dict[str, str], details: str):
    error = assert_meta_error(list_templates(client, fake, **params), 400, 100)
    assert (error["message"], error["error_data"]["details"]) == (f"(#100) {details}", details)
    assert len(fake.problems) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}])
def test_the_template_list_wants_the_bearer_token(fake: FakeGraphAPI, headers: dict[str, str]):
    # A token in the query string is not accepted either: it would end up in access logs.
    response = httpx.get(fake.base_url + fake.templates_path, params={"access_token": fake.token}, headers=headers, timeout=5)
    assert_meta_error(response, 401, 190)
    assert "Authorization" in fake.problems[0]


def test_an_unknown_business_account_is_graphs_unsupported_get_request(fake: FakeGraphAPI, client: httpx.Client):
    response = client.get(f"/{fake.api_version}/999999999999999/message_templates")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert error["message"].startswith("Unsupported get request. Object with ID '999999999999999' does not exist")
    assert "error_data" not in error  # a plain Graph error, not a WhatsApp one
    assert fake.problems == [
        f"GET /{fake.api_version}/999999999999999/message_templates: (100) no WhatsApp Business Account '999999999999999' "
        f"(this fake serves {fake.business_account_id})"
    ]


def test_a_wrong_token_is_answered_before_an_unknown_business_account(fake: FakeGraphAPI):
    response = httpx.get(f"{fake.base_url}/{fake.api_version}/1/message_templates", headers={"Authorization": "Bearer x"}, timeout=5)
    assert_meta_error(response, 401, 190)


# ---- strict template checking of sends ---------------------------------------------------------


def send_of(template: dict[str, Any]) -> dict[str, Any]:
    """A send that fits `template`, built from the examples Meta keeps with it."""
    parts = {c["type"]: c for c in template["components"]}
    components: list[dict[str, Any]] = []
    header = parts.get("HEADER")
    if header and header["format"] == "TEXT" and "{{" in header["text"]:
        components.append({"type": "header", "parameters": [{"type": "text", "text": header["example"]["header_text"][0]}]})
    elif header and header["format"] != "TEXT":
        kind = header["format"].lower()
        components.append({"type": "header", "parameters": [{"type": kind, kind: {"link": header["example"]["header_handle"][0]}}]})
    example = parts["BODY"].get("example", {})
    if "body_text_named_params" in example:
        body = [{"type": "text", "parameter_name": p["param_name"], "text": p["example"]} for p in example["body_text_named_params"]]
    else:
        body = [{"type": "text", "text": text} for text in example.get("body_text", [[]])[0]]
    if body:
        components.append({"type": "body", "parameters": body})
    for index, button in enumerate(parts.get("BUTTONS", {}).get("buttons", [])):
        if button["type"] == "URL" and "{{1}}" in button["url"]:
            suffix = button["example"][0].removeprefix(button["url"].removesuffix("{{1}}"))
            components.append({"type": "button", "sub_type": "url", "index": str(index), "parameters": [{"type": "text", "text": suffix}]})
        elif button["type"] == "COPY_CODE":
            components.append(
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": index,
                    "parameters": [{"type": "coupon_code", "coupon_code": button["example"]}],
                }
            )
    message = {"name": template["name"], "language": {"code": template["language"]}, "components": components}
    return {"messaging_product": "whatsapp", "to": TO, "type": "template", "template": message}


def default_template(name: str, language: str = "en_US") -> dict[str, Any]:
    (template,) = [t for t in DEFAULT_TEMPLATES if t["name"] == name and t["language"] == language]
    return template


@pytest.fixture
def strict() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(strict_templates=True) as server:
        yield server


@pytest.mark.parametrize(
    "template", [t for t in DEFAULT_TEMPLATES if t["status"] == "APPROVED"], ids=lambda t: f"{t['name']}[{t['language']}]"
)
def test_every_approved_default_template_takes_a_send_built_from_its_examples(strict: FakeGraphAPI, template: dict[str, Any]):
    body = send_of(template)
    assert validate_message(body) == [] and template_violations(body, DEFAULT_TEMPLATES) == []
    response = httpx.post(strict.messages_url, json=body, headers={"Authorization": "Bearer test-token"}, timeout=5)
    assert response.status_code == 200, response.text
    assert strict.problems == []


def test_the_named_example_send_fits_its_template_in_the_default_catalogue():
    assert template_violations(NAMED, DEFAULT_TEMPLATES) == []


def components_of(name: str, language: str = "en_US") -> list[dict[str, Any]]:
    return send_of(default_template(name, language))["template"]["components"]


def send(name: str, components: list[dict[str, Any]], language: str = "en_US") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "template",
        "template": {"name": name, "language": {"code": language}, "components": components},
    }


def text(value: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "text", "text": value} | ({"parameter_name": name} if name else {})


def replaced(
    components: list[dict[str, Any]], kind: str, component: dict[str, Any] | None, index: int | None = None
) -> list[dict[str, Any]]:
    """`components` with the one of `kind` (a button: at `index`) replaced by `component`, or removed when None."""
    kept = [c for c in components if not (c["type"] == kind and (index is None or int(c["index"]) == index))]
    return kept + ([component] if component else [])


RECEIPT_BODY = {"type": "body", "parameters": [text("Jenny"), text("$19.99"), text("6735")]}
DOCUMENT = {"type": "document", "document": {"link": "https://example.com/invoice.pdf"}}
IMAGE = {"type": "image", "image": {"link": "https://example.com/i.jpg"}}
CURRENCY = {"type": "currency", "currency": {"fallback_value": "$19.99", "code": "USD", "amount_1000": 19990}}

STRICT_REFUSALS = [
    # (id, send, HTTP status, code, details)
    ("unknown name", send("no_such_template", [RECEIPT_BODY]), 404, 132001, "template name (no_such_template) does not exist in en_US"),
    ("en is not en_US", send("payment_receipt", [RECEIPT_BODY], "en"), 404, 132001, "template name (payment_receipt) does not exist in en"),
    (
        "pending",
        send("refund_issued_v2", [{"type": "body", "parameters": [text("J", "customer_name"), text("$1", "amount")]}]),
        404,
        132001,
        "template name (refund_issued_v2) does not exist in en_US",
    ),
    (
        "rejected",
        send("subscription_renewal", [{"type": "body", "parameters": [text("J"), text("May 1")]}]),
        404,
        132001,
        "template name (subscription_renewal) does not exist in en_US",
    ),
    ("paused", send("refund_issued", [RECEIPT_BODY], "es"), 400, 132015, ERROR_CODES[132015][1]),
    ("disabled", send("loyalty_reminder", [{"type": "body", "parameters": [text("Jenny")]}]), 400, 132016, ERROR_CODES[132016][1]),
    (
        "two body parameters for three",
        POSITIONAL,
        400,
        132000,
        "body: number of localizable_params (2) does not match the expected number of params (3)",
    ),
    (
        "no body",
        send("payment_receipt", []),
        400,
        132000,
        "body: number of localizable_params (0) does not match the expected number of params (3)",
    ),
    (
        "a header the template lacks",
        send("payment_receipt", [{"type": "header", "parameters": [text("x")]}, RECEIPT_BODY]),
        400,
        132000,
        "header: number of localizable_params (1) does not match the expected number of params (0)",
    ),
    (
        "text header left out",
        send("shipping_update", replaced(components_of("shipping_update"), "header", None)),
        400,
        132000,
        "header: number of localizable_params (0) does not match the expected number of params (1)",
    ),
    (
        "image for a text header",
        send("shipping_update", replaced(components_of("shipping_update"), "header", {"type": "header", "parameters": [IMAGE]})),
        400,
        132012,
        "header: Format mismatch, expected TEXT, received IMAGE",
    ),
    (
        "currency in a header",
        send("shipping_update", replaced(components_of("shipping_update"), "header", {"type": "header", "parameters": [CURRENCY]})),
        400,
        132012,
        "header: Format mismatch, expected TEXT, received CURRENCY",
    ),
    (
        "document header left out",
        send("invoice_document", replaced(components_of("invoice_document"), "header", None)),
        400,
        132012,
        "header: Format mismatch, expected DOCUMENT, received UNKNOWN",
    ),
    (
        "image for a document header",
        send("invoice_document", replaced(components_of("invoice_document"), "header", {"type": "header", "parameters": [IMAGE]})),
        400,
        132012,
        "header: Format mismatch, expected DOCUMENT, received IMAGE",
    ),
    (
        "two documents",
        send(
            "invoice_document",
            replaced(components_of("invoice_document"), "header", {"type": "header", "parameters": [DOCUMENT, DOCUMENT]}),
        ),
        400,
        132000,
        "header: number of localizable_params (2) does not match the expected number of params (1)",
    ),
    (
        "url suffix left out",
        send("invoice_document", replaced(components_of("invoice_document"), "button", None, 0)),
        400,
        131008,
        "buttons: Button at index 0 of type Url requires a parameter",
    ),
    (
        "two url suffixes",
        send(
            "invoice_document",
            replaced(
                components_of("invoice_document"),
                "button",
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("a"), text("b")]},
                0,
            ),
        ),
        400,
        132000,
        "buttons: number of localizable_params (2) does not match the expected number of params (1)",
    ),
    (
        "quick reply where the url button is",
        send(
            "invoice_document",
            replaced(
                components_of("invoice_document"),
                "button",
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "X"}]},
                0,
            ),
        ),
        400,
        132012,
        "buttons: Format mismatch, button at index 0 is URL, received QUICK_REPLY",
    ),
    (
        "a button the template lacks",
        send(
            "payment_receipt",
            [
                RECEIPT_BODY,
                {"type": "button", "sub_type": "quick_reply", "index": "2", "parameters": [{"type": "payload", "payload": "X"}]},
            ],
        ),
        400,
        132000,
        "buttons: number of localizable_params (1) does not match the expected number of params (0)",
    ),
    (
        "coupon code left out",
        send("spring_sale", replaced(components_of("spring_sale"), "button", None, 0)),
        400,
        131008,
        "buttons: Button at index 0 of type CopyCode requires a parameter",
    ),
    (
        "a named parameter misspelt",
        changed(lambda b: b["template"]["components"][1]["parameters"][0].update(parameter_name="firstname"), NAMED),
        400,
        132012,
        "body: parameter names firstname are not the template's (first_name, amount, paid_on)",
    ),
    (
        "positional parameters for a named template",
        send("payment_failed", [{"type": "body", "parameters": [text("J"), text("$1"), text("no")]}]),
        400,
        100,
        "Parameter name is missing or empty",
    ),
    (
        "names for a positional template",
        send("payment_receipt", [{"type": "body", "parameters": [text("J", "a"), text("$1", "b"), text("1", "c")]}]),
        400,
        132012,
        "body: the template is positional ({{1}}, {{2}}...): parameters take no parameter_name",
    ),
    (
        "two body components",
        send("payment_receipt", [RECEIPT_BODY, RECEIPT_BODY]),
        400,
        100,
        "template.components: more than one body component",
    ),
    (
        "body over 1024 once filled",
        send("payment_receipt", [{"type": "body", "parameters": [text("x" * 400), text("y" * 400), text("z" * 200)]}]),
        400,
        132005,
        "body: 1056 characters once the parameters are filled in; the limit is 1024",
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "details"), [r[1:] for r in STRICT_REFUSALS], ids=[r[0] for r in STRICT_REFUSALS])
def test_a_send_that_does_not_fit_its_template_gets_metas_code(
    strict: FakeGraphAPI, body: dict[str, Any], status: int, code: int, details: str
):
    assert validate_message(body) == []  # well-formed: only the template refuses it
    response = httpx.post(strict.messages_url, json=body, headers={"Authorization": "Bearer test-token"}, timeout=5)

    error = assert_meta_error(response, status, code)
    assert error["error_data"]["details"] == details
    assert strict.problems == [f"POST {strict.path}: ({code}) {details}"]
    assert strict.accepted == []


def test_a_refused_send_does_not_consume_the_script_and_a_fitting_one_does(strict: FakeGraphAPI):
    strict.script(Reply.error(131026))
    headers = {"Authorization": "Bearer test-token"}
    assert httpx.post(strict.messages_url, json=POSITIONAL, headers=headers, timeout=5).json()["error"]["code"] == 132000
    fitting = send("payment_receipt", [RECEIPT_BODY])
    assert httpx.post(strict.messages_url, json=fitting, headers=headers, timeout=5).json()["error"]["code"] == 131026
    assert httpx.post(strict.messages_url, json=fitting, headers=headers, timeout=5).status_code == 200


def test_without_strict_checking_any_well_formed_template_is_accepted(fake: FakeGraphAPI, client: httpx.Client):
    assert client.post(fake.path, json=send("no_such_template", [RECEIPT_BODY])).status_code == 200
    assert fake.problems == []


def test_know_templates_turns_strict_checking_on_with_the_catalogue_given(fake: FakeGraphAPI, client: httpx.Client):
    mine = {**default_template("payment_receipt"), "name": "my_receipt"}
    fake.know_templates([mine])
    assert client.post(fake.path, json=send("my_receipt", [RECEIPT_BODY])).status_code == 200
    assert client.post(fake.path, json=send("payment_receipt", [RECEIPT_BODY])).json()["error"]["code"] == 132001
    assert list_templates(client, fake, fields="name").json()["data"] == [{"name": "my_receipt", "id": mine["id"]}]


def test_the_example_configs_mappings_fit_the_default_catalogue(redis, redis_url: str, fake_graph: FakeGraphAPI):
    """So any test may turn strict checking on with the example config (its staff alerts too)."""
    fake_graph.know_templates()
    bridge = Bridge(make_config(redis_url, fake_graph, mappings=example_raw()["mappings"]))
    try:
        for event_type in samples.event_types():
            event = samples.fresh_event(event_type)
            if event_type == "payment_intent.succeeded":
                event["data"]["object"]["amount_received"] = 250_000  # the large-payment alert too
            assert bridge.post(event).get_json() == {"status": "queued"}
        bridge.work_all()
        config = bridge.config
    finally:
        bridge.close()
    assert fake_graph.problems == []
    expected = [m.template for m in config.mappings for _ in (m.recipients or [None]) if set(m.events) & set(samples.event_types())]
    assert sorted(r.json["template"]["name"] for r in fake_graph.accepted) == sorted(expected)


def _text_message(to: str = "+14155550123", **text: object) -> dict:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": "Hi", **text}}


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ({"body": ""}, 131008, "text.body is required"),
        ({"body": "x" * 4097}, 100, "longer than 4096"),
        ({"preview_url": "yes"}, 100, "preview_url"),
        ({"link": "https://example.com"}, 100, "text.link"),
    ],
    ids=["empty", "too long", "preview_url text", "unknown key"],
)
def test_a_text_message_is_checked_against_metas_shape(text, code, detail):
    assert [(v.code, detail in v.detail) for v in validate_message(_text_message(**text))] == [(code, True)]
    assert validate_message(_text_message(preview_url=False)) == []


def test_free_form_text_goes_only_inside_the_customer_service_window(fake: FakeGraphAPI):
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {fake.token}"}) as client:
        outside = client.post(fake.path, json=_text_message())
        assert (outside.status_code, outside.json()["error"]["code"]) == (400, 131047)
        fake.customer_wrote("+14155550123")
        inside = client.post(fake.path, json=_text_message())
        assert inside.status_code == 200 and inside.json()["messages"][0]["id"].startswith("wamid.")
        fake.customer_wrote("+14155550199", at=time.time() - 24 * 3600 - 1)
        assert client.post(fake.path, json=_text_message("+14155550199")).status_code == 400
