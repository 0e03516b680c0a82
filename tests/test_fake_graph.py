"""The fake Graph API itself: it must catch the mistakes Meta would reject."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_graph import FakeGraphAPI, Reply

VALID = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "+14155550123",
    "type": "template",
    "template": {
        "name": "payment_receipt",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Jenny"}]}],
    },
}


def post(fake: FakeGraphAPI, body: dict, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    return httpx.post(f"{fake.base_url}{fake.path}", json=body, headers=headers, timeout=5)


def with_(**changes) -> dict:
    body = {**VALID, **changes}
    return body


def test_valid_request_gets_metas_success_body(fake_graph: FakeGraphAPI):
    response = post(fake_graph, VALID)
    assert response.status_code == 200
    body = response.json()
    assert body["contacts"] == [{"input": "+14155550123", "wa_id": "14155550123"}]
    assert body["messages"][0]["id"].startswith("wamid.") and body["messages"][0]["message_status"] == "accepted"
    assert fake_graph.problems == []


def named(*params) -> dict:
    return with_(template={**VALID["template"], "components": [{"type": "body", "parameters": list(params)}]})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (with_(to="14155550123"), 131009),  # without the plus Meta would prefix the business's country code
        (with_(messaging_product="sms"), 100),
        (with_(type="text"), 100),
        (with_(extra=1), 100),
        (with_(template={"name": "Payment Receipt", "language": {"code": "en_US"}}), 100),
        (named({"type": "text", "text": "a\nb"}), 132018),
        (named({"type": "text", "text": ""}), 132018),
        (named({"type": "text", "text": "a", "parameter_name": "x"}, {"type": "text", "text": "b"}), 132018),
    ],
)
def test_shape_violations_are_rejected_and_recorded(fake_graph: FakeGraphAPI, body, code):
    response = post(fake_graph, body)
    assert response.status_code >= 400
    assert response.json()["error"]["code"] == code
    assert len(fake_graph.problems) == 1


def test_wrong_token_is_190(fake_graph: FakeGraphAPI):
    response = post(fake_graph, VALID, token="nope")
    assert (response.status_code, response.json()["error"]["code"]) == (401, 190)


def test_scripted_errors_use_metas_status_and_body(fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026), Reply.error(130429))
    first, second = post(fake_graph, VALID), post(fake_graph, VALID)
    assert (first.status_code, first.json()["error"]["code"]) == (400, 131026)
    assert (second.status_code, second.json()["error"]["code"]) == (429, 130429)
    assert first.json()["error"]["fbtrace_id"]
    assert post(fake_graph, VALID).status_code == 200


def test_drop_and_hang(fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.drop(), Reply.hang())
    with pytest.raises(httpx.RemoteProtocolError):
        post(fake_graph, VALID)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{fake_graph.base_url}{fake_graph.path}", json=VALID, headers={"Authorization": f"Bearer {fake_graph.token}"}, timeout=0.3
        )
    fake_graph.release()


def test_keep_alive_reuses_one_connection(fake_graph: FakeGraphAPI):
    with httpx.Client(headers={"Authorization": f"Bearer {fake_graph.token}"}) as client:
        for _ in range(3):
            assert client.post(f"{fake_graph.base_url}{fake_graph.path}", json=VALID).status_code == 200
    assert len({r.client_port for r in fake_graph.requests}) == 1


def test_wait_for_times_out_with_a_clear_message(fake_graph: FakeGraphAPI):
    with pytest.raises(AssertionError, match="expected 1 requests"):
        fake_graph.wait_for(1, timeout=0.05)
