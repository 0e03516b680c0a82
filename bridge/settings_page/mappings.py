"""/admin/mappings: every mapping with the check-config findings about it, and the form that
creates or edits one, previews its message for a sample event and test-sends it.

Saving goes through `bridge.services.mappings.save_mapping` (refused with its findings: nothing
saved); the preview and the test send use what the form holds, checked the same way first. A
refusal is the form again with its findings, answered as the admin API answers it: 422 for
findings (or a request the service found invalid), the service's own status otherwise (409 when
Meta refused a test message), so that tools and tests can tell it from a success.

/admin/mappings/new is the new-mapping form, so the mapping named `new` (mapping names are the
merchant's) lives at /admin/mappings/new?mapping=new, its actions likewise; `mapping_url` builds
every address of a mapping's form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from bridge.errors import InvalidRequest, ServiceError
from bridge.mappings.check import CheckReport, check_mappings
from bridge.mappings.compile import CompiledMapping
from bridge.mappings.live import SAVED_SOURCE, compile_saved
from bridge.mappings.preview import Preview
from bridge.runtime import Runtime
from bridge.services import mappings as service
from bridge.services.deliveries import masked_request
from bridge.services.send_test import SendRefused, TestSend, send_test
from bridge.services.templates import list_templates
from bridge.settings_page.i18n import N_, _
from bridge.settings_page.mapping_form import (
    FIELDS_OF,
    GENERAL,
    NEW,
    MappingForm,
    chosen_template,
    findings_by_field,
    form_from_post,
    form_from_table,
    split_table,
    table_from_form,
)
from bridge.settings_page.refusals import Worded, word_refusal
from bridge.stripe_events import samples
from bridge.web.common import runtime
from bridge.whatsapp.catalogue import Catalogue, Template

pages = Blueprint("mappings", __name__)

SOURCE_NAMES = {
    service.MappingSource.FILE: N_("from the config file"),
    service.MappingSource.SAVED: N_("saved on this page"),
    service.MappingSource.SAVED_OVER_FILE: N_("saved on this page, over the config file's"),
}
SAVED_SOURCES = frozenset({service.MappingSource.SAVED, service.MappingSource.SAVED_OVER_FILE})
EDIT_NEW = "mapping"
"""The query parameter naming the mapping called `new` (/admin/mappings/new?mapping=new): the path alone is the new-mapping form."""
REFUSED = InvalidRequest.status
"""422 Unprocessable Content: the form again, with the findings that refused it."""


@dataclass(frozen=True)
class Listed:
    """One mapping as the page lists it."""

    name: str
    table: Mapping[str, Any]
    source: service.MappingSource = service.MappingSource.FILE
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Refused(StrEnum):
    """What the findings refused: said above the form."""

    SAVE = "save"
    CHECK = "check"
    """A preview or a test send: the form's mapping has problems."""


@dataclass
class Outcome:
    """What the form page shows with the form: the findings, a preview, a test send's result, and the answer's status."""

    findings: dict[str, list[str]] = field(default_factory=dict)
    refused: Refused | None = None
    preview: Preview | None = None
    body_json: str = ""
    test: TestSend | None = None
    meta_error: dict[str, Any] | None = None
    error: Worded | None = None
    status: int = 200

    def failed(self, exc: ServiceError) -> None:
        """The service refused: its reason on the page (in the page's language where it has a
        wording), and its status (as the admin API answers it)."""
        self.error, self.status = word_refusal(exc), exc.status


def findings_by_mapping(tables: list[dict[str, Any]], report: CheckReport) -> tuple[list[Listed], list[str]]:
    """Each mapping with the findings that name it (`mappings[name]`), and the findings naming none."""
    listed, claimed = [], set()
    for table in tables:
        label = f"mappings[{table.get('name')}]"
        problems = [f"{p.key}: {p.problem}" for p in report.problems if p.key.startswith(label)]
        warnings = [w for w in report.warnings if label in w]
        claimed.update(w for w in warnings)
        claimed.update(str(p) for p in report.problems if p.key.startswith(label))
        listed.append(Listed(str(table.get("name")), table, problems=problems, warnings=warnings))
    rest = [str(p) for p in report.problems if str(p) not in claimed] + [w for w in report.warnings if w not in claimed]
    return listed, rest


