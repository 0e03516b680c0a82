"""How large a result would be, estimated before it is computed: the pure half of the render bounds.

A mapping is configuration, but a typo like `'-' * 10**9` or a pasted `7 ** (10 ** 7)` must cost
a RenderError, not 4 GB of memory or a worker stuck for minutes. The sandbox (sandbox.py) calls
these checks before an operator, a filter or a string method runs, and `check_result` after.

The rules, in words a mapping author can follow:
  - no string or list longer than 100,000 (characters or items), no integer over 4,300 digits;
  - an integer argument to a built-in filter over 100,000 is refused: widths and counts
    (`default` and `format` are exempt, their integers are values; so are the bridge's own
    money, date and amount filters, which take Stripe amounts and timestamps);
  - what a filter is given must print in at most 1,000,000 characters.
Estimates err on the large side: printing a container is counted as its repr.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, MappingView, Sequence, Set
from typing import Any

from bridge.errors import RenderError

MAX_ITEMS = 100_000
"""The longest string or list one operation may make, and the most one render may output."""
MAX_INT_DIGITS = 4_300
"""Python refuses to print a longer integer (sys.get_int_max_str_digits)."""
MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10))
MAX_PRINTED = 1_000_000
"""How many characters the data given to a filter may print as (a Stripe event is far smaller)."""

_CONTAINERS = (Mapping, Sequence, Set, MappingView)
# %-format conversions: %(key)-08.3f, with * taking the width or precision from the values.
_PERCENT_SPEC = re.compile(r"%(?:\(([^)]*)\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def check_size(what: str, size: int, limit: int = MAX_ITEMS, unit: str = "characters") -> None:
    if size > limit:
        raise RenderError(f"result too large: {what} would make {size:,} {unit} (the limit is {limit:,})")


def check_result(what: str, value: Any) -> None:
    """After an operation: the result itself is within the limits (O(1))."""
    if isinstance(value, str):
        check_size(what, len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        check_size(what, len(value), unit="items")
    elif isinstance(value, int):
        _check_int_bits(what, value.bit_length())


def printed_size(value: Any, limit: int = MAX_PRINTED) -> int:
    """About len(str(value)), counted no further than just past `limit`: the cost is bounded by
    `limit`, not by the value (a list of a thousand references to one long string is cheap to
    hold and ruinous to print)."""
    if isinstance(value, str):
        return len(value)
    size = 0
    pending = [value]
    while pending and size <= limit:
        item = pending.pop()
        size += _own_size(item)
        if size <= limit:
            pending.extend(_children(item))
    return size


def _own_size(item: Any) -> int:
    if isinstance(item, str):
        return len(item) + 2  # quotes
    if isinstance(item, int):
        return item.bit_length() // 3 + 5  # "False" is 5 characters
    if isinstance(item, _CONTAINERS):
        return 2 + 4 * len(item)  # brackets, ", " and ": "
    return 32  # floats, None, Decimal, jinja2's objects: short reprs


def _children(item: Any) -> list[Any]:
    if isinstance(item, str):
        return []
    if isinstance(item, Mapping):
        return [*item.keys(), *item.values()]
    if isinstance(item, _CONTAINERS):
        return list(item)
    return []


def check_printed(what: str, value: Any, limit: int = MAX_PRINTED) -> None:
    """What `what` is given prints in at most `limit` characters."""
    size = printed_size(value, limit)
    if size > limit:
        raise RenderError(f"input too large: {what} was given a value printing as over {limit:,} characters")


# -- operators ------------------------------------------------------------------------------


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left <operator> right` before Python computes it, when the result would be too large."""
    check = _BINOP_CHECKS.get(operator)
    if check is not None:
        check(left, right)


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        _check_int_bits("*", left.bit_length() + right.bit_length())
    elif _is_int(right) and _is_sequence(left):
        check_size("*", len(left) * right, unit=_unit(left))
    elif _is_int(left) and _is_sequence(right):
        check_size("*", left * len(right), unit=_unit(right))


def _check_power(base: Any, exponent: Any) -> None:
    # |base| <= 1 stays small whatever the exponent; a negative exponent makes a float.
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        _check_int_bits("**", math.ceil(math.log2(abs(base)) * exponent))


