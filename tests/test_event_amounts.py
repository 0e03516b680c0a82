"""The amount an event carried, as the settings page shows it next to each delivery."""

from __future__ import annotations

import pytest

from bridge.stripe_events import samples
from bridge.stripe_events.amounts import Amount, event_amount


@pytest.mark.parametrize(
    ("event_type", "changes", "expected"),
    [
        ("payment_intent.succeeded", {"amount_received": 1250, "amount": 1300}, Amount(1250, "usd")),
        ("payment_intent.payment_failed", {"amount_received": 0, "amount": 1300}, Amount(1300, "usd")),
        ("charge.refunded", {"amount": 5000, "amount_refunded": 1500}, Amount(1500, "usd")),
        ("checkout.session.completed", {"amount_total": 500, "currency": "jpy"}, Amount(500, "jpy")),
        ("invoice.paid", {"amount_paid": 4200, "amount_due": 4200}, Amount(4200, "usd")),
        ("invoice.payment_failed", {"amount_paid": 0, "amount_due": 4200}, Amount(4200, "usd")),
        ("refund.created", {"amount": 700, "currency": "kwd"}, Amount(700, "kwd")),
        ("charge.dispute.created", {"amount": 1999}, Amount(1999, "usd")),
        ("invoice.paid", {"amount_paid": 0, "amount_due": 0}, Amount(0, "usd")),
    ],
)
def test_the_amount_is_what_the_event_s_object_carried(event_type: str, changes: dict, expected: Amount):
    event = samples.sample_event(event_type)
    event["data"]["object"].update({"currency": "usd"} | changes)
    assert event_amount(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"data": None},
        {"data": {"object": "a string"}},
        {"type": "customer.updated", "data": {"object": {"object": "customer", "id": "cus_1"}}},
        {"data": {"object": {"object": "payment_intent", "amount": 100}}},  # no currency
        {"data": {"object": {"object": "payment_intent", "amount": "100", "currency": "usd"}}},
        {"data": {"object": {"object": "payment_intent", "amount": True, "currency": "usd"}}},
    ],
)
def test_an_event_without_an_amount_has_none(event: dict):
    assert event_amount(event) is None
