"""Fetching a Stripe Customer (for its phone and name) with the stripe SDK."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import stripe

from bridge.stripe_events.api import api_base, stripe_client, translate

logger = logging.getLogger(__name__)


class CustomerLookup:
    """Retrieves Customers by id; a missing or deleted Customer is None, outages are transient,
    a rejected key or request is permanent (`bridge.stripe_events.api.translate`)."""

    def __init__(self, api_key: str, *, api_base_url: str | None = None):
        self._client = stripe_client(api_key, api_base_url)
        self._at = api_base(api_base_url)

    def get(self, customer_id: str) -> Mapping[str, Any] | None:
        try:
            customer = self._client.v1.customers.retrieve(customer_id)
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                return None
            # A fixed key lets the failed records be replayed; outages are retried with backoff.
            raise translate(exc, "Customer lookup", then="fix the key, then `bridge replay --failed`", at=self._at) from None
        data = customer.to_dict()
        if data.get("deleted"):
            return None
        return data
