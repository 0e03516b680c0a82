"""`POST /stripe/webhook`: verify, dedupe and enqueue in milliseconds; never talk to WhatsApp here.

Order of the view (as dj-stripe's): size limit → signature over the raw bytes → parse → the
merchant the event's `account` selects → one atomic Redis step that dedupes and enqueues under
that merchant's keys and onto its queue → 200. Nothing is stored on any non-200 answer.

Events of every install reach this one endpoint: the Stripe App's (or the Connect platform's)
Connect endpoint sends each connected account's events with its `account`; the deployment's own
account endpoint sends the file's merchant's events without one. Both endpoints' signing secrets
go in STRIPE_WEBHOOK_SECRET. An account that is no active merchant is answered 200 `ignored` and
counted; installs and uninstalls change the merchants (`bridge.merchants.installs`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from bridge.delivery import ingest
from bridge.errors import PayloadError, SignatureError, StoreUnavailable
from bridge.merchants.installs import INSTALL_EVENTS, InstallOutcome, apply_install_event
from bridge.merchants.registry import Route
from bridge.observability.logs import log_fields
from bridge.observability.metrics import UNKNOWN_TYPE, Received, Webhook, event_received, event_unrouted, signature_failed
from bridge.stripe_events.signature import verify_event
from bridge.web.common import limited_body, merchants, runtime, status_response
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
        if event["type"] in INSTALL_EVENTS:
            return _install(event)
        account = event.get("account")
        if account:
            routed = merchants().route(account if isinstance(account, str) else "?")
            if routed.route is not Route.SERVED or routed.runtime is None:
                return _unrouted(event, routed.route)
            rt = routed.runtime
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


def _install(event: dict) -> Response:
    """An install or uninstall of the Stripe App: the merchant's record changes here, at once."""
    outcome = apply_install_event(merchants().store, event)
    logger.info(
        f"stripe app {outcome.value}",
        extra=log_fields(event_id=event["id"], event_type=event["type"], account=event.get("account"), outcome=outcome.value),
    )
    applied = outcome in (InstallOutcome.INSTALLED, InstallOutcome.UNINSTALLED)
    event_received(event["type"], Received.APPLIED if applied else Received.IGNORED)
    return status_response(outcome.value if applied else "ignored")


def _unrouted(event: dict, route: Route) -> Response:
    """An account that is no active merchant: 200 `ignored` (counted), or 503 while its merchant
    cannot be served (its events must wait for the fix, not be lost)."""
    fields = log_fields(event_id=event["id"], event_type=event["type"], account=event.get("account"), reason=route.value)
    if route is Route.BROKEN:
        logger.error("stripe event for a merchant that cannot be served, answering 503 so Stripe retries", extra=fields)
        event_received(event["type"], Received.UNAVAILABLE)
        return error_response(503, "this account's merchant cannot be served right now, retry later")
    logger.info("stripe event ignored", extra={**fields, "outcome": "ignored"})
    event_received(event["type"], Received.IGNORED)
    event_unrouted(route.value)
    return status_response("ignored")
