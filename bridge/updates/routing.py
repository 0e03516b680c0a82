"""Which merchant each part of a post from Meta's webhook belongs to. Pure.

One Meta app (the deployment's, which merchants connect their numbers to) posts for every
merchant to one URL, and a post may carry several entries (one per WhatsApp Business Account)
with several changes. A `messages` change names its number in `value.metadata.phone_number_id`;
a template change names none, so its entry's id (the business account) decides. Whatever no
merchant claims stays with the config file's merchant, as every post did before merchants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Owner = Callable[[str], str | None]
"""An id (phone number id, or business account id) → the account of the merchant it belongs to."""


def split_by_merchant(document: dict[str, Any], by_phone: Owner, by_business: Owner) -> dict[str | None, dict[str, Any]]:
    """`document` (a valid envelope) cut into one post per merchant (None: the file's merchant),
    each with Meta's envelope, its entries and their changes in the original order. A post wholly
    of one merchant comes back as the same object."""
    owners: list[list[str | None]] = []
    for entry in document["entry"]:
        entry_owner = by_business(str(entry.get("id", "")))
        owners.append([_change_owner(change, entry_owner, by_phone) for change in entry["changes"]])
    distinct = {owner for entry_owners in owners for owner in entry_owners}
    if len(distinct) <= 1:
        return {next(iter(distinct), None): document}
    parts: dict[str | None, dict[str, Any]] = {}
    for entry, entry_owners in zip(document["entry"], owners, strict=True):
        changes_of: dict[str | None, list[Any]] = {}
        for change, owner in zip(entry["changes"], entry_owners, strict=True):
            changes_of.setdefault(owner, []).append(change)
        for owner, changes in changes_of.items():
            parts.setdefault(owner, {**document, "entry": []})["entry"].append({**entry, "changes": changes})
    return parts


def _change_owner(change: dict[str, Any], entry_owner: str | None, by_phone: Owner) -> str | None:
    value = change.get("value")
    metadata = value.get("metadata") if isinstance(value, dict) else None
    phone = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    if isinstance(phone, str) and phone:
        return by_phone(phone)
    return entry_owner
