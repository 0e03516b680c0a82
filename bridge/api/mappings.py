"""/api/v1/mappings: the mappings (the file's and the saved ones) with their findings, saving and
deleting one, checking them, and previewing what one sends."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import (
    FindingsSchema,
    MappingDeletedSchema,
    MappingListSchema,
    MappingRefusedSchema,
    MappingSchema,
    MappingTableSchema,
    PreviewRequestSchema,
    PreviewSchema,
    ValidateRequestSchema,
)
from bridge.errors import InvalidRequest, NotFound
from bridge.mappings.check import CheckReport
from bridge.runtime import Runtime
from bridge.services import mappings as service
from bridge.services.deliveries import masked_request
from bridge.web.common import runtime
from bridge.web.errors import json_error
from bridge.whatsapp.phones import mask_phone

blp = admin_blueprint("mappings", "Which Stripe events send which WhatsApp template.")


@blp.get("/mappings")
@blp.response(200, MappingListSchema)
def list_mappings() -> Any:
    """Every mapping (the file's, and those saved over them or beside them), with check-config's findings about each."""
    rt = runtime()
    return {"items": [_summary(rt, entry) for entry in service.mapping_entries(rt)]}


@blp.put("/mappings/<name>")
@blp.arguments(MappingTableSchema)
@blp.response(200, MappingSchema)
@blp.alt_response(422, schema=MappingRefusedSchema, description="Not saved: check-config's problems (or the request did not validate).")
def save(table: dict[str, Any], name: str) -> Any:
    """Save a [[mappings]] table in Redis, over the file's mapping of that name; web and worker use it within about a second."""
    if table.setdefault("name", name) != name:
        raise InvalidRequest(f"the table's name {table['name']!r} is not the path's {name!r}")
    rt = runtime()
    try:
        service.save_mapping(rt, table)
    except service.MappingRefused as refused:
        return _refused(refused)
    return _summary(rt, _entry(rt, name))


@blp.delete("/mappings/<name>")
@blp.response(200, MappingDeletedSchema)
def delete(name: str) -> Any:
    """Forget the mapping saved under this name: the file's of that name, if any, applies again (404: none saved)."""
    rt = runtime()
    if not service.delete_saved_mapping(rt, name):
        raise NotFound(f"no mapping saved under {name!r}")
    return {"name": name, "file_applies": any(m.name == name for m in rt.config.mappings)}


def _entry(rt: Runtime, name: str) -> service.MappingEntry:
    return next(entry for entry in service.mapping_entries(rt) if entry.name == name)


def _refused(refused: service.MappingRefused) -> Response:
    report = refused.report
    return json_error(422, str(refused), problems=[asdict(p) for p in report.problems], warnings=report.warnings)


def _summary(rt: Runtime, entry: service.MappingEntry) -> dict[str, Any]:
    """The entry, with what it sends: read from the compiled mapping when it is the one in use, else from its table."""
    compiled = rt.mappings.get(entry.name)
    if compiled is not None and dict(compiled.settings.table) == entry.table:
        events, template, languages = list(compiled.settings.events), compiled.settings.template, list(compiled.settings.languages)
    else:  # a saved table that no longer compiles, or one another process saved within the last second
        table = entry.table
        events = [e for e in table.get("events") or [] if isinstance(e, str)] if isinstance(table.get("events"), list) else []
        language = table.get("language")
        languages = [language] if isinstance(language, str) else [x for x in language or [] if isinstance(x, str)]
        template = str(table.get("template") or "")
    return {
        "name": entry.name,
        "events": events,
        "template": template,
        "languages": languages,
        "table": entry.table,
        "source": entry.source.value,
        "problems": [asdict(p) for p in entry.problems],
        "warnings": entry.warnings,
    }


@blp.post("/mappings/<name>/preview")
@blp.arguments(PreviewRequestSchema, required=False)
@blp.response(200, PreviewSchema)
def preview(args: dict[str, Any], name: str) -> Any:
    """The message for a sample event (or the Stripe event given): its text and the exact Cloud API body."""
    rt = runtime()
    mapping = service.find_mapping(rt, name)
    chosen = service.choose_event(mapping, event_type=args.get("event_type"), event=args.get("event"))
    shown = asdict(service.preview_mapping(rt, mapping, chosen))
    shown["recipients"] = [mask_phone(n) for n in shown["recipients"]]
    shown["requests"] = [masked_request(r) for r in shown["requests"]]
    return shown


@blp.post("/mappings/validate")
@blp.arguments(ValidateRequestSchema, required=False)
@blp.response(200, FindingsSchema)
def validate(args: dict[str, Any]) -> Any:
    """`bridge check-config`'s findings: for the config file, or for the mapping tables given."""
    return findings(service.validate_mappings(runtime(), args.get("mappings")))


def findings(report: CheckReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "problems": [asdict(p) for p in report.problems],
        "warnings": report.warnings,
        "rendered": report.rendered,
    }
