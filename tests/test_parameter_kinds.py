"""Every parameter kind a receipt needs: a PDF header, currency and date parameters, URL and quick-reply buttons."""

from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError, RenderError
from bridge.mappings.compile import compile_mappings
from bridge.stripe_events import samples
from bridge.whatsapp.payload import build_template_payload
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI
from tests.test_mapping import ctx

INVOICE_RECEIPT = {
    "name": "invoice_receipt",
    "events": ["invoice.paid"],
    "template": "invoice_receipt",
    "language": "en_US",
    "header": {"document": "{{ object.invoice_pdf }}", "filename": "Invoice {{ object.number }}.pdf"},
    "body": [
        "{{ object.customer_name }}",
        {"type": "currency", "amount": "{{ object.amount_paid }}", "currency": "{{ object.currency }}"},
        {"type": "date_time", "value": "{{ object.created }}"},
    ],
    "buttons": [
        {"url": "{{ object.hosted_invoice_url | replace('https://invoice.stripe.com/', '') }}"},
        {"payload": "STOP"},
    ],
}


def compiled(**changes):
    raw = {"mappings": [{**INVOICE_RECEIPT, **changes}]}
    (mapping,) = compile_mappings(parse_config(raw, source="c.toml"))
    return mapping


def test_an_invoice_receipt_sends_a_pdf_header_currency_date_and_buttons(bridge: Bridge, fake_graph: FakeGraphAPI, redis_url):
    receipt = Bridge(make_config(redis_url, fake_graph, mappings=[INVOICE_RECEIPT]))
    try:
        event = samples.fresh_event("invoice.paid")
        receipt.post(event)
        receipt.work()
    finally:
        receipt.close()
    (request,) = fake_graph.accepted
    assert fake_graph.problems == []
    obj = event["data"]["object"]
    assert request.json["template"]["components"] == [
        {
            "type": "header",
            "parameters": [{"type": "document", "document": {"link": obj["invoice_pdf"], "filename": f"Invoice {obj['number']}.pdf"}}],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Jenny Rosen"},
                {"type": "currency", "currency": {"fallback_value": "$19.99", "code": "USD", "amount_1000": 19990}},
                {"type": "date_time", "date_time": {"fallback_value": "Nov 26, 2026"}},
            ],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": obj["hosted_invoice_url"].removeprefix("https://invoice.stripe.com/")}],
        },
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "STOP"}]},
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "fallback", "code", "amount_1000"),
    [
        (1999, "usd", "$19.99", "USD", 19990),
        (5000, "jpy", "¥5,000", "JPY", 5000000),
        (1500, "kwd", "KWD 1.500", "KWD", 1500),
        (26500, "bhd", "BHD 26.500", "BHD", 26500),
    ],
)
def test_a_currency_parameter_carries_the_amount_in_thousandths_of_the_major_unit(amount, currency, fallback, code, amount_1000):
    message = compiled().render(
        ctx({**samples.sample_event("invoice.paid")["data"]["object"], "amount_paid": amount, "currency": currency})
    )
    (parameter,) = [p for p in message.parameters if p.__class__.__name__ == "CurrencyParameter"]
    assert (parameter.fallback_value, parameter.code, parameter.amount_1000) == (fallback, code, amount_1000)


def test_named_parameters_of_every_kind_carry_their_names():
    body = {
        "customer_name": "{{ object.customer_name }}",
        "total": {"type": "currency", "amount": "{{ object.amount_paid }}", "currency": "{{ object.currency }}"},
    }
    mapping = compiled(body=body, header={"text": "Invoice {{ object.number }}", "name": "invoice_number"}, buttons=[])
    payload = build_template_payload("+14155550123", mapping.render(ctx(samples.sample_event("invoice.paid")["data"]["object"])).message)
    header, body_component = payload["template"]["components"]
    assert header["parameters"] == [{"type": "text", "text": "Invoice A1B2C3D4-0002", "parameter_name": "invoice_number"}]
    assert [p["parameter_name"] for p in body_component["parameters"]] == ["customer_name", "total"]


