"""`bridge customer export`: every record the bridge holds about one number, as one JSON document.

    {
      "phone": "+14155550123",
      "identities": ["+14155550123", "US.1349..."],     the number's forms, then linked user ids
      "consent": {"optout": {scope: {identity: {"at", "source", ...}}}, "optin": {...}},
      "deliveries": [record + "history": [{"status", "at", "by", ...}]],   oldest first
      "events": [the Stripe events as stored],             oldest first
      "whatsapp_updates": [items of Meta's posts not processed yet: statuses, messages, contacts],
      "outbox": [dry-run entries: {"delivery_id" or "reply_to", "at", "request"}],
      "jobs": [{"id", "func", "status"}],                  RQ jobs naming a delivery or the number
      "erased": false                                      true when only a hashed opt-out remains
    }

Numbers are not masked: it is the customer's own data. Consent includes an opt-out kept under the
number's hash after an erase, under the identity "(erased number)".
"""

from __future__ import annotations

import json
from typing import Any

from bridge.privacy.records import CustomerData, find_customer
from bridge.runtime import Runtime

ERASED_IDENTITY = "(erased number)"
"""How an opt-out kept under the number's hash is shown (as `bridge optout list` shows it)."""


def export_customer(rt: Runtime, phone: str) -> dict[str, Any]:
    """Everything the bridge holds about `phone` (E.164), ready for `json.dumps`."""
    return export_document(find_customer(rt, phone))


def export_document(data: CustomerData) -> dict[str, Any]:
    """The export of what `find_customer` found (pure)."""
    consent = {kind: {scope: dict(entries) for scope, entries in by_scope.items()} for kind, by_scope in data.consent.items()}
    for scope, info in data.hashed.items():
        consent.setdefault("optout", {}).setdefault(scope, {})[ERASED_IDENTITY] = info
    deliveries = sorted(data.deliveries.values(), key=lambda r: (r.get("created_at") or 0, r["id"]))
    events = sorted((e for e in data.events.values() if e is not None), key=lambda e: (e.get("created") or 0, e.get("id", "")))
    return {
        "phone": data.phone,
        "identities": data.identities,
        "consent": consent,
        "deliveries": deliveries,
        "events": events,
        "whatsapp_updates": [item for post in data.posts for item in post.removed],
        "outbox": [_entry(entry) for entry in data.outbox],
        "jobs": [{"id": job.id, "func": job.func, "status": job.status} for job in data.jobs],
        "erased": bool(data.hashed) and data.nothing_found,
    }


def _entry(stored: bytes) -> Any:
    try:
        return json.loads(stored)
    except ValueError:
        return stored.decode("utf-8", "replace")
