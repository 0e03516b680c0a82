"""The error table: every documented code maps to exactly the class the policy gives it."""

from __future__ import annotations

import pytest

from bridge.errors import AccountError, PermanentError, RateLimitedError, TransientError
from bridge.whatsapp.errors import CODES, classify, classify_webhook_error, explain, lookup, pair_backoff_seconds
from tests.fake_graph import error_body

TRANSIENT = {1, 2, 131000, 131016, 131057, 133004}
RATE_LIMITED = {4, 80007, 130429, 131048, 131056}
PERMANENT = {
    100,
    131008,
    131009,
    131021,
    131026,
    131047,
    131051,
    131052,
    131053,
    130472,
    131050,
    132000,
    132001,
    132005,
    132007,
    132012,
    132015,
    132016,
    132018,
    131049,
    130403,
    130497,
    131030,
    131063,
    131064,
    132008,
    135000,
}
ACCOUNT = {0, 190, 3, 10, 131031, 131042, 131044, 131045, 368, 133010, 131005} | set(range(200, 300))
EXPECTED = {TransientError: TRANSIENT, RateLimitedError: RATE_LIMITED, PermanentError: PERMANENT, AccountError: ACCOUNT}


def test_classes_are_disjoint():
    sets = list(EXPECTED.values())
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            assert not a & b


@pytest.mark.parametrize(("error_class", "codes"), EXPECTED.items(), ids=lambda v: getattr(v, "__name__", ""))
def test_every_documented_code_maps_to_its_class(error_class, codes):
    for code in codes:
        info = lookup(code)
        assert info is not None, code
        assert info.error_class is error_class, code
        assert info.meaning


def test_the_table_holds_nothing_else():
    assert set(CODES) == (TRANSIENT | RATE_LIMITED | PERMANENT | ACCOUNT) - set(range(200, 300))


@pytest.mark.parametrize(
    ("code", "status", "error_class"),
    [
        (131026, 400, PermanentError),
        (130429, 400, RateLimitedError),
        (130429, 429, RateLimitedError),
        (190, 401, AccountError),
        (131000, 500, TransientError),
        (133004, 503, TransientError),
        (250, 403, AccountError),
        (131056, 400, RateLimitedError),
    ],
)
def test_classify_by_code_not_status(code, status, error_class):
    exc = classify(status, error_body(code, details="some details", subcode=2494055))
    assert type(exc) is error_class
    assert (exc.code, exc.subcode, exc.http_status, exc.details) == (code, 2494055, status, "some details")
    assert exc.fbtrace_id and exc.meaning
    assert str(exc).startswith(f"(#{code}) ")


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (500, error_body(999999), TransientError),
        (400, error_body(999999), PermanentError),
        (502, None, TransientError),
        (502, "<html>Bad gateway</html>", TransientError),
        (401, None, AccountError),
        (429, {}, RateLimitedError),
        (400, {"error": {"code": 999999, "is_transient": True, "message": "x"}}, TransientError),
    ],
)
def test_fallbacks_without_a_known_code(status, body, error_class):
    assert type(classify(status, body)) is error_class


def test_opt_out_and_retry_after():
    assert classify(400, error_body(131050)).opt_out is True
    assert classify(400, error_body(131026)).opt_out is False
    assert classify(429, error_body(130429), retry_after=7).retry_after == 7


def test_message_keeps_only_code_title_and_details():
    body = error_body(131026, message="(#131026) Message undeliverable to +14155550123", details="Message Undeliverable.")
    text = str(classify(400, body))
    assert text.startswith("(#131026) ")
    assert "Message Undeliverable." in text
    assert "4155550123" not in text


@pytest.mark.parametrize(
    ("code", "error_class"), [(131026, PermanentError), (131049, PermanentError), (132015, PermanentError), (131050, PermanentError)]
)
def test_webhook_errors_use_the_same_table(code, error_class):
    exc = classify_webhook_error({"code": code, "title": "t", "message": "m", "error_data": {"details": "d"}, "href": "/docs"})
    assert type(exc) is error_class
    assert exc.http_status is None and exc.details == "d"


def test_pair_backoff():
    assert [pair_backoff_seconds(n) for n in range(4)] == [1, 4, 16, 64]
    assert pair_backoff_seconds(20) == 3600


TEMPLATE_CODES = [100, 131008, 131009, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018]


@pytest.mark.parametrize("code", TEMPLATE_CODES)
def test_every_template_related_code_has_a_meaning_and_a_fix(code):
    """A merchant reads these in check-config, send-test and the delivery records."""
    meaning, fix = explain(code)
    assert meaning and fix and not fix.endswith(".")


def test_a_refused_send_carries_the_meaning_and_the_fix_to_the_record():
    exc = classify(400, {"error": {"code": 132015, "message": "(#132015) Template is Paused", "error_data": {"details": "paused"}}})
    assert exc.meaning == "Template paused for low quality"
    assert exc.fix.startswith("Improve the template")


@pytest.mark.parametrize(
    ("subcode", "details", "meaning"),
    [
        (33, None, "The phone number id or business account id does not exist"),
        (None, "Parameter name is missing or empty", "A named template was sent parameters without names"),
        (None, "Invalid parameter", "Invalid parameter in the request"),
    ],
)
def test_code_100_is_explained_by_its_subcode_or_details(subcode, details, meaning):
    found, fix = explain(100, subcode, details)
    assert found.startswith(meaning) and fix
