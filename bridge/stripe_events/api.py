"""Stripe's API through the stripe SDK: the one way a client is built and the one place its errors
are translated into the bridge's (the Customer lookup and the backfill both call through here).

    stripe.AuthenticationError, PermissionError → PermanentError naming STRIPE_API_KEY
    stripe.InvalidRequestError                  → PermanentError with Stripe's code and message
                                                  (a 404 is an answer to the Customer lookup: it checks first)
    stripe.APIConnectionError                   → TransientError "Stripe unreachable"
    any other stripe.StripeError (5xx, 429)     → TransientError
"""

from __future__ import annotations

import stripe

from bridge.errors import DeliveryError, PermanentError, TransientError


def stripe_client(api_key: str, api_base_url: str | None = None, *, retries: int = 1) -> stripe.StripeClient:
    """A client for `api_key`, at `api_base_url` when set (`[stripe] api_base_url`: tests, proxies)."""
    base = {"api": api_base_url} if api_base_url else None
    return stripe.StripeClient(api_key, base_addresses=base, max_network_retries=retries)  # type: ignore[arg-type]


def api_base(api_base_url: str | None) -> str:
    """Where requests go, for messages."""
    return api_base_url or stripe.DEFAULT_API_BASE


def translate(exc: stripe.StripeError, what: str, *, then: str, at: str) -> DeliveryError:
    """The bridge's error for a failed call: `what` names the call ("Customer lookup"), `then`
    says what to do once the key is fixed, `at` is the API base. Never carries the key."""
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # Retrying cannot help until the key is fixed.
        return PermanentError(f"Stripe rejected STRIPE_API_KEY for the {what} (HTTP {exc.http_status}); {then}")
    if isinstance(exc, stripe.InvalidRequestError):
        detail = f": {exc.user_message}" if exc.user_message else ""
        return PermanentError(f"Stripe refused the {what}: {exc.code or exc.http_status}{detail}")
    if isinstance(exc, stripe.APIConnectionError):
        return TransientError(f"Stripe unreachable at {at} for the {what}: {type(exc).__name__}")
    # Outages, rate limits: worth retrying later.
    return TransientError(f"Stripe {what} failed: {type(exc).__name__}")
