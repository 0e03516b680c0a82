"""The example config's mappings send nothing that would confuse a customer: no refund notice for
an amount of 0, no invoice notice without an invoice number."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.delivery.records import Status
from tests.conftest import Bridge, event_of


@pytest.mark.parametrize(
    ("event_type", "changes"),
    [
        ("charge.refunded", {"amount_refunded": 0}),
        ("refund.created", {"amount": 0}),
        ("invoice.paid", {"number": None, "status": "draft"}),
        ("invoice.payment_failed", {"number": None, "status": "draft"}),
    ],
)
def test_the_example_skips_notices_that_would_say_nothing(dry_bridge: Bridge, event_type: str, changes: dict[str, Any]):
    assert dry_bridge.post(event_of(event_type, **changes)).get_json() == {"status": "queued"}
    dry_bridge.work()
    (record,) = dry_bridge.deliveries()
    assert (record["status"], record["reason"]) == (Status.SKIPPED, "the mapping's `when` filter is false for this event")
    assert dry_bridge.store.outbox() == []
