"""Realistic Stripe sample events (one JSON file per event type), used by `simulate`,
`check-config` and the tests."""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from functools import cache
from importlib import resources
from typing import Any

from bridge.stripe_events.recipient import PHONE_PATHS

DEFAULT_PHONE = "+14155550123"
"""The customer's number in the sample events (a 555 test number)."""


@cache
def _load(event_type: str) -> dict[str, Any]:
    path = resources.files(__package__) / f"{event_type}.json"
    if not path.is_file():
        raise KeyError(event_type)
    return json.loads(path.read_text(encoding="utf-8"))


def event_types() -> list[str]:
    """Event types that have a sample, sorted."""
    return sorted(
        p.name.removesuffix(".json") for p in resources.files(__package__).iterdir() if p.name.endswith(".json") and p.name.count(".") >= 2
    )


def sample_event(event_type: str) -> dict[str, Any]:
    """A deep copy of the stored sample event (safe to modify)."""
    return copy.deepcopy(_load(event_type))


def sample_customer() -> dict[str, Any]:
    """The Customer the sample events belong to."""
    return copy.deepcopy(_load("customer"))


_OBJECT_ID = re.compile(r'"((?:pi|ch|re|in|dp|cs_test|cs_live|txn|il)_[A-Za-z0-9]{10,})"')


def fresh_event(event_type: str, *, phone: str | None = None, now: int | None = None, payment: str | None = None) -> dict[str, Any]:
    """A sample event with a new event id and timestamp, like one `stripe trigger` would cause.

    With `phone`, the number is written wherever the object keeps its phone. Every object id
    (PaymentIntent, Charge, Refund, Invoice, ...) gets the suffix `payment` (random by default),
    so events made with the same `payment` are about the same payment and others are not.
    """
    tag = re.sub(r"[^A-Za-z0-9]", "", payment if payment is not None else secrets.token_hex(4))
    event = json.loads(_OBJECT_ID.sub(lambda m: f'"{m.group(1)}{tag}"', json.dumps(_load(event_type))))
    event["id"] = "evt_" + secrets.token_hex(12)
    event["created"] = int(time.time() if now is None else now)
    if phone is not None:
        set_phone(event["data"]["object"], phone)
    return event


def set_phone(obj: dict[str, Any], phone: str) -> None:
    """Replace the phone at every path where the object has one (else set metadata.whatsapp)."""
    replaced = False
    for path in PHONE_PATHS:
        parent = obj
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(parent.get(path[-1]), str):
            parent[path[-1]] = phone
            replaced = True
    if not replaced:
        obj.setdefault("metadata", {})["whatsapp"] = phone
