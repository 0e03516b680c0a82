"""`GET|POST /whatsapp/webhook`: Meta's subscription handshake, and its signed posts.

Order of the POST view: size limit (413) → an app secret must be configured (503: never accept
unsigned posts) → `X-Hub-Signature-256` over the raw bytes (401) → Meta's envelope (400) → one
Redis step that stores the post with the job that processes it (503 if Redis is away) → 200.
Nothing is stored on any non-200 answer. Inside a valid envelope nothing is refused: a 4xx makes
Meta retry for days and eventually disable the webhook, so what the bridge does not act on is
answered 200 and counted by the job.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from bridge.errors import SignatureError, StoreUnavailable
from bridge.merchants.registry import Route
from bridge.observability.logs import log_fields
from bridge.observability.metrics import Received, Webhook, event_unrouted, meta_post_received, signature_failed
from bridge.runtime import Runtime
from bridge.updates import ingest
from bridge.updates.routing import split_by_merchant
from bridge.web.common import limited_body, merchants, runtime, status_response
from bridge.web.errors import error_response
from bridge.whatsapp.signature import HEADER, verify_meta_signature
from bridge.whatsapp.webhook import WABA_OBJECT, EnvelopeError, validate_envelope

logger = logging.getLogger(__name__)

whatsapp_webhook = Blueprint("whatsapp_webhook", __name__)


@whatsapp_webhook.get("/whatsapp/webhook")
def handshake():
    """Meta's verification request: echo `hub.challenge` when the verify token matches."""
    token = runtime().config.whatsapp.verify_token
    given = request.args.get("hub.verify_token", "")
    mode_ok = request.args.get("hub.mode") == "subscribe"
    # Constant time, and no early return on an unset token: how long this takes tells nothing.
    token_ok = hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8")) and bool(token)
    if not (mode_ok and token_ok):
        if not token:
            logger.warning("Meta's webhook handshake refused: no [whatsapp] verify_token / WHATSAPP_VERIFY_TOKEN is configured")
        else:
            logger.warning("Meta's webhook handshake refused: wrong hub.mode or hub.verify_token")
        return Response("Forbidden", status=403, mimetype="text/plain")
    return Response(request.args.get("hub.challenge", ""), status=200, mimetype="text/plain")


@whatsapp_webhook.post("/whatsapp/webhook")
def receive():
    """Verify, store and queue; 200 within milliseconds, so Meta never retries a post we have."""
    rt = runtime()
    try:
        body = limited_body()
    except HTTPException:  # too large (413) or too slow (408)
        meta_post_received(Received.REJECTED)
        raise
    secret = rt.config.whatsapp.app_secret
    if not secret:
        meta_post_received(Received.UNCONFIGURED)
        logger.error(
            "refused a post to /whatsapp/webhook: no [whatsapp] app_secret / WHATSAPP_APP_SECRET is configured, "
            "so its signature cannot be checked (Meta retries for 7 days: set it and nothing is lost)"
        )
        return error_response(503, "the webhook's app secret is not configured")
    try:
        verify_meta_signature(body, request.headers.get(HEADER), secret)
    except SignatureError as exc:
        logger.warning("meta post rejected", extra=log_fields(outcome="rejected", reason=f"signature: {exc}"))
        signature_failed(Webhook.WHATSAPP)
        meta_post_received(Received.REJECTED)
        return error_response(401, f"signature verification failed: {exc}")
    try:
        document = _json(body)
        validate_envelope(document)
    except EnvelopeError as exc:
        logger.warning("meta post rejected", extra=log_fields(outcome="rejected", reason=str(exc)))
        meta_post_received(Received.REJECTED)
        return error_response(400, str(exc))
    try:
        new = _accept(rt, body, document)  # type: ignore[arg-type]
    except StoreUnavailable as exc:
        logger.error("Redis unavailable, answering 503 so Meta retries its post", extra=log_fields(outcome="unavailable", reason=str(exc)))
        meta_post_received(Received.UNAVAILABLE)
        return error_response(503, "temporarily unavailable, retry later")
    meta_post_received(Received.QUEUED if new else Received.DUPLICATE)
    return status_response("queued" if new else "duplicate")


def _accept(rt: Runtime, body: bytes, document: dict[str, Any]) -> bool:
    """Store and queue the post for the merchant it is about, or each part for its merchant
    (`bridge.updates.routing`); a post for the file's merchant alone is stored as its bytes came.
    A part stored before a Redis failure is found again by its digest when Meta retries."""
    registry = merchants()
    registry.refresh()
    if document.get("object") != WABA_OBJECT or not registry.has_merchants:
        return ingest.accept(rt, body)
    parts = split_by_merchant(document, registry.account_for_phone, registry.account_for_business)
    if list(parts) == [None]:
        return ingest.accept(rt, body)
    new = False
    for account, part in parts.items():
        routed = registry.route(account)
        if routed.route is Route.BROKEN:
            raise StoreUnavailable(f"merchant {account} cannot be served right now")
        if routed.runtime is None:
            logger.info("meta post part ignored", extra=log_fields(account=account, reason=routed.route.value, outcome="ignored"))
            event_unrouted(routed.route.value, Webhook.WHATSAPP)
            continue
        held = routed.route is not Route.SERVED  # kept under its keys, processed first once it is served again
        if held:
            logger.info("meta post part kept", extra=log_fields(account=account, reason=routed.route.value, outcome="kept"))
        part_body = body if part is document else json.dumps(part, separators=(",", ":"), sort_keys=True).encode()
        new = ingest.accept(routed.runtime, part_body, first=held) or new
    return new


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeError("not a webhook post from Meta: the body is not JSON") from exc
    except RecursionError:
        raise EnvelopeError("not a webhook post from Meta: the body is nested too deeply") from None
