"""Stripe webhook signatures: verification with the stripe SDK, and signing for `bridge simulate`.

Verification runs on the raw body bytes against every configured secret (several are valid
while a secret is rolled), with the configured tolerance for the timestamp's age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

import stripe

from bridge.errors import PayloadError, SignatureError


def verify_signature(payload: bytes, header: str | None, secrets: Sequence[str], tolerance: int) -> None:
    """Raise SignatureError unless `header` is a fresh Stripe signature of `payload` by one secret."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    if not secrets:
        raise SignatureError("no webhook secret is configured")
    last: Exception | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=tolerance)
            return
        except UnicodeDecodeError:
            # The SDK decodes the body as UTF-8; Stripe only ever sends UTF-8 JSON.
            raise PayloadError("body is not valid JSON (not UTF-8)") from None
        except stripe.SignatureVerificationError as exc:
            last = exc
            if "tolerance" in str(exc).lower():
                break  # the timestamp is stale whatever the secret
    reason = str(last.user_message if isinstance(last, stripe.SignatureVerificationError) and last.user_message else last)
    raise SignatureError(reason.split("\n")[0] if reason else "invalid signature")


def parse_event(payload: bytes) -> dict[str, Any]:
    """The body as a Stripe event dict, or PayloadError if it is not one."""
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("body is not valid JSON") from None
    except RecursionError:  # json's parser recurses once per level; Stripe events are a few deep
        raise PayloadError("body is nested too deeply to be a Stripe event") from None
    return check_event_shape(event)


def check_event_shape(event: Any) -> dict[str, Any]:
    """`event` if it has a Stripe event's shape (object, id, type, data.object), else PayloadError."""
    if not isinstance(event, dict) or event.get("object") != "event":
        raise PayloadError('body is not a Stripe event (object must be "event")')
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise PayloadError("event id must be a string starting with evt_")
    if not isinstance(event_type, str) or not event_type:
        raise PayloadError("event type is missing")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise PayloadError("event has no data.object")
    return event


def verify_event(payload: bytes, header: str | None, secrets: Sequence[str], tolerance: int) -> dict[str, Any]:
    """Verify the signature first (nothing unsigned is parsed), then parse the event."""
    verify_signature(payload, header, secrets, tolerance)
    return parse_event(payload)


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header value, computed exactly as Stripe does: HMAC-SHA256 of `t.body`."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
