"""/api/v1/customers: a customer's data, exported or erased (data subject requests)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import CustomerExportSchema, ErasedSchema, EraseRequestSchema, PhoneQuerySchema
from bridge.services import customers as service
from bridge.web.common import runtime

blp = admin_blueprint("customers", "A customer's own data: export it, erase it.")


@blp.get("/customers/export")
@blp.arguments(PhoneQuerySchema, location="query")
@blp.response(200, CustomerExportSchema)
def export(args: dict[str, Any]) -> Any:
    """Every record naming the number (not masked: it is the customer's own data)."""
    return service.export(runtime(), args["phone"])


@blp.post("/customers/erase")
@blp.arguments(EraseRequestSchema)
@blp.response(200, ErasedSchema)
def erase(args: dict[str, Any]) -> Any:
    """Remove every record naming the number, keeping only a hashed opt-out. Irreversible: needs confirm."""
    report = service.erase(runtime(), args["phone"], confirm=args["confirm"])
    return {**asdict(report), "removed": report.removed}
