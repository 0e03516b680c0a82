"""Customers who must not be messaged: list, add, remove (an explicit opt-in), check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.consent.check import ConsentCheck, check_customer
from bridge.delivery.optouts import Decided, Scope
from bridge.errors import InvalidRequest, RecipientError, Refusal
from bridge.runtime import Runtime
from bridge.whatsapp.phones import mask_phone, mask_user_id, normalize


def customer_number(rt: Runtime, phone: str) -> str:
    """`phone` as E.164 (national numbers with [whatsapp] default_country), or InvalidRequest."""
    try:
        return normalize(phone, rt.config.whatsapp.default_country)
    except RecipientError as exc:
        raise InvalidRequest(f"phone: {exc}", refusal=Refusal.BAD_PHONE) from None


def shown(identity: str) -> str:
    """An opt-out's identity as it may be shown: a masked number, a user id, or an erased number."""
    if identity.startswith("+"):
        return mask_phone(identity)
    if identity.startswith("hmac:"):
        return "(erased number)"
    return f"user {mask_user_id(identity)}"


def list_optouts(rt: Runtime, scope: Scope | None = None) -> list[dict[str, Any]]:
    """Every opt-out (in `scope`), newest first: who (masked), scope, when, from where."""
    entries = rt.optouts.list((scope,) if scope else tuple(Scope))
    return [{**entry.info, "phone": shown(entry.phone), "scope": str(entry.scope)} for entry in entries]


@dataclass(frozen=True)
class OptOutChange:
    phone: str
    """Masked."""
    scopes: tuple[Scope, ...]
    """The scopes asked for."""
    changed: tuple[Scope, ...]
    """Those where the request changed what is on record."""


def add_optout(rt: Runtime, phone: str, scope: Scope, *, source: str, note: str | None = None) -> OptOutChange:
    """Stop messaging `phone` in `scope` (all: nothing at all; marketing: marketing templates)."""
    number = customer_number(rt, phone)
    decided = rt.optouts.add(number, scope, at=rt.clock(), source=source, note=note)
    return OptOutChange(mask_phone(number), (scope,), (scope,) if decided is not Decided.STALE else ())


def remove_optout(rt: Runtime, phone: str, scope: Scope | None = None, *, source: str) -> OptOutChange:
    """Message `phone` again: record that the customer opted in (again) to `scope` (default every
    scope); `changed` lists the scopes whose opt-out this ended."""
    number = customer_number(rt, phone)
    scopes = (scope,) if scope else tuple(Scope)
    removed = rt.optouts.remove(number, scopes, at=rt.clock(), source=source)
    return OptOutChange(mask_phone(number), scopes, tuple(removed))


def check_optout(rt: Runtime, phone: str) -> ConsentCheck:
    """Would `phone` be messaged, and what is on record about its consent."""
    return check_customer(rt, customer_number(rt, phone))
