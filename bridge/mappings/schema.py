"""A `[[mappings]]` entry as written in the config file: its settings, and their validation.

    [[mappings]]
    name = "invoice_paid"
    events = ["invoice.paid"]
    template = "invoice_paid"
    language = ["en_US", "ar"]              # or one code; the first is the default
    when = "object.amount_paid > 0"         # optional
    header = { document = "{{ object.invoice_pdf }}", filename = "Invoice {{ object.number }}.pdf" }
    body = [
      "{{ object.customer_name }}",                                                    # text
      { type = "currency", amount = "{{ object.amount_paid }}", currency = "{{ object.currency }}" },
      { type = "date_time", value = "{{ object.created }}" },
    ]                                       # or a table name = ... for named templates
    buttons = [{ url = "{{ object.hosted_invoice_url | replace('https://invoice.stripe.com/', '') }}" }]
    recipient = "{{ object.metadata.whatsapp }}"   # optional: the customer's number
    recipients = ["+96550000000"]           # or: staff alerts to fixed numbers

Every value is a Jinja template (compiled by `bridge.mappings.compile`), except `recipients`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from bridge.errors import RecipientError
from bridge.whatsapp.phones import normalize

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_PARAM_NAME = re.compile(r"^[a-z0-9_]+$")
MAX_BUTTONS = 10
"""WhatsApp templates have at most 10 buttons; a button's index is its position among them."""


class ParameterKind(StrEnum):
    TEXT = "text"
    CURRENCY = "currency"
    DATE_TIME = "date_time"


class HeaderKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    DOCUMENT = "document"
    VIDEO = "video"


class ButtonKind(StrEnum):
    URL = "url"
    """A URL button's dynamic suffix, appended to the template's base URL."""
    QUICK_REPLY = "quick_reply"
    """A quick-reply button's payload, given back when the customer taps it."""


@dataclass(frozen=True)
class ParameterSettings:
    """One body parameter: text, a currency amount, or a date."""

    kind: ParameterKind
    templates: tuple[tuple[str, str], ...]
    """(key, Jinja template) pairs: ("text", ...) | ("amount", ...), ("currency", ...) | ("value", ...)."""
    format: str = "medium"
    """date_time: a babel format name (short, medium, long, full) or pattern."""
    time: bool = False
    """date_time: the time of day too."""

    def template(self, key: str) -> str:
        return dict(self.templates)[key]


@dataclass(frozen=True)
class HeaderSettings:
    kind: HeaderKind
    value: str
    """Jinja template: the text, or the media's public https link."""
    filename: str | None = None
    """document: the file name WhatsApp shows (without it: "Untitled")."""
    name: str | None = None
    """text in a named template: the header placeholder's name."""


@dataclass(frozen=True)
class ButtonSettings:
    kind: ButtonKind
    value: str
    index: int
    """The button's position among the template's buttons (0-based), as Meta wants it."""


@dataclass(frozen=True)
class MappingSettings:
    """One `[[mappings]]` entry, as written; `bridge.mappings.compile` compiles it."""

    name: str
    events: tuple[str, ...]
    template: str
    languages: tuple[str, ...]
    body: tuple[tuple[str | None, ParameterSettings], ...] = ()
    """(parameter name, or None in a positional template; settings) in send order."""
    header: HeaderSettings | None = None
    buttons: tuple[ButtonSettings, ...] = ()
    when: str | None = None
    recipient: str | None = None
    recipients: tuple[str, ...] = ()
    """Staff alerts: fixed E.164 numbers, one delivery each, instead of the customer."""
    index: int = 0
    table: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The `[[mappings]]` table as written: what the admin API shows and a form edits."""

    @property
    def language(self) -> str:
        """The default language: the first listed."""
        return self.languages[0]

    @property
    def named(self) -> bool:
        return any(name is not None for name, _ in self.body)

    @property
    def label(self) -> str:
        """How findings name this mapping: `mappings[invoice_paid]`."""
        return f"mappings[{self.name}]"


# -- validation ------------------------------------------------------------------------------


def _parameter(value: Any) -> ParameterSettings:
    """A body entry: a string (text) or a table with `type`."""
    if isinstance(value, str):
        return ParameterSettings(ParameterKind.TEXT, (("text", value),))
    if not isinstance(value, dict):
        raise ValidationError('must be a string template or a table such as { type = "currency", amount = "...", currency = "..." }')
    kind = value.get("type", "text")
    shapes = {"text": ("text",), "currency": ("amount", "currency"), "date_time": ("value",)}
    if kind not in shapes:
        raise ValidationError(f'type must be "text", "currency" or "date_time", not {kind!r}')
    options = {"date_time": ("format", "time")}.get(kind, ())
    _check_keys(value, {"type", *shapes[kind], *options}, required=shapes[kind])
    templates = tuple((key, value[key]) for key in shapes[kind])
    date_format, with_time = value.get("format", "medium"), value.get("time", False)
    if not isinstance(date_format, str):
        raise ValidationError({"format": ["must be a format name (short, medium, long, full) or a pattern such as d MMM y"]})
    if not isinstance(with_time, bool):
        raise ValidationError({"time": ["must be true or false"]})
    return ParameterSettings(ParameterKind(kind), templates, format=date_format, time=with_time)


def _check_keys(table: dict[str, Any], allowed: set[str], *, required: tuple[str, ...] = ()) -> None:
    problems: dict[str, list[str]] = {}
    for key in table:
        if key not in allowed:
            problems[key] = [f"unknown key (expected {', '.join(sorted(allowed))})"]
    for key in required:
        if key not in table:
            problems[key] = ["required key is missing"]
        elif not isinstance(table[key], str):
            problems[key] = ["must be a string template"]
    if problems:
        raise ValidationError(problems)


class _Body(fields.Field):
    """A list (positional `{{1}}`...) or a table name → entry (named `{{first_name}}`)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[tuple[str | None, ParameterSettings], ...]:
        if isinstance(value, list):
            return tuple((None, p) for p in _each(value, _parameter))
        if isinstance(value, dict):
            bad = {name: ["parameter names are lowercase letters, digits and underscores"] for name in value if not _PARAM_NAME.match(name)}
            if bad:
                raise ValidationError(bad)
            return tuple(zip(value, _each(list(value.values()), _parameter, keys=list(value)), strict=True))
        raise ValidationError("must be a list of parameters (positional template) or a table name = parameter (named template)")


