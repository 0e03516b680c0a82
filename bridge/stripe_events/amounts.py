"""What an event was about in money: the amount a payment, refund or invoice carried. Pure.

For the settings page's log and delivery pages, which show it in the merchant's locale; the
messages themselves take amounts from their mappings' expressions, not from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AMOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    # The first non-zero one wins: what was received, else what was asked for (a failed payment
    # received 0; its amount is still what the customer tried to pay).
    "payment_intent": ("amount_received", "amount"),
    "charge": ("amount_captured", "amount"),
    "checkout.session": ("amount_total",),
    "invoice": ("amount_paid", "amount_due"),
    "refund": ("amount",),
    "credit_note": ("total",),
    "payout": ("amount",),
    "dispute": ("amount",),
}
REFUND_FIELDS = ("amount_refunded",)
"""charge.refunded: what was refunded is the news, not what was charged."""


@dataclass(frozen=True)
class Amount:
    minor: int
    """In the currency's minor unit, as Stripe sends it (1250 = $12.50; 500 = ¥500)."""
    currency: str


def event_amount(event: Mapping[str, Any]) -> Amount | None:
    """The amount `event`'s object carried, or None when it has none (a customer update, say)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return None
    currency = obj.get("currency")
    fields = AMOUNT_FIELDS.get(str(obj.get("object")), ())
    if event.get("type") == "charge.refunded":
        fields = REFUND_FIELDS + fields
    if not isinstance(currency, str) or not currency:
        return None
    present = [value for name in fields if isinstance(value := obj.get(name), int) and not isinstance(value, bool)]
    if not present:
        return None
    return Amount(next((value for value in present if value), present[0]), currency)
