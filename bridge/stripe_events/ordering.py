"""Which payment a Stripe object belongs to, so notices about one payment go out in order.

Rule (README, "Delivery guarantees"): deliveries that share an order key are sent in the order
of their events' `created` time. A delivery waits while an earlier one for the same key is
still pending (at most `[delivery] order_wait_seconds`), and a delivery whose event is older
than one already sent for the same key is skipped as superseded: a "payment received" that
arrives after the refund notice went out is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def order_key(event_type: str, obj: Mapping[str, Any]) -> str | None:
    """The payment (PaymentIntent, else Charge/Invoice/Session id) an event's notices are about."""
    object_type = obj.get("object")
    candidates: tuple[str, ...]
    if object_type == "payment_intent":
        candidates = ("id",)
    elif object_type in ("charge", "refund", "dispute"):
        candidates = ("payment_intent", "charge", "id")
    elif object_type == "checkout.session":
        candidates = ("payment_intent", "id")
    elif object_type == "invoice":
        candidates = ("id",)
    else:
        return None
    for field in candidates:
        value = obj.get(field)
        if isinstance(value, Mapping):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    return None