def _each(values: list[Any], parse: Any, keys: list[Any] | None = None) -> list[Any]:
    """Parse every entry, collecting the problems of all of them under their index or name."""
    parsed, problems = [], {}
    for position, value in enumerate(values):
        try:
            parsed.append(parse(value))
        except ValidationError as exc:
            problems[keys[position] if keys else position] = exc.messages
    if problems:
        raise ValidationError(problems)
    return parsed


class _Languages(fields.Field):
    """One language code, or a list of them (the first is the default)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        codes = [value] if isinstance(value, str) else value
        if not isinstance(codes, list) or not codes:
            raise ValidationError("must be a WhatsApp language code such as en_US, or a list of them (the first is the default)")
        bad = [c for c in codes if not isinstance(c, str) or not _LANGUAGE.match(c)]
        if bad and isinstance(value, str):
            raise ValidationError("must be a WhatsApp language code such as en or en_US")
        if bad:
            raise ValidationError(f"lists {bad[0]!r}, which is not a WhatsApp language code such as en or en_US")
        if len(set(codes)) != len(codes):
            raise ValidationError("lists a language twice")
        return tuple(codes)


class _Header(fields.Field):
    """`{ text = ... }`, `{ image = ... }`, `{ document = ..., filename = ... }` or `{ video = ... }`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> HeaderSettings:
        if not isinstance(value, dict):
            raise ValidationError('must be a table such as { document = "{{ object.invoice_pdf }}", filename = "invoice.pdf" }')
        kinds = [k for k in value if k in HeaderKind.__members__.values()]
        if len(kinds) != 1:
            raise ValidationError("give exactly one of text, image, document, video")
        kind = HeaderKind(kinds[0])
        allowed = {kind.value, *({"filename"} if kind is HeaderKind.DOCUMENT else ()), *({"name"} if kind is HeaderKind.TEXT else ())}
        _check_keys(value, allowed, required=(kind.value,))
        for key in ("filename", "name"):
            if key in value and not isinstance(value[key], str):
                raise ValidationError({key: ["must be a string"]})
        if "name" in value and not _PARAM_NAME.match(value["name"]):
            raise ValidationError({"name": ["parameter names are lowercase letters, digits and underscores"]})
        return HeaderSettings(kind, value[kind.value], value.get("filename"), value.get("name"))


class _Buttons(fields.Field):
    """A list of `{ url = ... }` (dynamic URL suffix) or `{ payload = ... }` (quick reply) tables."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[ButtonSettings, ...]:
        if not isinstance(value, list):
            raise ValidationError('must be a list of tables such as { url = "..." } or { payload = "..." }')
        buttons = tuple(_each(list(enumerate(value)), _button))
        indexes = [b.index for b in buttons]
        if len(set(indexes)) != len(indexes):
            raise ValidationError("two buttons have the same index")
        return buttons


def _button(entry: tuple[int, Any]) -> ButtonSettings:
    position, value = entry
    if not isinstance(value, dict) or len({"url", "payload"} & set(value)) != 1:
        raise ValidationError("must be a table with one of url (a URL button's suffix) or payload (a quick reply's payload)")
    key = "url" if "url" in value else "payload"
    _check_keys(value, {key, "index"}, required=(key,))
    index = value.get("index", position)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_BUTTONS:
        raise ValidationError({"index": [f"must be the button's position among the template's buttons, 0 to {MAX_BUTTONS - 1}"]})
    return ButtonSettings(ButtonKind.URL if key == "url" else ButtonKind.QUICK_REPLY, value[key], index)


class _Recipients(fields.Field):
    """Fixed staff numbers (E.164), for alerts; each gets its own delivery."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise ValidationError('must be a list of phone numbers such as ["+96550000000"]')
        numbers, problems = [], {}
        for position, raw in enumerate(value):
            try:
                numbers.append(normalize(raw))
            except RecipientError as exc:
                problems[position] = [f"{exc} (write it in E.164, with + and the country code)"]
        if problems:
            raise ValidationError(problems)
        if len(set(numbers)) != len(numbers):
            raise ValidationError("lists a number twice")
        return tuple(numbers)


class MappingSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$", error="letters, digits, _ . - (at most 64)"))
    events = fields.List(fields.String(), required=True, validate=validate.Length(min=1, error="list at least one Stripe event type"))
    template = fields.String(
        required=True,
        validate=validate.Regexp(_TEMPLATE_NAME, error="WhatsApp template names are lowercase letters, digits and underscores"),
    )
    language = _Languages(required=True, data_key="language", attribute="languages")
    header = _Header(load_default=None)
    body = _Body(load_default=tuple)
    buttons = _Buttons(load_default=tuple)
    when = fields.String(load_default=None, allow_none=True)
    recipient = fields.String(load_default=None, allow_none=True)
    recipients = _Recipients(load_default=tuple)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data["recipient"] is not None and data["recipients"]:
            raise ValidationError({"recipients": ["give recipient (the customer's number) or recipients (staff), not both"]})
        data["events"] = tuple(data["events"])
        return data
