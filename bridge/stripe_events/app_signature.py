"""The Stripe App request signature: what `fetchStripeSignature()` in the app's view sends.

Stripe signs the compact JSON `{"user_id":"usr_…","account_id":"acct_…"}` (those two keys, in
that order, no spaces) with the app's signing secret, exactly as it signs a webhook; the view
sends the signature in `Stripe-Signature` and the two ids beside it (query parameters on GET,
the JSON body on PUT and POST). Verifying rebuilds that JSON from the ids the request carries: a
request that names another account than the one signed fails like a forged one.

Pure; the stripe SDK's `WebhookSignature.verify_header` does the HMAC and the age check, with an
explicit tolerance (its default checks no age at all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import stripe

from bridge.errors import SignatureError

TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class AppCaller:
    """Who a verified request comes from: a user of one Stripe account."""

    user_id: str
    account_id: str


def signed_payload(user_id: str, account_id: str) -> str:
    """The text Stripe signs for the view: compact JSON, user_id first."""
    return json.dumps({"user_id": user_id, "account_id": account_id}, separators=(",", ":"))


def verify_app_request(
    user_id: object, account_id: object, header: str | None, secret: str, *, tolerance: int = TOLERANCE_SECONDS
) -> AppCaller:
    """The caller, or SignatureError saying what is wrong (nothing about the request is trusted before)."""
    if not secret:
        raise SignatureError("the Stripe App's signing secret is not configured (STRIPE_APP_SECRET)")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    if not isinstance(user_id, str) or not user_id.startswith("usr_"):
        raise SignatureError("user_id must be the signed usr_ id")
    if not isinstance(account_id, str) or not account_id.startswith("acct_"):
        raise SignatureError("account_id must be the signed acct_ id")
    try:
        stripe.WebhookSignature.verify_header(signed_payload(user_id, account_id), header, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        message = str(exc.user_message or exc).split("\n")[0]
        reason = "signature too old" if "tolerance" in message.lower() else "signature does not match this user and account"
        raise SignatureError(reason) from None
    return AppCaller(user_id, account_id)


def sign_app_request(user_id: str, account_id: str, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` value as Stripe makes it for the view (tests, `bridge simulate`)."""
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{signed_payload(user_id, account_id)}", secret)
    return f"t={timestamp},v1={signature}"
