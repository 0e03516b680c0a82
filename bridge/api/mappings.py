"""/api/v1/mappings: the config's mappings, checking them, and previewing what one sends."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import FindingsSchema, MappingListSchema, PreviewRequestSchema, PreviewSchema, ValidateRequestSchema
from bridge.mappings.check import CheckReport
from bridge.mappings.compile import CompiledMapping
from bridge.services import mappings as service
from bridge.services.deliveries import masked_request
from bridge.web.common import runtime
from bridge.whatsapp.phones import mask_phone

blp = admin_blueprint("mappings", "Which Stripe events send which WhatsApp template.")


@blp.get("/mappings")
@blp.response(200, MappingListSchema)
def list_mappings() -> Any:
    """Every mapping, as its [[mappings]] table is written."""
    rt = runtime()
    return {"items": [_summary(m, table) for m, table in zip(rt.mappings.values(), service.list_mappings(rt), strict=True)]}


def _summary(mapping: CompiledMapping, table: dict[str, Any]) -> dict[str, Any]:
    settings = mapping.settings
    return {
        "name": mapping.name,
        "events": list(settings.events),
        "template": settings.template,
        "languages": list(settings.languages),
        "table": table,
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
