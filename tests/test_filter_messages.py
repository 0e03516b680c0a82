"""A filter or function used wrongly says so about the mapping, not with a Python signature."""

from __future__ import annotations

import pytest

from bridge.errors import RenderError
from tests.test_mapping import compile_one, ctx

INVOICE = {"id": "in_1", "amount_paid": 1999, "currency": "usd", "created": 1764028800}


def render_error(template: str) -> str:
    with pytest.raises(RenderError) as excinfo:
        compile_one(body=[template]).render(ctx(INVOICE))
    return str(excinfo.value).removeprefix("body[0]: ")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ object.amount_paid | money }}", "money needs the currency: {{ object.amount | money(object.currency) }}"),
        (
            "{{ object.amount_paid | money('usd', 'en', 'extra') }}",
            "money needs the currency: {{ object.amount | money(object.currency) }}",
        ),
        ("{{ object.amount_paid | major_amount }}", "major_amount needs the currency: {{ object.amount | major_amount(object.currency) }}"),
        ("{{ object.amount_paid | amount_1000 }}", "amount_1000 needs the currency: {{ object.amount | amount_1000(object.currency) }}"),
        (
            "{{ object.created | date('long', 'UTC', 'en') }}",
            "date takes a format and a time zone, both optional: {{ object.created | date('long', 'Europe/Paris') }}",
        ),
        (
            "{{ object.created | datetime(fmt='short', zone='UTC') }}",
            "datetime takes a format and a time zone, both optional: {{ object.created | datetime('short', 'America/New_York') }}",
        ),
    ],
    ids=["money without currency", "money with too many", "major_amount", "amount_1000", "date", "datetime"],
)
def test_a_bridge_filter_called_wrongly_shows_how_to_call_it(template, message):
    assert render_error(template) == message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ object.amount_paid | major_amount(none) }}", "major_amount: currency must be a three-letter code, got None"),
        ("{{ 'abc' | amount_1000('usd') }}", "amount_1000: amount must be an integer in minor units, got 'abc'"),
        ("{{ object.created | datetime('short', 'Mars/Olympus') }}", "datetime: unknown time zone 'Mars/Olympus'"),
        ("{{ object.currency | money('usd') }}", "money: amount must be an integer in minor units, got str"),
    ],
)
def test_a_bridge_filter_given_a_wrong_value_names_the_filter_and_the_value(template, message):
    assert render_error(template) == message


def test_major_amount_still_takes_the_digits_of_an_amount_kept_in_metadata():
    mapping = compile_one(body=["{{ object.metadata.total | major_amount('usd') }} {{ 1999 | amount_1000('usd') }}"])
    assert mapping.render(ctx({"metadata": {"total": "1999"}})).parameters[0].text == "19.99 19990"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' | center(1, 2, 3) }}", "center was given the wrong arguments: it takes center(width=80)"),
        ("{{ 'x' | replace('a') }}", "replace was given the wrong arguments: it takes replace(old, new, count=None)"),
        ("{{ 'x' | join(', ', 'name', 3) }}", "join was given the wrong arguments: it takes join(d='', attribute=None)"),
        ("{{ object.id | int(1, 2, 3) }}", "int was given the wrong arguments: it takes int(default=0, base=10)"),
        ("{{ 'x' | length(3) }}", "length was given the wrong arguments: it takes no arguments: {{ value | length }}"),
        ("{{ [1, 'a'] | sum }}", "sum: unsupported operand type(s) for +: 'int' and 'str'"),
        ("{{ 'x'.ljust() }}", "ljust expected at least 1 argument, got 0"),
        ("{{ dict(1) }}", "dict: 'int' object is not iterable"),
        ("{{ range('a') | list }}", "range: 'str' object cannot be interpreted as an integer"),
        ("{% macro greet(name) %}{{ name }}{% endmacro %}{{ greet(1, 2) }}", "macro 'greet' takes not more than 1 argument(s)"),
    ],
)
def test_a_built_in_filter_or_function_called_wrongly_is_named(template, message):
    assert render_error(template) == message
