"""A null is not a value: how a mapping sees a field that is null, or missing from an empty object.

Stripe sends `"number": null` on a draft invoice; rendered as it was, the customer read "None".
A null field now renders like a missing one, an error naming it, unless the mapping supplies
`| default(...)`. It still tests as it did: false, `is none`, equal to `none`, so
`when = "object.shipping is not none"` keeps working.

A field missing from an empty object (`"shipping": {}`) is not a typo in the mapping but data the
event lacks: it raises EmptyObjectError, which the render turns into MissingDataError (the
delivery is skipped with the reason, not failed). A field missing from a non-empty object stays
an ordinary undefined field: most likely a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError


class EmptyObjectError(UndefinedError):
    """A field was read from an empty object."""


class NullField(StrictUndefined):
    """A field present in the event with the value null."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, NullField)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)


def field_of(obj: Mapping[Any, Any], key: Any) -> Any:
    """`obj[key]` as a mapping sees it: a NullField for null, an undefined when missing."""
    try:
        value = obj[key]
    except (KeyError, TypeError):
        if not obj:
            return StrictUndefined(f"no {key!r} in this event: the object it is read from is empty", obj, key, EmptyObjectError)
        return StrictUndefined(obj=obj, name=key)
    if value is None:
        return NullField(f"{key} is null in this event: add | default('...') where it may be empty", name=key)
    return value


def field_of_null(null: NullField, key: Any) -> StrictUndefined:
    """A field read from a null one: undefined, so `| default(...)` still rescues it."""
    return StrictUndefined(f"{null._undefined_name!r} is null, so it has no attribute {key!r}", name=key)


def is_none(value: Any) -> bool:
    """The `none` test, true for a null field too."""
    return value is None or isinstance(value, NullField)
