"""/api/v1/optouts: customers who must not be messaged."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import (
    ConsentSchema,
    OptOutAddSchema,
    OptOutChangeSchema,
    OptOutListSchema,
    OptOutQuerySchema,
    OptOutRemoveSchema,
    PhoneQuerySchema,
)
from bridge.delivery.optouts import Scope
from bridge.services import optouts as service
from bridge.web.common import runtime

blp = admin_blueprint("optouts", "Opt-outs and opt-ins: who may be messaged.")


@blp.get("/optouts")
@blp.arguments(OptOutQuerySchema, location="query")
@blp.response(200, OptOutListSchema)
def list_optouts(args: dict[str, Any]) -> Any:
    """Every opt-out (in a scope), newest first; numbers masked."""
    return {"items": service.list_optouts(runtime(), Scope(args["scope"]) if "scope" in args else None)}


@blp.post("/optouts")
@blp.arguments(OptOutAddSchema)
@blp.response(201, OptOutChangeSchema)
def add_optout(args: dict[str, Any]) -> Any:
    """Stop messaging a number (scope all: nothing; marketing: marketing templates only)."""
    return asdict(service.add_optout(runtime(), args["phone"], Scope(args["scope"]), source="admin API", note=args.get("note")))


@blp.delete("/optouts")
@blp.arguments(OptOutRemoveSchema, location="query")
@blp.response(200, OptOutChangeSchema)
def remove_optout(args: dict[str, Any]) -> Any:
    """Message a number again: records that the customer opted in (again)."""
    scope = Scope(args["scope"]) if "scope" in args else None
    return asdict(service.remove_optout(runtime(), args["phone"], scope, source="admin API"))


@blp.get("/optouts/check")
@blp.arguments(PhoneQuerySchema, location="query")
@blp.response(200, ConsentSchema)
def check(args: dict[str, Any]) -> Any:
    """Would this number be messaged, and what is on record about its consent."""
    return service.check_optout(runtime(), args["phone"]).json()
