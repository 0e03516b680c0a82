"""The mapping form's fields, to and from a `[[mappings]]` table, and check-config's findings put
next to the field they are about. Pure: no request, no Redis.

The form edits what a merchant sets (events, `when`, template, language, the body's parameters,
recipient); the rest of a mapping being edited (header, buttons, staff recipients) is kept as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ConfigProblem
from bridge.whatsapp.catalogue import Catalogue, ParameterFormat, Template

NEW = "new"
"""The name in /admin/mappings/new: a mapping not saved yet, named by its form's name field."""
GENERAL = "general"
"""Findings about no field in particular (header, buttons, rendering a sample)."""
_FIELD_OF = re.compile(r"mappings\[[^\]]*\]\.?(?P<field>[a-z_]+)?(?:\[(?P<index>[^\]]+)\]|\.(?P<key>[a-z0-9_]+))?")


@dataclass(frozen=True)
class BodyField:
    """One body parameter: the template's placeholder and the Jinja expression filling it."""

    placeholder: str
    value: str

    @property
    def field_id(self) -> str:
        return f"body-{self.placeholder}"


@dataclass
class MappingForm:
    """What the form shows and posts back."""

    name: str = ""
    events: str = ""
    when: str = ""
    template: str = ""
    language: str = ""
    recipient: str = ""
    body: list[BodyField] = field(default_factory=list)
    kept: dict[str, Any] = field(default_factory=dict)
    """The table's keys the form doesn't edit (header, buttons, recipients)."""


def form_from_table(table: Mapping[str, Any], catalogue: Catalogue | None) -> MappingForm:
    """The form showing a mapping's table."""
    languages = table.get("language") or ""
    form = MappingForm(
        name=str(table.get("name") or ""),
        events=", ".join(table.get("events") or []),
        when=str(table.get("when") or ""),
        template=str(table.get("template") or ""),
        language=", ".join(languages) if isinstance(languages, list) else str(languages),
        recipient=str(table.get("recipient") or ""),
        kept={k: v for k, v in table.items() if k in ("header", "buttons", "recipients")},
    )
    form.body = body_fields(chosen_template(catalogue, form.template, form.language), _body_values(table.get("body")))
    return form


def form_from_post(posted: Mapping[str, str], kept: Mapping[str, Any], catalogue: Catalogue | None) -> MappingForm:
    """The form as posted (`kept`: the edited mapping's keys the form doesn't show)."""
    form = MappingForm(**{key: posted.get(key, "").strip() for key in ("name", "events", "when", "template", "language", "recipient")})
    form.kept = dict(kept)
    given = {key.removeprefix("body-"): value for key, value in posted.items() if key.startswith("body-")}
    template = chosen_template(catalogue, form.template, form.language)
    if template is not None and not form.language:
        form.language = template.language  # a template just chosen: its language, until the merchant picks another
    form.body = body_fields(template, given)
    return form


def chosen_template(catalogue: Catalogue | None, name: str, language: str) -> Template | None:
    """The snapshot's template the form names, in its first language (else in any language)."""
    if catalogue is None or not name:
        return None
    first = _split(language)[0] if _split(language) else ""
    found = catalogue.find(name, first) if first else None
    return found or next((t for t in catalogue.templates if t.name == name), None)


def body_fields(template: Template | None, values: Mapping[str, str]) -> list[BodyField]:
    """One field per placeholder of the template (per value given, when the snapshot lacks it)."""
    placeholders = list(template.body_placeholders) if template is not None else list(values)
    return [BodyField(p, values.get(p, "")) for p in placeholders]


def table_from_form(form: MappingForm, template: Template | None) -> dict[str, Any]:
    """The `[[mappings]]` table the form describes."""
    table: dict[str, Any] = {"name": form.name, "events": _split(form.events), "template": form.template}
    languages = _split(form.language)
    table["language"] = languages[0] if len(languages) == 1 else languages
    if form.when:
        table["when"] = form.when
    if form.recipient:
        table["recipient"] = form.recipient
    values = [_parameter(b.value) for b in form.body]
    named = template is not None and template.parameter_format is ParameterFormat.NAMED
    named = named or (template is None and any(not b.placeholder.isdigit() for b in form.body))
    table["body"] = {b.placeholder: v for b, v in zip(form.body, values, strict=True)} if named else values
    return table | form.kept


def findings_by_field(problems: list[ConfigProblem], warnings: list[str], form: MappingForm) -> dict[str, list[str]]:
    """Each finding under the id of the field it is about (GENERAL for the rest)."""
    ids = {"name", "events", "when", "template", "language", "recipient"}
    placeholders = [b.placeholder for b in form.body]
    placed: dict[str, list[str]] = {}
    for key, text in [(p.key, f"{p.key}: {p.problem}") for p in problems] + [(w, w) for w in warnings]:
        found = _FIELD_OF.search(key)
        target = GENERAL
        if found and found.group("field") in ids:
            target = found.group("field")
        elif found and found.group("field") == "body":
            index = found.group("index") or found.group("key") or ""
            placeholder = placeholders[int(index)] if index.isdigit() and int(index) < len(placeholders) else index
            target = f"body-{placeholder}" if placeholder in placeholders else "body"
        placed.setdefault(target, []).append(text)
    return placed


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", text) if part.strip()]


def _body_values(body: Any) -> dict[str, str]:
    """A table's body as placeholder → field text (positional parameters are placeholders 1, 2, ...)."""
    if isinstance(body, Mapping):
        return {str(k): _shown(v) for k, v in body.items()}
    return {str(n): _shown(v) for n, v in enumerate(body or [], start=1)}


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
