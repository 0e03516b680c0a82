"""The Stripe event types a mapping may name: every type the pinned stripe SDK knows."""

from __future__ import annotations

import typing

import stripe


def _known_event_types() -> frozenset[str]:
    """Read from the SDK's typed Event class, so a new SDK pin brings new types with it."""
    try:
        return frozenset(typing.get_args(stripe.Event.__annotations__["type"]))
    except (AttributeError, KeyError, TypeError):  # pragma: no cover - SDK layout changed
        return frozenset()


KNOWN_EVENT_TYPES = _known_event_types()
