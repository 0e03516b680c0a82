"""The bridge's own filters in the mapping language: money, date, datetime, major_amount, amount_1000.

Thin Jinja-facing checks around the pure formatting in formatting.py; the mapping's language and
time zone come from the render context (`_language`, `_timezone`), and so do the `[formatting]`
settings (`_digits`, `_bidi_marks`; Western digits and no direction marks when absent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

from bridge.errors import RenderError
from bridge.mappings.formatting import LATIN_DIGITS, amount_1000, format_money, format_timestamp, major_amount


@pass_context
def money_filter(context: Context, amount: Any, currency: Any, language: str | None = None) -> str:
    _fail_if_undefined(amount, currency, language)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RenderError(f"money: amount must be an integer in minor units, got {type(amount).__name__}")
    _check_currency("money", currency)
    return format_money(amount, currency, language or context.get("_language"), **_formatting(context))


@pass_context
def date_filter(context: Context, timestamp: Any, fmt: str = "medium", tz: str | None = None) -> str:
    return _format_ts("date", context, timestamp, fmt, tz, with_time=False)


@pass_context
def datetime_filter(context: Context, timestamp: Any, fmt: str = "medium", tz: str | None = None) -> str:
    return _format_ts("datetime", context, timestamp, fmt, tz, with_time=True)


def major_amount_filter(amount: Any, currency: Any) -> str:
    return str(major_amount(_minor_units("major_amount", amount, currency), currency))


def amount_1000_filter(amount: Any, currency: Any) -> int:
    try:
        return amount_1000(_minor_units("amount_1000", amount, currency), currency)
    except ValueError as exc:  # a fourth decimal (CLF, UYW) that an integer cannot hold
        raise RenderError(f"amount_1000: {exc}") from None


def _minor_units(name: str, amount: Any, currency: Any) -> int:
    """An amount as major_amount has always taken it: an integer or its digits (from metadata)."""
    _fail_if_undefined(amount, currency)
    _check_currency(name, currency)
    try:
        return int(amount)
    except (TypeError, ValueError):
        raise RenderError(f"{name}: amount must be an integer in minor units, got {amount!r}") from None


def _check_currency(name: str, currency: Any) -> None:
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise RenderError(f"{name}: currency must be a three-letter code, got {currency!r}")


def _format_ts(name: str, context: Context, timestamp: Any, fmt: str, tz: str | None, *, with_time: bool) -> str:
    _fail_if_undefined(timestamp, fmt, tz)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise RenderError(f"{name}: expected a unix timestamp, got {type(timestamp).__name__}")
    try:
        language, zone_name = context.get("_language"), tz or context.get("_timezone")
        return format_timestamp(timestamp, fmt, language, zone_name, with_time=with_time, **_formatting(context))
    except (ValueError, OverflowError, OSError) as exc:  # a bad zone, or a timestamp out of range
        raise RenderError(f"{name}: {exc}") from None


def _formatting(context: Context) -> dict[str, Any]:
    """The `[formatting]` settings the render context carries, or their defaults."""
    return {"digits": context.get("_digits") or LATIN_DIGITS, "bidi_marks": bool(context.get("_bidi_marks", False))}


def _fail_if_undefined(*values: Any) -> None:
    """A null or missing argument fails with its own message, which names the field."""
    for value in values:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()


BRIDGE_FILTERS: dict[str, Callable[..., Any]] = {
    "money": money_filter,
    "date": date_filter,
    "datetime": datetime_filter,
    "major_amount": major_amount_filter,
    "amount_1000": amount_1000_filter,
}

FILTER_USAGE = {
    "money": "money needs the currency: {{ object.amount | money(object.currency) }}",
    "major_amount": "major_amount needs the currency: {{ object.amount | major_amount(object.currency) }}",
    "amount_1000": "amount_1000 needs the currency: {{ object.amount | amount_1000(object.currency) }}",
    "date": "date takes a format and a time zone, both optional: {{ object.created | date('long', 'Europe/Paris') }}",
    "datetime": "datetime takes a format and a time zone, both optional: {{ object.created | datetime('short', 'America/New_York') }}",
}
"""What each filter says when called with the wrong arguments, instead of a Python signature."""
