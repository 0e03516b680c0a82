"""/api/v1/deliveries and /api/v1/replay: the delivery log, one delivery's history, replays."""

from __future__ import annotations

from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import (
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliveryWithHistorySchema,
    OutboxQuerySchema,
    OutboxSchema,
    ReplayOneSchema,
    ReplayResultSchema,
    ReplaySelectionSchema,
    ReplaySummarySchema,
)
from bridge.delivery.records import SkipReason, Status
from bridge.errors import Conflict
from bridge.services import deliveries as service
from bridge.web.common import runtime

blp = admin_blueprint("deliveries", "Every message: list, show with history, replay.")


@blp.get("/deliveries")
@blp.arguments(DeliveryQuerySchema, location="query")
@blp.response(200, DeliveryPageSchema)
def list_deliveries(args: dict[str, Any]) -> Any:
    """Delivery records, newest first, filtered by status, event and creation time; page with next_cursor."""
    status = Status(args["status"]) if "status" in args else None
    page = service.list_deliveries(
        runtime(), status=status, event_id=args.get("event"), since=args.get("since"), cursor=args.get("cursor"), limit=args["limit"]
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.get("/deliveries/<delivery_id>")
@blp.response(200, DeliveryWithHistorySchema)
def show_delivery(delivery_id: str) -> Any:
    """One delivery record with every status it went through (queued → sent → delivered → read)."""
    return service.get_delivery(runtime(), delivery_id)


@blp.post("/deliveries/<delivery_id>/replay")
@blp.arguments(ReplayOneSchema, required=False)
@blp.response(200, ReplayResultSchema)
def replay_delivery(args: dict[str, Any], delivery_id: str) -> Any:
    """Re-queue one delivery under its own id (a sent one only with force); 409 when it can't be."""
    result = service.replay_one(runtime(), delivery_id, force=args.get("force", False))
    if not result.replayed:
        raise Conflict(f"{delivery_id}: {result.outcome.replace(' (use --force to send again)', ' (force: true sends it again)')}")
    return result


@blp.post("/replay")
@blp.arguments(ReplaySelectionSchema)
@blp.response(200, ReplaySummarySchema)
def replay_selected(args: dict[str, Any]) -> Any:
    """Re-queue every failed (or skipped) delivery created since a time."""
    selection = service.Selection(Status(args["status"]), args.get("since"), SkipReason(args["reason"]) if args.get("reason") else None)
    results = service.replay_selected(runtime(), selection, force=args["force"])
    replayed = sum(r.replayed for r in results)
    return {"replayed": replayed, "not_replayed": len(results) - replayed, "results": results}


@blp.get("/outbox")
@blp.arguments(OutboxQuerySchema, location="query")
@blp.response(200, OutboxSchema)
def outbox(args: dict[str, Any]) -> Any:
    """Dry run: the requests the worker would have sent, newest first (numbers masked)."""
    return {"items": service.outbox(runtime(), args["limit"])}