@pages.get("/mappings")
def listing() -> str:
    rt = runtime()
    entries = service.mapping_entries(rt)
    listed = [Listed(e.name, e.table, e.source, [f"{p.key}: {p.problem}" for p in e.problems], e.warnings) for e in entries]
    tables = [e.table for e in entries]
    _, general = findings_by_mapping(tables, service.validate_mappings(rt, tables))  # findings about no mapping in particular
    return render_template("mappings.html", mappings=listed, general=general, sources=SOURCE_NAMES)


@pages.get("/mappings/<name>")
def edit(name: str) -> str:
    rt = runtime()
    catalogue = _catalogue(rt)
    editing = _edited(name)
    entry = _entry(rt, editing)
    if editing is not None and entry is None:
        abort(404)
    table = entry.table if entry else {"events": ["payment_intent.succeeded"]}
    form = form_from_table(table, catalogue)
    findings = findings_by_field(entry.problems, entry.warnings, form, table) if entry else {}
    return _form_page(editing, form, catalogue, Outcome(findings=findings))


@pages.post("/mappings/<name>")
def save(name: str) -> Response | tuple[str, int]:
    rt = runtime()
    editing = _edited(name)
    form, catalogue = _posted_form(rt, editing)
    table = table_from_form(form, chosen_template(catalogue, form.template, form.language))
    try:
        service.save_mapping(rt, table)
    except service.MappingRefused as refused:
        findings = findings_by_field(refused.report.problems, refused.report.warnings, form, table)
        return _form_page(editing, form, catalogue, Outcome(findings, Refused.SAVE, status=REFUSED)), REFUSED
    flash(_("Mapping %(name)s saved: it applies to the next events.", name=form.name), "success")
    return redirect(url_for("mappings.listing"), 303)


@pages.post("/mappings/<name>/delete")
def delete(name: str) -> Response:
    if service.delete_saved_mapping(runtime(), name):
        flash(_("The saved mapping %(name)s is deleted.", name=name), "success")
    else:
        flash(_("No mapping named %(name)s was saved here.", name=name), "info")
    return redirect(url_for("mappings.listing"), 303)


@pages.post("/mappings/<name>/preview")
def preview(name: str) -> tuple[str, int]:
    rt = runtime()
    editing = _edited(name)
    form, catalogue = _posted_form(rt, editing)
    outcome, mapping = _checked(rt, form, catalogue)
    if mapping is not None:
        try:
            shown = service.preview_mapping(rt, mapping, _sample(mapping))
            outcome.preview, outcome.body_json = shown, _masked_json(shown.request)
        except ServiceError as exc:
            outcome.failed(exc)
    return _form_page(editing, form, catalogue, outcome, anchor="preview"), outcome.status


@pages.post("/mappings/<name>/test-send")
def test_send(name: str) -> tuple[str, int]:
    rt = runtime()
    editing = _edited(name)
    form, catalogue = _posted_form(rt, editing)
    outcome, mapping = _checked(rt, form, catalogue)
    if mapping is not None:
        try:
            outcome.test = send_test(rt, mapping, _sample(mapping), request.form.get("phone", ""))
        except SendRefused as refused:
            outcome.meta_error = refused.meta_error
            outcome.failed(refused)
        except ServiceError as exc:
            outcome.failed(exc)
    return _form_page(editing, form, catalogue, outcome, anchor="test-send"), outcome.status


@pages.app_template_global()
def mapping_url(endpoint: str, name: str | None) -> str:
    """The address of a mapping's form or one of its actions (`mappings.edit`, `.save`, `.preview`, ...);
    `name` None: the new-mapping form's."""
    if name == NEW:
        return url_for(endpoint, name=NEW, **{EDIT_NEW: NEW})
    return url_for(endpoint, name=name or NEW)


