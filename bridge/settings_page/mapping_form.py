"""The mapping form's fields, to and from a `[[mappings]]` table, and check-config's findings put
next to the field they are about. Pure: no request, no Redis.

The chosen template (from the snapshot) decides the fields: one per body placeholder; a TEXT
header's parameter, or an IMAGE, DOCUMENT or VIDEO header's link (and a document's file name); one
per button that takes a value from the mapping (a URL button's suffix, a quick reply's payload; the
mapping format has nothing for a copy-code button, and check-config says so). Staff `recipients`
are one field, a number a line.

What the edited mapping gives beyond the template's fields (a parameter the template no longer
has, a header of another kind) is shown as well, so that nothing is dropped unseen and its finding
has a field to stand beside: emptying such a field removes it, and after the merchant picks another
template only the new template's fields remain. A table's keys the form has no field for (a
misspelt key, a value of a shape the form cannot show) are kept as they are; check-config names them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ConfigProblem
from bridge.whatsapp.catalogue import Catalogue, ParameterFormat, Template

NEW = "new"
"""The name in /admin/mappings/new: a mapping not saved yet, named by its form's name field."""
GENERAL = "general"
"""Findings about no field in particular (rendering a sample, a copy-code button)."""
TEXT_FIELDS = ("name", "events", "when", "template", "language", "recipient", "recipients")
"""The fields that are one text each, named as the table's keys."""
SECTIONS = ("body", "header", "buttons")
"""Parts of a mapping whose findings about the part as a whole are shown at its group of fields."""
FORM_KEYS = frozenset({*TEXT_FIELDS, *SECTIONS})
HEADER_KINDS = ("text", "image", "document", "video")
HEADER_KEYS = (*HEADER_KINDS, "filename")
"""The header table's keys that are fields; its `name` follows the template (see MappingForm.header_name)."""
BUTTON_KEYS = ("url", "payload")
FIELDS_OF = "fields_of"
"""A hidden field: the template whose fields the page showed, so a post can tell the merchant picked another."""
_FIELD_OF = re.compile(
    r"mappings\[[^\]]*\]\.?(?P<field>[a-z_]+)?(?:\[(?P<index>[^\]]+)\]|\.(?P<key>[a-z0-9_]+))?",
)
_BUTTON_FIELD = re.compile(r"^button-(?P<index>\d{1,3})-(?P<key>url|payload)$")


@dataclass(frozen=True)
class BodyField:
    """One body parameter: the template's placeholder and the Jinja expression filling it."""

    placeholder: str
    value: str

    @property
    def field_id(self) -> str:
        return f"body-{self.placeholder}"


@dataclass(frozen=True)
class HeaderField:
    """One key of the header table: `text` (a TEXT header's parameter), `image`, `document` or
    `video` (the media's link), `filename` (what WhatsApp shows for a document)."""

    key: str
    value: str
    placeholder: str | None = None
    """text: the template header's placeholder (1, order_id), when the snapshot has the template."""

    @property
    def field_id(self) -> str:
        return f"header-{self.key}"


@dataclass(frozen=True)
class ButtonField:
    """A button's value: a URL button's suffix (`url`) or a quick reply's payload (`payload`)."""

    index: int
    """The button's position among the template's buttons, as the mapping's `index` counts."""
    key: str
    value: str
    text: str = ""
    """The template's button text ("View receipt"); empty when the snapshot has no such button."""
    url: str = ""
    """A URL button's address in the template, ending in {{1}}."""

    @property
    def field_id(self) -> str:
        return f"button-{self.index}-{self.key}"


@dataclass
class MappingForm:
    """What the form shows and posts back."""

    name: str = ""
    events: str = ""
    when: str = ""
    template: str = ""
    language: str = ""
    recipient: str = ""
    recipients: str = ""
    """Staff numbers, one a line."""
    body: list[BodyField] = field(default_factory=list)
    header: list[HeaderField] = field(default_factory=list)
    header_name: str = ""
    """A TEXT header's parameter name (named templates): the template's, else the table's; no field of its own."""
    buttons: list[ButtonField] = field(default_factory=list)
    kept: dict[str, Any] = field(default_factory=dict)
    """The table's keys the form has no field for, kept as they are."""

    def field_ids(self) -> set[str]:
        return {*TEXT_FIELDS, *(f.field_id for f in [*self.body, *self.header, *self.buttons])}


