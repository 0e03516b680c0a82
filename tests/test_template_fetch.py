"""Pulling a business account's templates from the Graph API, over real HTTP against the fake:
every page is followed, Meta's refusals arrive as the bridge's errors, and the token never leaves
the configured API address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.config import WhatsAppSettings
from bridge.dev.dev_redis import free_port
from bridge.errors import AccountError, PermanentError, TransientError
from bridge.whatsapp.client import TEMPLATE_FIELDS, fetch_templates
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI

SEVEN = DEFAULT_TEMPLATES[:7]


def settings_for(fake: FakeGraphAPI, **changes: str) -> WhatsAppSettings:
    values = {"access_token": fake.token, "api_base_url": fake.base_url, "api_version": fake.api_version, "timeout_seconds": 2.0}
    return WhatsAppSettings(**(values | changes))


def test_every_page_is_followed_and_every_template_kept_as_meta_sent_it():
    with FakeGraphAPI(templates=SEVEN) as fake:
        listing = fetch_templates(settings_for(fake), fake.business_account_id, page_size=3)

    assert listing.requests == 3 and len(fake.requests) == 3
    expected = [{k: v for k, v in t.items() if k in (*TEMPLATE_FIELDS, "id")} for t in SEVEN]
    assert list(listing.templates) == expected
    queries = [parse_qs(urlsplit(r.path).query) for r in fake.requests]
    assert all(q["fields"] == [",".join(TEMPLATE_FIELDS)] and q["limit"] == ["3"] for q in queries)
    assert ["after" in q for q in queries] == [False, True, True]
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {fake.token}"}
    assert fake.problems == []


def test_a_whole_catalogue_on_one_page_is_one_request():
    with FakeGraphAPI() as fake:
        listing = fetch_templates(settings_for(fake), fake.business_account_id)
    assert (listing.requests, len(listing.templates)) == (1, len(DEFAULT_TEMPLATES))
    assert "limit=100" in fake.requests[0].path


def test_a_wrong_token_is_an_account_error_with_metas_code(fake_graph: FakeGraphAPI):
    with pytest.raises(AccountError) as excinfo:
        fetch_templates(settings_for(fake_graph, access_token="expired"), fake_graph.business_account_id)
    assert (excinfo.value.code, excinfo.value.http_status) == (190, 401)
    assert "expired" not in str(excinfo.value)


def test_an_unknown_business_account_is_metas_unsupported_request(fake_graph: FakeGraphAPI):
    with pytest.raises(PermanentError) as excinfo:
        fetch_templates(settings_for(fake_graph), "999999999999999")
    assert (excinfo.value.code, excinfo.value.subcode, excinfo.value.http_status) == (100, 33, 400)
    # The classifier masks long numbers in Meta's text (they could be phone numbers): the CLI names the account.
    assert "Unsupported get request. Object with ID '[number]' does not exist" in str(excinfo.value)


def test_a_next_page_on_another_address_is_not_followed():
    # The client talks to localhost; Graph's next link names 127.0.0.1: another origin, as far as
    # a bearer token is concerned.
    with FakeGraphAPI(templates=SEVEN) as fake:
        elsewhere = fake.base_url.replace("127.0.0.1", "localhost")
        with pytest.raises(PermanentError, match=r"next page of templates is at http://127\.0\.0\.1:\d+, not at http://localhost"):
            fetch_templates(settings_for(fake, api_base_url=elsewhere), fake.business_account_id, page_size=3)
    assert len(fake.requests) == 1


def test_nothing_listening_is_a_transient_error():
    settings = WhatsAppSettings(access_token="t", api_base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2.0)
    with pytest.raises(TransientError, match="could not connect to the Cloud API"):
        fetch_templates(settings, "102290129340398")