def _check_sum(left: Any, right: Any) -> None:
    if _is_sequence(left) and _is_sequence(right):
        check_size("+", len(left) + len(right), unit=_unit(left))


def _check_modulo(left: Any, right: Any) -> None:
    if isinstance(left, str):
        check_percent_format(left, right)


def check_percent_format(template: str, values: Any) -> None:
    """`template % values`: the template, every width and precision, and the values printed."""
    size, star = len(template), False
    for match in _PERCENT_SPEC.finditer(template):
        key, width, precision = match.groups()
        star = star or "*" in (width, precision)
        size += _number(width) + _number(precision)
        if key is not None and isinstance(values, Mapping):
            size += printed_size(values.get(key), MAX_ITEMS)
    if not isinstance(values, Mapping):
        size += printed_size(values, MAX_ITEMS)
    if star:  # a * takes its width from the values: count every integer among them as one
        size += sum(v for v in _as_tuple(values) if _is_int(v) and v > 0)
    check_size("'%' formatting", size)


def check_format_spec(spec: str) -> None:
    """A str.format field's spec ("{:>999999999}"): no width or precision over the limit."""
    for digits in _DIGITS.findall(spec):
        check_size(f"the format spec {spec[:20]!r}", _number(digits))


_BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {"*": _check_product, "**": _check_power, "+": _check_sum, "%": _check_modulo}
INTERCEPTED_BINOPS = frozenset(_BINOP_CHECKS)
"""Only these can make a result much larger than their operands; -, / and // cannot."""


# -- string methods and filters that grow text ---------------------------------------------


def padded_size(text: str, width: Any) -> int:
    """center/ljust/rjust/zfill."""
    return max(len(text), width) if _is_int(width) else len(text)


def replaced_size(text: str, old: Any, new: Any, count: Any = None) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)  # Python raises TypeError
    matches = len(text) + 1 if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        matches = min(matches, count)
    return len(text) + matches * (len(new) - len(old))


def expanded_size(text: str, tabsize: Any = 8) -> int:
    return len(text) + text.count("\t") * (tabsize if _is_int(tabsize) and tabsize > 0 else 0)


def joined_size(separator: Any, items: Sequence[Any], limit: int = MAX_ITEMS) -> int:
    size = len(str(separator)) * max(len(items) - 1, 0)
    for item in items:
        if size > limit:
            break
        size += printed_size(item, limit)
    return size


def indented_size(text: str, width: Any) -> int:
    indent = width if _is_int(width) else len(str(width))
    return len(text) + (text.count("\n") + 1) * max(indent, 0)


def wrapped_size(text: str, width: Any, wrapstring: Any) -> int:
    """textwrap breaks at most at every space and hyphen, and every `width` characters."""
    step = width if _is_int(width) and width > 0 else 1
    breaks = min(len(text), len(text) // step + text.count(" ") + text.count("-") + text.count("\n") + 1)
    return len(text) + breaks * len(str(wrapstring))


def check_integer_arguments(name: str, arguments: Iterable[Any]) -> None:
    """A simple rule for the filters that pad, repeat or loop by a count: no count over the limit."""
    for value in arguments:
        if type(value) is int and not -MAX_ITEMS <= value <= MAX_ITEMS:  # type(): fast, and not bool
            raise RenderError(f"argument too large: {name} was given {value:,}; integer arguments over {MAX_ITEMS:,} are refused")


# -- helpers --------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _unit(sequence: Any) -> str:
    return "characters" if isinstance(sequence, str) else "items"


def _check_int_bits(what: str, bits: int) -> None:
    if bits > MAX_INT_BITS:
        digits = int(bits * math.log10(2)) + 1
        raise RenderError(f"result too large: {what} would make an integer of up to {digits:,} digits (the limit is {MAX_INT_DIGITS:,})")


def _number(digits: str | None) -> int:
    """A width or precision; a run of digits too long to convert counts as too large."""
    if not digits or digits == "*":
        return 0
    return int(digits) if len(digits) <= 9 else 10**9


def _as_tuple(values: Any) -> tuple[Any, ...]:
    return values if isinstance(values, tuple) else (values,)
