"""The bridge's own filters in the mapping language: money, date, datetime, major_amount, amount_1000.

Thin Jinja-facing checks around the pure formatting in filters.py; the mapping's language and
time zone come from the render context (`_language`, `_timezone`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

from bridge.errors import RenderError
from bridge.mappings.filters import amount_1000, format_money, format_timestamp, major_amount


@pass_context
def money_filter(context: Context, amount: Any, currency: Any, language: str | None = None) -> str:
    _check_amount("money", amount, currency)
    return format_money(amount, currency, language or context.get("_language"))


@pass_context
def date_filter(context: Context, timestamp: Any, fmt: str = "medium", tz: str | None = None) -> str:
    return _format_ts(context, timestamp, fmt, tz, with_time=False)


@pass_context
def datetime_filter(context: Context, timestamp: Any, fmt: str = "medium", tz: str | None = None) -> str:
    return _format_ts(context, timestamp, fmt, tz, with_time=True)


def major_amount_filter(amount: Any, currency: Any) -> str:
    return str(major_amount(amount, currency))


def _check_amount(name: str, amount: Any, currency: Any) -> None:
    _fail_if_undefined(amount, currency)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RenderError(f"{name}: amount must be an integer in minor units, got {type(amount).__name__}")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise RenderError(f"{name}: currency must be a three-letter code, got {currency!r}")


def _format_ts(context: Context, timestamp: Any, fmt: str, tz: str | None, *, with_time: bool) -> str:
    _fail_if_undefined(timestamp, fmt, tz)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise RenderError(f"date: expected a unix timestamp, got {type(timestamp).__name__}")
    try:
        return format_timestamp(timestamp, fmt, context.get("_language"), tz or context.get("_timezone"), with_time=with_time)
    except ValueError as exc:
        raise RenderError(f"date: {exc}") from None


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
    "amount_1000": amount_1000,
}
