"""A customer's own data: everything the bridge holds about one number, and erasing it."""

from __future__ import annotations

from typing import Any

from bridge.errors import InvalidRequest
from bridge.privacy.erase import ErasureReport, erase_customer
from bridge.privacy.export import export_customer
from bridge.runtime import Runtime
from bridge.services.optouts import customer_number


def export(rt: Runtime, phone: str) -> dict[str, Any]:
    """Every record naming `phone`, unmasked: it is the customer's own data (a subject access request)."""
    return export_customer(rt, customer_number(rt, phone))


def erase(rt: Runtime, phone: str, *, confirm: bool) -> ErasureReport:
    """Remove every record naming `phone`, keeping only a hashed opt-out; only when `confirm`ed."""
    if not confirm:
        raise InvalidRequest("confirm: an erase cannot be undone: ask again with confirm true")
    return erase_customer(rt, customer_number(rt, phone), now=rt.clock())