def test_a_button_index_is_its_position_among_the_templates_buttons():
    """A template whose first button is a phone number: the dynamic URL button is index 1."""
    mapping = compiled(buttons=[{"url": "{{ object.id }}", "index": 1}])
    (button,) = mapping.render(ctx(samples.sample_event("invoice.paid")["data"]["object"])).message.buttons
    assert (button.sub_type, button.index) == ("url", 1)


def test_a_text_header_longer_than_60_characters_is_cut():
    mapping = compiled(header={"text": "{{ 'Invoice ' ~ object.customer_name * 10 }}"})
    header = mapping.render(ctx(samples.sample_event("invoice.paid")["data"]["object"])).message.header
    assert len(header.text) == 60 and header.text.endswith("…")


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"header": {"document": "{{ object.number }}"}}, "header.document", "must render a public http"),
        ({"buttons": [{"url": "{{ object.customer_name }}"}]}, "buttons[0].url", "white space"),
        ({"body": [{"type": "currency", "amount": "{{ object.customer_name }}", "currency": "usd"}]}, "body[0].amount", "minor units"),
        ({"body": [{"type": "currency", "amount": "1999", "currency": "dollars"}]}, "body[0].currency", "three-letter"),
        ({"body": [{"type": "date_time", "value": "{{ object.number }}"}]}, "body[0].value", "unix timestamp"),
    ],
)
def test_a_value_meta_would_refuse_is_a_render_error_naming_its_key(changes, key, message):
    with pytest.raises(RenderError, match=message) as excinfo:
        compiled(**changes).render(ctx(samples.sample_event("invoice.paid")["data"]["object"]))
    assert excinfo.value.key == key


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"header": {"document": "x", "image": "y"}}, "mappings[invoice_receipt].header: give exactly one of text, image, document, video"),
        ({"header": {"image": "x", "filename": "a.png"}}, "mappings[invoice_receipt].header.filename: unknown key (expected image)"),
        ({"body": [{"type": "money", "amount": "1"}]}, 'mappings[invoice_receipt].body[0]: type must be "text", "currency" or "date_time"'),
        ({"body": [{"type": "currency", "amount": "1"}]}, "mappings[invoice_receipt].body[0].currency: required key is missing"),
        ({"buttons": [{"url": "a"}, {"payload": "b", "index": 0}]}, "mappings[invoice_receipt].buttons: two buttons have the same index"),
        ({"buttons": [{"url": "a", "index": 10}]}, "mappings[invoice_receipt].buttons[0].index: must be the button's position"),
        ({"buttons": [{"link": "a"}]}, "mappings[invoice_receipt].buttons[0]: must be a table with one of url"),
        ({"language": ["en_US", "English"]}, "mappings[invoice_receipt].language: lists 'English'"),
        ({"recipients": ["+1 415 abc 0123"]}, "mappings[invoice_receipt].recipients[0]: phone number contains letters"),
        ({"recipients": ["+96550000000"], "recipient": "x"}, "mappings[invoice_receipt].recipients: give recipient"),
    ],
)
def test_each_mistake_in_the_new_keys_is_a_config_error_naming_it(changes, problem):
    with pytest.raises(ConfigError) as excinfo:
        parse_config({"mappings": [{**INVOICE_RECEIPT, **changes}]}, source="c.toml")
    assert any(str(p).startswith(f"c.toml: {problem}") for p in excinfo.value.problems), excinfo.value.problems


def test_an_amount_finer_than_amount_1000_holds_is_a_render_error_not_a_crash():
    """CLF has four decimals: 1.2345 is 1234.5 thousandths, which Meta's integer cannot carry."""
    obj = {**samples.sample_event("invoice.paid")["data"]["object"], "amount_paid": 12345, "currency": "clf"}
    with pytest.raises(RenderError, match="amount") as excinfo:
        compiled().render(ctx(obj))
    assert excinfo.value.key == "body[1]"