@dataclass(frozen=True)
class _Given:
    """What a table or a post gives for the fields the template decides."""

    body: dict[str, str]
    header: dict[str, str]
    """By header key, and `name`."""
    buttons: dict[tuple[int, str], str]
    """By (index, url | payload)."""


def form_from_table(table: Mapping[str, Any], catalogue: Catalogue | None) -> MappingForm:
    """The form showing a mapping's table."""
    shown, kept = split_table(table)
    languages = shown.get("language") or ""
    form = MappingForm(
        name=str(shown.get("name") or ""),
        events=", ".join(shown.get("events") or []),
        when=str(shown.get("when") or ""),
        template=str(shown.get("template") or ""),
        language=", ".join(languages) if isinstance(languages, list) else str(languages),
        recipient=str(shown.get("recipient") or ""),
        recipients="\n".join(shown.get("recipients") or []),
        kept=kept,
    )
    given = _Given(_body_values(shown.get("body")), dict(shown.get("header") or {}), _button_values(shown.get("buttons")))
    return _with_fields(form, chosen_template(catalogue, form.template, form.language), given, extras=True)


def form_from_post(posted: Mapping[str, str], kept: Mapping[str, Any], catalogue: Catalogue | None) -> MappingForm:
    """The form as posted (`kept`: the edited mapping's keys the form has no field for)."""
    form = MappingForm(**{key: posted.get(key, "").strip() for key in TEXT_FIELDS}, kept=dict(kept))
    template = chosen_template(catalogue, form.template, form.language)
    if template is not None and not form.language:
        form.language = template.language  # a template just chosen: its language, until the merchant picks another
    changed = posted.get(FIELDS_OF, form.template) != form.template
    return _with_fields(form, template, _posted_values(posted), extras=not changed)


def chosen_template(catalogue: Catalogue | None, name: str, language: str) -> Template | None:
    """The snapshot's template the form names, in its first language (else in any language)."""
    if catalogue is None or not name:
        return None
    first = _split(language)[0] if _split(language) else ""
    found = catalogue.find(name, first) if first else None
    return found or next((t for t in catalogue.templates if t.name == name), None)


def _with_fields(form: MappingForm, template: Template | None, given: _Given, *, extras: bool) -> MappingForm:
    form.body = body_fields(template, given.body, extras=extras)
    form.header = header_fields(template, given.header, extras=extras)
    form.header_name = _header_name(template, given.header)
    form.buttons = button_fields(template, given.buttons, extras=extras)
    return form


def body_fields(template: Template | None, values: Mapping[str, str], *, extras: bool = True) -> list[BodyField]:
    """One field per placeholder of the template (per value given, when the snapshot lacks it)."""
    wanted = list(template.body_placeholders) if template is not None else list(values)
    return [BodyField(p, values.get(p, "")) for p in [*wanted, *_beyond(values, wanted, extras)]]


def header_fields(template: Template | None, values: Mapping[str, str], *, extras: bool = True) -> list[HeaderField]:
    """The fields the template's header takes (the keys given, when the snapshot lacks it)."""
    given = {key: value for key, value in values.items() if key in HEADER_KEYS}
    wanted = _header_keys(template) if template is not None else list(given)
    placeholder = template.header_placeholders[0] if template is not None and template.header_placeholders else None
    keys = [*wanted, *_beyond(given, wanted, extras)]
    return [HeaderField(key, given.get(key, ""), placeholder if key == "text" else None) for key in keys]


def button_fields(template: Template | None, values: Mapping[tuple[int, str], str], *, extras: bool = True) -> list[ButtonField]:
    """A field per button of the template that takes a value (per button given, when the snapshot lacks it)."""
    wanted = _template_buttons(template) if template is not None else dict.fromkeys(values, ("", ""))
    slots = [*wanted, *_beyond(values, list(wanted), extras)]
    fields = [ButtonField(index, key, values.get((index, key), ""), *wanted.get((index, key), ("", ""))) for index, key in slots]
    return sorted(fields, key=lambda b: (b.index, BUTTON_KEYS.index(b.key)))


