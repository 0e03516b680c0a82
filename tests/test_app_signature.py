"""The Stripe App request signature: good, bad, stale, and signed for another account or user."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from bridge.errors import SignatureError
from bridge.stripe_events.app_signature import AppCaller, sign_app_request, signed_payload, verify_app_request

SECRET = "absec_test_0123456789abcdef"
USER, ACCOUNT = "usr_K3jHb1", "acct_1Nv0FGQ9RKHgCVdK"


def stripe_signs(user: str, account: str, secret: str = SECRET, at: int | None = None) -> str:
    """Built by hand from Stripe's documented scheme, not through the code under test."""
    timestamp = int(time.time()) if at is None else at
    payload = f'{{"user_id":"{user}","account_id":"{account}"}}'
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_the_signed_text_is_compact_json_with_user_id_first():
    assert signed_payload(USER, ACCOUNT) == '{"user_id":"usr_K3jHb1","account_id":"acct_1Nv0FGQ9RKHgCVdK"}'
    assert sign_app_request(USER, ACCOUNT, SECRET, 1_767_225_600) == stripe_signs(USER, ACCOUNT, at=1_767_225_600)


def test_a_good_signature_names_the_caller():
    assert verify_app_request(USER, ACCOUNT, stripe_signs(USER, ACCOUNT), SECRET) == AppCaller(USER, ACCOUNT)


@pytest.mark.parametrize(
    ("user", "account", "header", "said"),
    [
        (USER, "acct_OTHER000000", stripe_signs(USER, ACCOUNT), "does not match"),  # asks for another account
        ("usr_other", ACCOUNT, stripe_signs(USER, ACCOUNT), "does not match"),
        (USER, ACCOUNT, stripe_signs(USER, ACCOUNT, secret="absec_another_secret"), "does not match"),
        (USER, ACCOUNT, stripe_signs(USER, ACCOUNT, at=int(time.time()) - 301), "too old"),
        (USER, ACCOUNT, "", "missing Stripe-Signature"),
        (USER, ACCOUNT, "t=abc,v1=zzz", "does not match"),
        ("", ACCOUNT, stripe_signs("", ACCOUNT), "user_id"),
        (None, ACCOUNT, stripe_signs(USER, ACCOUNT), "user_id"),
        (USER, ["acct_x"], stripe_signs(USER, ACCOUNT), "account_id"),
    ],
    ids=["other-account", "other-user", "other-secret", "stale", "no-header", "garbled", "empty-user", "no-user", "list-account"],
)
def test_anything_else_is_refused_with_the_reason(user, account, header: str, said: str):
    with pytest.raises(SignatureError, match=said):
        verify_app_request(user, account, header, SECRET)


def test_without_a_configured_secret_nothing_is_accepted():
    with pytest.raises(SignatureError, match="STRIPE_APP_SECRET"):
        verify_app_request(USER, ACCOUNT, stripe_signs(USER, ACCOUNT, secret=""), "")
