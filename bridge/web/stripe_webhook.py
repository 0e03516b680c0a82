"""`POST /stripe/webhook`: verify, dedupe and enqueue in milliseconds; never talk to WhatsApp here.

Order of the view (as dj-stripe's): size limit → signature over the raw bytes → parse → one
atomic Redis step that dedupes and enqueues → 200. Nothing is stored on any non-200 answer.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request
from werkzeug.exceptions import HTTPException

from bridge.delivery import ingest
from bridge.errors import PayloadError, SignatureError, StoreUnavailable
from bridge.observability.logs import log_fields
from bridge.observability.metrics import UNKNOWN_TYPE, Received, Webhook, event_received, signature_failed
from bridge.stripe_events.signature import verify_event
from bridge.web.common import limited_body, runtime, status_response
from bridge.web.errors import error_response

logger = logging.getLogger(__name__)

stripe_webhook = Blueprint("stripe_webhook", __name__)


@stripe_webhook.post("/stripe/webhook")
def receive():
    """Verify, dedupe and enqueue; answer 503 when Redis is away so Stripe retries."""
    rt = runtime()
    try:
        payload = limited_body()
    except HTTPException:  # too large (413) or too slow (408)
        event_received(UNKNOWN_TYPE, Received.REJECTED)
        raise
    stripe_settings = rt.config.stripe
    try:
        event = verify_event(
            payload, request.headers.get("Stripe-Signature"), stripe_settings.webhook_secrets, stripe_settings.tolerance_seconds
        )
    except SignatureError as exc:
        logger.warning("stripe event rejected", extra=log_fields(outcome="rejected", reason=f"signature: {exc}"))
        signature_failed(Webhook.STRIPE)
        event_received(UNKNOWN_TYPE, Received.REJECTED)
        return error_response(400, f"signature verification failed: {exc}")
    except PayloadError as exc:
        logger.warning("stripe event rejected", extra=log_fields(outcome="rejected", reason=str(exc)))
        event_received(UNKNOWN_TYPE, Received.REJECTED)
        return error_response(400, str(exc))
    try:
        outcome = ingest.accept(rt, event, payload)
    except StoreUnavailable as exc:
        logger.error(
            "Redis unavailable, answering 503 so Stripe retries",
            extra=log_fields(event_id=event["id"], event_type=event["type"], outcome="unavailable", reason=str(exc)),
        )
        event_received(event["type"], Received.UNAVAILABLE)
        return error_response(503, "temporarily unavailable, retry later")
    event_received(event["type"], Received(outcome))
    return status_response(outcome)