def _beyond(given: Mapping[Any, str], wanted: list[Any], extras: bool) -> list[Any]:
    """What `given` holds beyond the template's fields, each with a value (none after a change of template)."""
    return [key for key, value in given.items() if key not in wanted and value] if extras else []


def _header_keys(template: Template) -> list[str]:
    kind = (template.header_format or "").lower()
    if kind == "text":
        return ["text"] if template.header_placeholders else []
    if kind == "document":
        return ["document", "filename"]
    return [kind] if kind in HEADER_KINDS else []  # LOCATION: the mapping format has no location header


def _header_name(template: Template | None, given: Mapping[str, str]) -> str:
    if template is not None and template.parameter_format is ParameterFormat.NAMED and template.header_format == "TEXT":
        return template.header_placeholders[0] if template.header_placeholders else ""
    return given.get("name", "")


def _template_buttons(template: Template) -> dict[tuple[int, str], tuple[str, str]]:
    """The template's buttons that take a value from the mapping: (index, key) → (text, url)."""
    slots = {}
    for button in template.buttons:
        if button.type == "URL" and button.placeholders:
            slots[(button.index, "url")] = (button.text, button.url or "")
        elif button.type == "QUICK_REPLY":
            slots[(button.index, "payload")] = (button.text, "")
    return slots


def table_from_form(form: MappingForm, template: Template | None) -> dict[str, Any]:
    """The `[[mappings]]` table the form describes."""
    table: dict[str, Any] = {"name": form.name, "events": _split(form.events), "template": form.template}
    languages = _split(form.language)
    table["language"] = languages[0] if len(languages) == 1 else languages
    optional = {"when": form.when, "recipient": form.recipient, "recipients": _lines(form.recipients), "header": _header_table(form)}
    table |= {key: value for key, value in optional.items() if value}
    if form.body:
        table["body"] = _body_table(form, template)
    if buttons := _buttons_table(form):
        table["buttons"] = buttons
    return form.kept | table


def _header_table(form: MappingForm) -> dict[str, str]:
    values = {h.key: h.value for h in form.header if h.value}
    if not any(kind in values for kind in HEADER_KINDS):
        return {}  # a file name alone is no header
    return values | ({"name": form.header_name} if "text" in values and form.header_name else {})


def _body_table(form: MappingForm, template: Template | None) -> list[Any] | dict[str, Any]:
    values = [_parameter(b.value) for b in form.body]
    named = template is not None and template.parameter_format is ParameterFormat.NAMED
    named = named or (template is None and any(not b.placeholder.isdigit() for b in form.body))
    return {b.placeholder: v for b, v in zip(form.body, values, strict=True)} if named else values


def _buttons_table(form: MappingForm) -> list[dict[str, Any]]:
    """The buttons with a value, in the template's order; `index` only where the position does not say it."""
    filled = [b for b in form.buttons if b.value]
    return [{b.key: b.value} | ({"index": b.index} if b.index != position else {}) for position, b in enumerate(filled)]


