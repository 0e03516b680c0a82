"""Fetching a Stripe Customer (for its phone and name) with the stripe SDK."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import stripe

from bridge.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)


class CustomerLookup:
    """Retrieves Customers by id; a missing or deleted Customer is None, outages are transient,
    a rejected key or request is permanent."""

    def __init__(self, api_key: str, *, api_base_url: str | None = None):
        base = {"api": api_base_url} if api_base_url else None
        self._client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=1)  # type: ignore[arg-type]

    def get(self, customer_id: str) -> Mapping[str, Any] | None:
        try:
            customer = self._client.v1.customers.retrieve(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise PermanentError(f"Stripe refused the Customer lookup: {exc.code or exc.http_status}") from None
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # Retrying cannot help until the key is fixed; the failed records can then be replayed.
            raise PermanentError(
                f"Stripe rejected STRIPE_API_KEY for the Customer lookup (HTTP {exc.http_status}); "
                "fix the key, then `bridge replay --failed`"
            ) from None
        except stripe.StripeError as exc:
            # Outages, rate limits, network errors: retried with backoff, then recorded as failed.
            raise TransientError(f"Stripe Customer lookup failed: {type(exc).__name__}") from None
        data = customer.to_dict()
        if data.get("deleted"):
            return None
        return data