def _edited(name: str) -> str | None:
    """The mapping an address is about: `name`, or None for the new-mapping form (/mappings/new
    without ?mapping=new)."""
    if name != NEW:
        return name
    return NEW if request.args.get(EDIT_NEW) == NEW else None


@dataclass(frozen=True)
class TemplateChoice:
    name: str
    label: str
    """The name, its languages and its body's placeholders: `payment_receipt (ar, en_US): {{1}} {{2}}`."""


def template_choices(catalogue: Catalogue | None) -> list[TemplateChoice]:
    """The snapshot's templates by name, each with its languages and placeholders."""
    by_name: dict[str, list[Template]] = {}
    for template in catalogue.templates if catalogue else ():
        by_name.setdefault(template.name, []).append(template)
    choices = []
    for name, versions in sorted(by_name.items()):
        languages = ", ".join(sorted(t.language for t in versions))
        placeholders = " ".join("{{" + p + "}}" for p in versions[0].body_placeholders)
        choices.append(TemplateChoice(name, f"{name} ({languages}): {placeholders}".rstrip(": ")))
    return choices


def _catalogue(rt: Runtime) -> Catalogue | None:
    try:
        return list_templates(rt).catalogue
    except ServiceError:
        return None  # an unreadable snapshot: the form still works, check-config names the file


def _entry(rt: Runtime, name: str | None) -> service.MappingEntry | None:
    """The mapping named `name` (None for a new one); checked once per request (its findings render samples)."""
    if name is None:
        return None
    if "mapping_entries" not in g:
        g.mapping_entries = service.mapping_entries(rt)
    return next((e for e in g.mapping_entries if e.name == name), None)


def _posted_form(rt: Runtime, editing: str | None) -> tuple[MappingForm, Catalogue | None]:
    """The posted form; for an existing mapping, named by the address and keeping what the form has no field for."""
    catalogue = _catalogue(rt)
    entry = _entry(rt, editing)
    form = form_from_post(request.form, split_table(entry.table)[1] if entry else {}, catalogue)
    if editing is not None:
        form.name = editing
    return form, catalogue


def _checked(rt: Runtime, form: MappingForm, catalogue: Catalogue | None) -> tuple[Outcome, CompiledMapping | None]:
    """The form's mapping compiled, or check-config's findings when it has problems."""
    table = table_from_form(form, chosen_template(catalogue, form.template, form.language))
    report = check_mappings(rt.config, [table], source=SAVED_SOURCE)
    if report.problems:
        return Outcome(findings_by_field(report.problems, report.warnings, form, table), Refused.CHECK, status=REFUSED), None
    return Outcome(), compile_saved(rt.config, form.name, table)


def _sample(mapping: CompiledMapping) -> service.ChosenEvent:
    asked = request.form.get("sample") or None
    return service.choose_event(mapping, event_type=asked if asked in mapping.settings.events else None)


def _masked_json(body: Mapping[str, Any] | None) -> str:
    """The Cloud API body as sent, the number masked as the logs show it."""
    return "" if body is None else json.dumps(masked_request(dict(body)), indent=2, ensure_ascii=False)


def _form_page(editing: str | None, form: MappingForm, catalogue: Catalogue | None, outcome: Outcome, anchor: str | None = None) -> str:
    entry = _entry(runtime(), editing)
    events = [e.strip() for e in form.events.replace(",", " ").split() if e.strip()]
    return render_template(
        "mapping_form.html",
        name=editing,
        new=editing is None,
        form=form,
        fields_of=FIELDS_OF,
        template_choices=template_choices(catalogue),
        event_types=samples.event_types(),
        template=chosen_template(catalogue, form.template, form.language),
        samples=[e for e in events if e in samples.event_types()] or samples.event_types()[:1],
        chosen_sample=request.form.get("sample", ""),
        outcome=outcome,
        general=outcome.findings.get(GENERAL, []),
        saved=entry is not None and entry.source in SAVED_SOURCES,
        anchor=anchor,
    )
