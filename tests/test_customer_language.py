"""Messages go out in the customer's language when the template has it, with Arabic money and dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.stripe_events import samples
from bridge.whatsapp.catalogue import snapshot_json
from tests.conftest import Bridge, make_config
from tests.fake_graph import DEFAULT_TEMPLATES, FakeGraphAPI
from tests.fake_stripe import API_KEY, FakeStripe

INVOICE_PAID = {
    "name": "invoice_paid",
    "events": ["invoice.paid"],
    "template": "invoice_paid",
    "language": ["en_US", "ar"],
    "header": {"document": "{{ object.invoice_pdf }}", "filename": "{{ object.number }}.pdf"},
    "body": [
        "{{ object.customer_name }}",
        {"type": "currency", "amount": "{{ object.amount_paid }}", "currency": "{{ object.currency }}"},
        "{{ object.number }}",
    ],
    "buttons": [{"url": "{{ object.hosted_invoice_url | replace('https://invoice.stripe.com/', '') }}"}],
}
CHECKOUT_RECEIPT = {
    "name": "checkout_receipt",
    "events": ["checkout.session.completed"],
    "template": "payment_receipt",
    "language": "en_US",
    "body": ["{{ object.customer_details.name }}", "{{ object.amount_total | money(object.currency) }}", "{{ object.id[-8:] }}"],
}


@pytest.fixture
def snapshot(tmp_path: Path) -> str:
    path = tmp_path / "templates.json"
    path.write_text(snapshot_json("102290129340398", "v23.0", 1_767_225_600.0, DEFAULT_TEMPLATES))
    return str(path)


def sent(redis_url: str, fake: FakeGraphAPI, event: dict, mapping: dict, *, locales=None, templates_file=None, **sections) -> dict:
    """Post `event` to a bridge with `mapping` (and a fake Stripe whose Customer prefers `locales`); the request Meta got."""
    stripe = FakeStripe(phone="+14155550123", locales=locales)
    if templates_file:
        sections["whatsapp"] = {"templates_file": templates_file}
    config = make_config(redis_url, fake, mappings=[mapping], stripe={"api_key": API_KEY, "api_base_url": stripe.url}, **sections)
    bridge = Bridge(config)
    try:
        bridge.post(event)
        bridge.work()
    finally:
        bridge.close()
        stripe.stop()
    (request,) = fake.accepted
    assert fake.problems == []
    return request.json["template"]


def test_a_customer_who_prefers_arabic_gets_the_arabic_template_with_arabic_money(redis, redis_url, fake_graph, snapshot):
    fake_graph.know_templates()
    template = sent(redis_url, fake_graph, samples.fresh_event("invoice.paid"), INVOICE_PAID, locales=["ar", "en"], templates_file=snapshot)
    assert template["language"] == {"code": "ar"}
    currency = template["components"][1]["parameters"][1]["currency"]
    assert (currency["code"], currency["amount_1000"]) == ("USD", 19990)
    assert currency["fallback_value"] == "19.99\xa0US$"
    assert not any(mark in currency["fallback_value"] for mark in "\u200e\u200f\u061c")  # no direction marks by default


def test_arabic_indic_digits_when_the_merchant_asks_for_them(redis, redis_url, fake_graph, snapshot):
    event = samples.fresh_event("invoice.paid")
    event["data"]["object"].update(amount_paid=26500, currency="kwd")
    template = sent(redis_url, fake_graph, event, INVOICE_PAID, locales=["ar"], templates_file=snapshot, formatting={"digits": "arab"})
    assert template["components"][1]["parameters"][1]["currency"]["fallback_value"] == "٢٦٫٥٠٠\xa0د.ك."


def test_a_checkout_locale_picks_a_language_the_template_has_in_the_catalogue(redis, redis_url, fake_graph, snapshot):
    event = samples.fresh_event("checkout.session.completed")
    event["data"]["object"].update(locale="es", customer=None)
    template = sent(redis_url, fake_graph, event, CHECKOUT_RECEIPT, templates_file=snapshot)
    assert template["language"] == {"code": "es"}
    assert template["components"][0]["parameters"][1]["text"] == "19,99\xa0US$"


def test_without_a_catalogue_only_the_mappings_languages_are_chosen_from(redis, redis_url, fake_graph):
    event = samples.fresh_event("checkout.session.completed")
    event["data"]["object"].update(locale="es", customer=None)
    assert sent(redis_url, fake_graph, event, CHECKOUT_RECEIPT)["language"] == {"code": "en_US"}


def test_a_language_neither_has_falls_back_to_the_mappings_first(redis, redis_url, fake_graph, snapshot):
    template = sent(redis_url, fake_graph, samples.fresh_event("invoice.paid"), INVOICE_PAID, locales=["fr"], templates_file=snapshot)
    assert template["language"] == {"code": "en_US"}