def findings_by_field(
    problems: list[ConfigProblem], warnings: list[str], form: MappingForm, table: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Each finding under the id of the field it is about, else of its part of the mapping (body,
    header, buttons), else GENERAL. `table` is the table the findings are about (a button is
    named by its position in the table's list)."""
    ids = form.field_ids()
    shown_sections = {"body", *(["header"] if form.header else []), *(["buttons"] if form.buttons else [])}
    placed: dict[str, list[str]] = {}
    for key, text in [(p.key, f"{p.key}: {p.problem}") for p in problems] + [(w, w) for w in warnings]:
        found = _FIELD_OF.search(key)
        part = found.group("field") if found else None
        target = _field_in(found, part, form, table) if found else GENERAL
        if target not in ids:
            target = part if part in shown_sections else GENERAL
        placed.setdefault(target, []).append(text)
    return placed


def _field_in(found: re.Match[str], part: str | None, form: MappingForm, table: Mapping[str, Any]) -> str:
    """The field a finding's key names (`body[1]`, `header.document`, `buttons[0].url`, `when`)."""
    index, key = found.group("index") or "", found.group("key") or ""
    if part == "body":
        return f"body-{int(index) + 1}" if index.isdigit() else f"body-{key}"
    if part == "header":
        named = f"header-{key}"
        return named if any(h.field_id == named for h in form.header) else _main_header_field(form)
    if part == "buttons":
        return _button_field_at(table.get("buttons"), int(index)) if index.isdigit() else "buttons"
    return part or GENERAL


def _main_header_field(form: MappingForm) -> str:
    """Where a finding about the header as a whole goes: its link or text field."""
    return next((h.field_id for h in form.header if h.key in HEADER_KINDS), "header")


def _button_field_at(buttons: Any, position: int) -> str:
    """The field of the table's button at `position`."""
    if not isinstance(buttons, list) or position >= len(buttons) or not isinstance(buttons[position], Mapping):
        return "buttons"
    entry = buttons[position]
    key = next((k for k in BUTTON_KEYS if k in entry), "")
    return f"button-{entry.get('index', position)}-{key}"


def split_table(table: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A table's keys the form shows, and the rest (kept as they are)."""
    shown = {key: value for key, value in table.items() if key in FORM_KEYS and _showable(key, value)}
    return shown, {key: value for key, value in table.items() if key not in shown}


def _showable(key: str, value: Any) -> bool:
    """Whether the form's fields can hold `value` and give it back unchanged."""
    if key in ("events", "recipients"):
        return _strings(value)
    if key == "language":
        return isinstance(value, str) or _strings(value)
    if key == "header":
        return isinstance(value, Mapping) and set(value) <= {*HEADER_KEYS, "name"} and _strings(value.values())
    if key == "body":
        entries = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else None
        return entries is not None and all(isinstance(e, str) or (isinstance(e, Mapping) and _json_safe(e)) for e in entries)
    if key == "buttons":
        return isinstance(value, list) and _buttons_showable(value)
    return isinstance(value, str)


def _buttons_showable(buttons: list[Any]) -> bool:
    slots = [_button_slot(position, entry) for position, entry in enumerate(buttons)]
    return None not in slots and len(set(slots)) == len(slots)  # two values for one button: only the table can hold both


def _button_slot(position: int, entry: Any) -> tuple[int, str] | None:
    """The (index, url | payload) a button entry fills; None when the form cannot show the entry."""
    if not isinstance(entry, Mapping) or not set(entry) <= {*BUTTON_KEYS, "index"}:
        return None
    keys = [key for key in BUTTON_KEYS if key in entry]
    index = entry.get("index", position)
    usable_index = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 1000
    if len(keys) != 1 or not usable_index or not isinstance(entry[keys[0]], str):
        return None
    return index, keys[0]


def _strings(values: Any) -> bool:
    return isinstance(values, Iterable) and not isinstance(values, str | Mapping) and all(isinstance(v, str) for v in values)


def _json_safe(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", text) if part.strip()]


def _lines(text: str) -> list[str]:
    """Staff numbers, one a line (or separated by commas): a number may have spaces in it."""
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _body_values(body: Any) -> dict[str, str]:
    """A table's body as placeholder → field text (positional parameters are placeholders 1, 2, ...)."""
    if isinstance(body, Mapping):
        return {str(k): _shown(v) for k, v in body.items()}
    return {str(n): _shown(v) for n, v in enumerate(body or [], start=1)}


def _button_values(buttons: Any) -> dict[tuple[int, str], str]:
    """A table's buttons as (index, url | payload) → field text."""
    return {slot: entry[slot[1]] for position, entry in enumerate(buttons or []) if (slot := _button_slot(position, entry))}


def _posted_values(posted: Mapping[str, str]) -> _Given:
    body = {key.removeprefix("body-"): value for key, value in posted.items() if key.startswith("body-")}
    header = {key: posted[f"header-{key}"] for key in (*HEADER_KEYS, "name") if f"header-{key}" in posted}
    buttons = {(int(m["index"]), m["key"]): value for key, value in posted.items() if (m := _BUTTON_FIELD.match(key))}
    return _Given(body, header, buttons)


def _shown(value: Any) -> str:
    """A parameter in a text field: its expression, or a typed parameter's table as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _parameter(text: str) -> Any:
    """A field back to a parameter: JSON of a typed parameter (currency, date_time) stays a table."""
    if text.startswith("{") and text.endswith("}"):
        try:
            return json.loads(text)
        except ValueError:
            return text  # a Jinja expression that happens to look like JSON: check-config judges it
    return text
