"""Recipients: a number is normalized to what Meta expects, or refused with the reason; never guessed."""

from __future__ import annotations

import pytest

from bridge.errors import RecipientError
from bridge.stripe_events import samples
from bridge.whatsapp.phones import normalize
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI


@pytest.mark.parametrize(
    "raw",
    ["+1 415 abc 0123", "+1-800-FLOWERS", "+44 20 7946 0958 ext. 123", "+1 415 555 O123", "+٩٦٥ 5000 0000 x"],
)
def test_a_number_with_letters_is_refused_not_turned_into_digits(raw: str):
    with pytest.raises(RecipientError, match="contains letters"):
        normalize(raw)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+52 1 55 1234 5678", "+525512345678"),  # Mexico's old mobile form
        ("+5215512345678", "+525512345678"),
        ("+52 55 1234 5678", "+525512345678"),
        ("+54 9 11 1234 5678", "+5491112345678"),  # Argentina's mobile form, sent as given
    ],
)
def test_latin_american_mobile_prefixes_are_sent_as_meta_expects(raw: str, e164: str):
    assert normalize(raw) == e164


def test_a_payment_with_a_vanity_number_is_skipped_with_the_reason(bridge: Bridge, fake_graph: FakeGraphAPI):
    bridge.post(samples.fresh_event("payment_intent.succeeded", phone="+1 415 abc 0123"))
    bridge.work()
    assert fake_graph.requests == []  # +14152220123 belongs to somebody else
    (record,) = bridge.deliveries()
    assert record["status"] == "skipped" and "contains letters" in record["reason"]


def test_a_mexican_customer_in_the_old_mobile_form_gets_the_message(bridge: Bridge, fake_graph: FakeGraphAPI):
    bridge.post(samples.fresh_event("payment_intent.succeeded", phone="+52 1 55 1234 5678"))
    bridge.work()
    (request,) = fake_graph.accepted
    assert request.json["to"] == "+525512345678"
    assert fake_graph.problems == []
