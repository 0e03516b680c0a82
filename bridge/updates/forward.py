"""Forwarding customers' other messages to a helpdesk (`[consent] forward_url`).

The helpdesk receives a JSON POST signed as Stripe signs its webhooks, with `[consent]
forward_secret`: header `Bridge-Signature: t=<unix time>,v1=<HMAC-SHA256 hex of "t.body">`, so
the same verification code works (and a stale `t` tells a replay). A 2xx ends it; a helpdesk that
is down or answers 5xx/408/429 gets it again later (`defaults.FORWARD_RETRY_INTERVALS`, through
RQ's retry); any other 4xx is a refusal: logged, counted, not asked again.

This module translates httpx's errors for the forward, as `bridge.whatsapp.client` does for Meta.
"""

from __future__ import annotations

import logging

import httpx

from bridge import defaults
from bridge.errors import TransientError
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.stripe_events.signature import sign_payload

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})


class ForwardFailed(TransientError):
    """The helpdesk could not take the message now; RQ retries the job."""


def forward(rt: Runtime, document: str) -> str:
    """POST one customer's message to the helpdesk; returns forwarded, refused or not configured."""
    url, secret = rt.config.consent.forward_url, rt.config.consent.forward_secret
    if not url or not secret:
        return "not configured"
    body = document.encode("utf-8")
    headers = {"Content-Type": "application/json", defaults.FORWARD_SIGNATURE_HEADER: sign_payload(body, secret, int(rt.clock()))}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=defaults.FORWARD_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise ForwardFailed(f"the helpdesk at {_origin(url)} could not be reached: {type(exc).__name__}") from None
    if response.is_success:
        rt.store.count("inbound forwarded")
        return "forwarded"
    if response.status_code >= 500 or response.status_code in RETRIED_STATUSES:
        raise ForwardFailed(f"the helpdesk at {_origin(url)} answered {response.status_code}")
    rt.store.count("inbound forward refused")
    values = log_fields(outcome="refused", http_status=response.status_code)
    logger.error("the helpdesk at %s refused a forwarded message with %d: not sent again", _origin(url), response.status_code, extra=values)
    return "refused"


def _origin(url: str) -> str:
    """Where the helpdesk is, without a path or query that might carry a token."""
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.host}" + (f":{parts.port}" if parts.port else "")
