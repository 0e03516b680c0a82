"""Checking the WhatsApp access token with Meta: the pure verdict on what Graph answered, the request
over a real socket to the fake Graph API (its shape, Meta's 190, timeouts), and the answer kept in
real Redis for every web process."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis import Redis

from bridge import defaults
from bridge.config import WhatsAppSettings
from bridge.errors import AccountError, AmbiguousError, DeliveryError, PermanentError, RateLimitedError, TransientError
from bridge.runtime import Role, Runtime, build_runtime
from bridge.services.token_check import TokenCheck, TokenState, cache_ttl, dump, fingerprint, judge, load, token_check
from bridge.whatsapp.client import PhoneNumber, fetch_phone_number
from bridge.whatsapp.errors import classify
from tests.conftest import make_config
from tests.fake_graph import FakeGraphAPI, Reply, error_body, expired_token_body

NOW = 1_780_000_000.0
SETTINGS = WhatsAppSettings(phone_number_id="106540352242922", access_token="EAAG-secret-token", api_base_url="https://graph.facebook.com")


def settings_for(fake: FakeGraphAPI, **changes: object) -> WhatsAppSettings:
    fields: dict[str, object] = {
        "phone_number_id": fake.phone_number_id,
        "access_token": fake.token,
        "api_base_url": fake.base_url,
        "api_version": fake.api_version,
        "timeout_seconds": 2.0,
    }
    return WhatsAppSettings(**{**fields, **changes})  # type: ignore[arg-type]


# ---- the verdict: pure -------------------------------------------------------------------------


def test_a_phone_number_answer_is_valid_with_the_number_s_details():
    number = PhoneNumber("106540352242922", "+1 631-555-5555", "Jasper's Market", "GREEN")
    assert judge(number, now=NOW) == TokenCheck(
        TokenState.VALID, NOW, display_phone_number="+1 631-555-5555", verified_name="Jasper's Market", quality_rating="GREEN"
    )


@pytest.mark.parametrize(
    ("error", "state", "code", "meaning"),
    [
        (classify(401, expired_token_body(NOW - 60, NOW)), TokenState.REFUSED, 190, "The access token has expired or is invalid"),
        (classify(403, error_body(10)), TokenState.REFUSED, 10, "Permission not granted or removed"),
        (classify(403, error_body(200)), TokenState.REFUSED, 200, "API permission not granted or removed (or no access token)"),
        (
            classify(400, {"error": {"code": 100, "error_subcode": 33, "message": "Unsupported get request."}}),
            TokenState.REFUSED,
            100,
            "The phone number id or business account id does not exist, or the access token cannot see it",
        ),
        (classify(429, error_body(4)), TokenState.UNREACHABLE, 4, "The app reached its Graph API call rate limit"),
        (classify(503, error_body(2)), TokenState.UNREACHABLE, 2, "Meta's service is temporarily down or overloaded"),
        (classify(502, None), TokenState.UNREACHABLE, None, "HTTP 502: Cloud API error"),
        (TransientError("could not connect to the Cloud API: ConnectError"), TokenState.UNREACHABLE, None, "could not connect"),
        (
            AmbiguousError("no answer from the Cloud API after the request was sent: ReadTimeout"),
            TokenState.UNREACHABLE,
            None,
            "ReadTimeout",
        ),
    ],
)
def test_meta_s_refusals_are_refused_and_everything_else_unreachable(
    error: DeliveryError, state: TokenState, code: int | None, meaning: str
):
    check = judge(error, now=NOW)
    assert (check.state, check.code, check.checked_at) == (state, code, NOW)
    assert check.meaning is not None and meaning in check.meaning
    assert check.display_phone_number is None


def test_a_refusal_with_a_fix_carries_it():
    check = judge(classify(400, {"error": {"code": 100, "error_subcode": 33}}), now=NOW)
    assert check.fix is not None and "WHATSAPP_PHONE_NUMBER_ID" in check.fix


def test_could_not_reach_meta_is_kept_for_less_time_than_meta_s_verdicts():
    assert cache_ttl(TokenCheck(TokenState.UNREACHABLE, NOW)) == defaults.TOKEN_CHECK_RETRY_SECONDS
    assert (
        cache_ttl(TokenCheck(TokenState.VALID, NOW)) == cache_ttl(TokenCheck(TokenState.REFUSED, NOW)) == defaults.TOKEN_CHECK_CACHE_SECONDS
    )
    assert defaults.TOKEN_CHECK_RETRY_SECONDS < defaults.TOKEN_CHECK_CACHE_SECONDS


def test_an_answer_reads_back_from_its_cached_form_only_for_the_same_settings():
    check = TokenCheck(TokenState.REFUSED, NOW, code=190, meaning="The access token has expired or is invalid")
    mark = fingerprint(SETTINGS)
    assert load(dump(check, mark), mark) == check
    assert load(dump(check, mark), fingerprint(replace(SETTINGS, access_token="EAAG-rotated"))) is None


@pytest.mark.parametrize(
    "raw", ["", "not json", "[]", '{"fingerprint": "x"}', '{"state": "valid"}', '{"state": "lost", "fingerprint": "%s"}']
)
def test_a_cached_form_that_cannot_be_read_is_no_answer(raw: str):
    mark = fingerprint(SETTINGS)
    assert load(raw.replace("%s", mark), mark) is None


@pytest.mark.parametrize(
    "change", [{"access_token": "EAAG-other"}, {"phone_number_id": "1"}, {"api_version": "v24.0"}, {"api_base_url": "http://127.0.0.1:1"}]
)
def test_the_fingerprint_changes_with_each_setting_and_never_shows_the_token(change: dict[str, str]):
    mark = fingerprint(SETTINGS)
    assert fingerprint(replace(SETTINGS, **change)) != mark
    assert SETTINGS.access_token not in mark and len(mark) == 32


# ---- the request, over a real socket -----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI() as server:
        yield server


def test_the_number_is_read_with_the_fields_asked_for_and_the_token_in_the_header(fake: FakeGraphAPI):
    number = fetch_phone_number(settings_for(fake), timeout=2.0)
    assert number == PhoneNumber(fake.phone_number_id, "+1 631-555-5555", "Jasper's Market", "GREEN")
    (read,) = fake.requests
    assert (read.method, read.path, read.body) == (
        "GET",
        f"{fake.phone_number_path}?fields=display_phone_number%2Cverified_name%2Cquality_rating",
        b"",
    )
    assert read.headers["authorization"] == f"Bearer {fake.token}" and fake.token not in read.path
    assert fake.problems == []


@pytest.mark.parametrize(
    ("prepare", "error_class", "code", "subcode"),
    [
        (lambda fake: fake.expire_token(), AccountError, 190, 463),
        (lambda fake: setattr(fake, "token", "the-new-token"), AccountError, 190, None),
        (lambda fake: setattr(fake, "phone_number_id", "999"), PermanentError, 100, 33),
        (lambda fake: fake.script_phone_number(Reply.error(4)), RateLimitedError, 4, None),
        (lambda fake: fake.script_phone_number(Reply.server_error(502)), TransientError, None, None),
    ],
)
def test_meta_s_refusals_are_translated_as_for_a_send(fake: FakeGraphAPI, prepare, error_class: type[DeliveryError], code, subcode):
    settings = settings_for(fake)
    prepare(fake)
    with pytest.raises(error_class) as raised:
        fetch_phone_number(settings, timeout=2.0)
    assert (raised.value.code, raised.value.subcode) == (code, subcode)
    assert fake.token not in str(raised.value) and "EAAG" not in repr(raised.value)


def test_a_hanging_meta_is_given_up_after_the_check_s_timeout_not_the_sends(fake: FakeGraphAPI):
    fake.script_phone_number(Reply.hang())
    started = time.monotonic()
    with pytest.raises(TransientError, match="ReadTimeout"):
        fetch_phone_number(settings_for(fake, timeout_seconds=10.0), timeout=0.5)
    assert time.monotonic() - started < 2.0
    fake.release()


def test_a_meta_that_is_not_there_is_a_transient_error():
    with FakeGraphAPI() as gone:
        settings = settings_for(gone)
    with pytest.raises(TransientError, match="could not connect"):
        fetch_phone_number(settings, timeout=1.0)


# ---- the answer in Redis, shared by the web processes -------------------------------------------


@pytest.fixture
def web(redis: Redis, redis_url: str, fake: FakeGraphAPI) -> Iterator[Runtime]:
    rt = build_runtime(make_config(redis_url, fake), role=Role.WEB)
    yield rt
    rt.close()


def test_the_answer_is_kept_so_a_second_look_asks_meta_nothing(web: Runtime, fake: FakeGraphAPI, redis: Redis, redis_url: str):
    first = token_check(web, now=NOW)
    assert first.state is TokenState.VALID and first.checked_at == NOW
    other_process = build_runtime(make_config(redis_url, fake), role=Role.WEB)
    try:
        assert token_check(other_process, now=NOW + 60) == first
    finally:
        other_process.close()
    assert len(fake.phone_number_reads) == 1
    key = web.keys.token_check(fake.phone_number_id)
    assert 0 < redis.ttl(key) <= defaults.TOKEN_CHECK_CACHE_SECONDS
    assert fake.token.encode() not in redis.get(key)


def test_refresh_asks_meta_again_and_keeps_the_new_answer(web: Runtime, fake: FakeGraphAPI):
    fake.expire_token()
    assert token_check(web, now=NOW).code == 190
    fake.renew_token()
    assert token_check(web, now=NOW + 1).state is TokenState.REFUSED, "kept: Meta is not asked"
    assert token_check(web, now=NOW + 2, refresh=True).state is TokenState.VALID
    assert token_check(web, now=NOW + 3) == token_check(web, now=NOW + 2)
    assert len(fake.phone_number_reads) == 2


def test_another_token_is_checked_anew_instead_of_showing_the_old_answer(web: Runtime, fake: FakeGraphAPI, redis_url: str):
    assert token_check(web, now=NOW).state is TokenState.VALID
    rotated = build_runtime(make_config(redis_url, fake, whatsapp={"access_token": "a-rotated-token"}), role=Role.WEB)
    try:
        assert token_check(rotated, now=NOW).code == 190
    finally:
        rotated.close()
    assert len(fake.phone_number_reads) == 2


def test_could_not_reach_meta_is_kept_a_short_time(web: Runtime, fake: FakeGraphAPI, redis: Redis):
    fake.script_phone_number(Reply.server_error(503))
    assert token_check(web, now=NOW).state is TokenState.UNREACHABLE
    assert 0 < redis.ttl(web.keys.token_check(fake.phone_number_id)) <= defaults.TOKEN_CHECK_RETRY_SECONDS


def test_in_dry_run_meta_is_not_asked_and_nothing_is_kept(redis: Redis, redis_url: str, fake: FakeGraphAPI):
    rt = build_runtime(make_config(redis_url, fake, dry_run=True), role=Role.WEB)
    try:
        assert token_check(rt, now=NOW, refresh=True) == TokenCheck(TokenState.DRY_RUN)
    finally:
        rt.close()
    assert fake.requests == [] and list(redis.scan_iter("bridge:token-check:*")) == []


def test_without_a_phone_number_id_there_is_nothing_to_ask(redis: Redis, redis_url: str, fake: FakeGraphAPI):
    rt = build_runtime(make_config(redis_url, fake, whatsapp={"phone_number_id": ""}), role=Role.WEB)
    try:
        check = token_check(rt, now=NOW)
    finally:
        rt.close()
    assert check.state is TokenState.REFUSED and "WHATSAPP_PHONE_NUMBER_ID" in (check.meaning or "")
    assert fake.requests == []


def test_the_token_is_never_logged(web: Runtime, fake: FakeGraphAPI, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    token_check(web, now=NOW)
    fake.expire_token()
    token_check(web, now=NOW, refresh=True)
    assert [r.fields["outcome"] for r in caplog.records if r.name == "bridge.services.token_check"] == ["valid", "refused"]  # type: ignore[attr-defined]
    assert all(fake.token not in f"{r.getMessage()} {vars(r)}" for r in caplog.records)
