from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError, RenderError
from bridge.mappings.compile import build_context, compile_mappings


def compile_one(**mapping):
    base = {"name": "m", "events": ["invoice.paid"], "template": "t", "language": "en_US"}
    (compiled,) = compile_mappings(parse_config({"mappings": [{**base, **mapping}]}, source="c.toml"))
    return compiled


def ctx(obj, event_type="invoice.paid", customer=None, language="en_US"):
    return build_context({"id": "evt_1", "type": event_type, "data": {"object": obj}}, customer, language=language, timezone="UTC")


def test_positional_parameters_render_in_order():
    m = compile_one(body=["{{ object.customer_name }}", "{{ object.amount_paid | money(object.currency) }}"])
    message = m.render(ctx({"customer_name": "Jenny", "amount_paid": 1999, "currency": "usd"}))
    assert [(p.name, p.text) for p in message.parameters] == [(None, "Jenny"), (None, "$19.99")]
    assert (message.template, message.language, message.recipient) == ("t", "en_US", None)


def test_named_parameters_keep_their_names():
    m = compile_one(body={"first_name": "{{ object.customer_name.split()[0] }}", "total": "{{ object.total | money('jpy') }}"})
    message = m.render(ctx({"customer_name": "Jenny Rosen", "total": 5000}))
    assert [(p.name, p.text) for p in message.parameters] == [("first_name", "Jenny"), ("total", "¥5,000")]


def test_money_uses_the_mapping_language_by_default():
    m = compile_one(language="pt_BR", body=["{{ object.total | money('brl') }}"])
    assert m.render(ctx({"total": 990}, language="pt_BR")).parameters[0].text == "R$\xa09,90"


def test_date_filter():
    m = compile_one(body=["{{ object.created | date }}", "{{ object.created | date('long', 'America/New_York') }}"])
    texts = [p.text for p in m.render(ctx({"created": 1764028800})).parameters]
    assert texts == ["Nov 25, 2025", "November 24, 2025"]


def test_dict_keys_win_over_dict_methods():
    m = compile_one(body=["{{ object.items }}", "{{ object.keys }}"])
    assert [p.text for p in m.render(ctx({"items": "3 items", "keys": "k"})).parameters] == ["3 items", "k"]


def test_undefined_field_is_a_render_error_naming_the_parameter():
    m = compile_one(body=["{{ object.id }}", "{{ object.custmer_name }}"])
    with pytest.raises(RenderError, match=r"body\[1\]: undefined field") as excinfo:
        m.render(ctx({"id": "in_1"}))
    assert excinfo.value.key == "body[1]"


def test_null_parent_is_undefined_but_default_rescues_it():
    assert compile_one(body=["{{ object.shipping.name | default('there') }}"]).render(ctx({"shipping": None})).parameters[0].text == "there"
    with pytest.raises(RenderError, match="undefined field"):
        compile_one(body=["{{ object.shipping.name }}"]).render(ctx({"shipping": None}))


def test_parameters_are_cleaned_of_newlines_tabs_and_long_space_runs():
    m = compile_one(body=["{{ object.note }}"])
    assert m.render(ctx({"note": " line one\n\tline two        end "})).parameters[0].text == "line one line two    end"


def test_empty_parameter_is_an_error():
    with pytest.raises(RenderError, match="rendered empty"):
        compile_one(body=["{{ object.note }}"]).render(ctx({"note": "  "}))


def test_when_filter():
    m = compile_one(when="object.amount_paid > 1000 and object.currency == 'usd'", body=["x"])
    assert m.applies(ctx({"amount_paid": 1999, "currency": "usd"}))
    assert not m.applies(ctx({"amount_paid": 500, "currency": "usd"}))
    with pytest.raises(RenderError, match="when"):
        m.applies(ctx({"currency": "usd"}))


def test_recipient_template():
    m = compile_one(recipient="{{ object.metadata.whatsapp }}", body=["x"])
    assert m.render(ctx({"metadata": {"whatsapp": "+14155550123"}})).recipient == "+14155550123"


def test_sandbox_blocks_python_internals():
    m = compile_one(body=["{{ object.__class__.__mro__ }}"])
    with pytest.raises(RenderError):
        m.render(ctx({}))


def test_uses_customer_is_detected():
    assert compile_one(body=["{{ customer.name }}"]).uses_customer
    assert not compile_one(body=["{{ object.id }}"]).uses_customer
    in_body = compile_one(when="object.amount > 0", body=["{{ customer.name }}"])
    assert in_body.uses_customer and not in_body.when_uses_customer
    in_when = compile_one(when="customer.metadata.vip == 'yes'", body=["{{ object.id }}"])
    assert in_when.uses_customer and in_when.when_uses_customer


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"body": ["{{ object.id "]}, "c.toml: mappings[m].body[0]: template syntax error"),
        ({"when": "object.amount >", "body": ["x"]}, "c.toml: mappings[m].when: expression syntax error"),
        ({"events": ["invoice.payed"], "body": ["x"]}, "c.toml: mappings[m].events[0]: unknown Stripe event type 'invoice.payed'"),
    ],
)
def test_compile_errors_name_file_and_key(mapping, expected):
    with pytest.raises(ConfigError) as excinfo:
        compile_one(**mapping)
    assert str(excinfo.value.problems[0]).startswith(expected)
