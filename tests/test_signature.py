from __future__ import annotations

import json
import time

import pytest
import stripe

from bridge.errors import PayloadError, SignatureError
from bridge.stripe_events.signature import parse_event, sign_payload, verify_event, verify_signature

BODY = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}).encode()


def test_sign_payload_is_accepted_by_the_stripe_sdk():
    """The SDK is the oracle: our signer must produce what Stripe produces."""
    header = sign_payload(BODY, "whsec_abc")
    event = stripe.Webhook.construct_event(BODY, header, "whsec_abc", tolerance=300)
    assert event["id"] == "evt_1"


def test_known_vector():
    # HMAC-SHA256("whsec_test", "1700000000.{}") computed independently of this module.
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign_payload(b"{}", "whsec_test", 1700000000) == f"t=1700000000,v1={expected}"


def test_any_configured_secret_verifies():
    header = sign_payload(BODY, "whsec_new")
    verify_signature(BODY, header, ["whsec_old", "whsec_new"], 300)


def test_header_with_two_v1_signatures_during_roll():
    t = int(time.time())
    old = sign_payload(BODY, "whsec_old", t).split(",")[1]
    new = sign_payload(BODY, "whsec_new", t)
    verify_signature(BODY, f"{new},{old}", ["whsec_old"], 300)


@pytest.mark.parametrize(
    ("header", "secrets", "message"),
    [
        (None, ["whsec_a"], "missing"),
        ("", ["whsec_a"], "missing"),
        ("t=1,v1=00", [], "no webhook secret"),
        (sign_payload(BODY, "whsec_b"), ["whsec_a"], "No signatures found"),
        (sign_payload(BODY, "whsec_a", int(time.time()) - 1000), ["whsec_x", "whsec_a"], "tolerance"),
    ],
)
def test_rejections(header, secrets, message):
    with pytest.raises(SignatureError, match=message):
        verify_signature(BODY, header, secrets, 300)


def test_verify_event_checks_the_signature_before_parsing():
    with pytest.raises(SignatureError):
        verify_event(b"not json", "t=1,v1=00", ["whsec_a"], 300)


def test_parse_event_rejects_non_events():
    with pytest.raises(PayloadError):
        parse_event(b'{"object": "charge"}')
    assert parse_event(BODY)["type"] == "invoice.paid"
