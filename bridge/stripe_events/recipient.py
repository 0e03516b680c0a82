"""Where a Stripe object keeps the customer's phone number, and the fallback to the Customer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Paths tried in order; each object type has only some of them (Checkout Session:
# customer_details; Charge: billing_details/shipping; PaymentIntent: shipping; Invoice:
# customer_phone; Refund and others: only metadata, which merchants often use for this).
PHONE_PATHS: tuple[tuple[str, ...], ...] = (
    ("customer_details", "phone"),
    ("billing_details", "phone"),
    ("shipping", "phone"),
    ("customer_phone",),
    ("metadata", "whatsapp"),
    ("metadata", "phone"),
)

CustomerFetcher = Callable[[str], Mapping[str, Any] | None]


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def phone_on_object(obj: Mapping[str, Any]) -> str | None:
    """The first non-empty phone number found on a Stripe object, as written there."""
    for path in PHONE_PATHS:
        value = _dig(obj, path)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def customer_id(obj: Mapping[str, Any]) -> str | None:
    """The Customer an object belongs to (`customer` may be an id or an expanded object)."""
    value = obj.get("customer")
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value.startswith("cus_") else None


def phone_on_customer(customer: Mapping[str, Any] | None) -> str | None:
    """A Customer's phone: `phone`, then `metadata.whatsapp`/`metadata.phone`, then shipping."""
    if not customer:
        return None
    for path in (("metadata", "whatsapp"), ("phone",), ("metadata", "phone"), ("shipping", "phone")):
        value = _dig(customer, path)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def phone_for(rendered: str | None, obj: Mapping[str, Any], customer: Mapping[str, Any] | None) -> str | None:
    """The customer's number as written: the mapping's `recipient`, else the object's, else the Customer's."""
    return rendered or phone_on_object(obj) or phone_on_customer(customer)


def preferred_locales(obj: Mapping[str, Any], customer: Mapping[str, Any] | None) -> list[str]:
    """The customer's languages, best first: their Customer's `preferred_locales`, then a Checkout
    Session's `locale` (Checkout offers no Arabic: an Arabic speaker's comes from the Customer)."""
    locales = customer.get("preferred_locales") if customer else None
    found = [code for code in locales if isinstance(code, str)] if isinstance(locales, list) else []
    if obj.get("object") == "checkout.session" and isinstance(obj.get("locale"), str):
        found.append(obj["locale"])
    return found
