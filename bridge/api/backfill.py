"""/api/v1/backfill: queue a backfill from Stripe's Events API for a worker, and read its report."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import BackfillQueuedSchema, BackfillRequestSchema, BackfillStatusSchema
from bridge.services import backfill as service
from bridge.web.common import runtime

blp = admin_blueprint("backfill", "Events Stripe kept that the bridge never accepted (after a long outage).")


@blp.post("/backfill")
@blp.arguments(BackfillRequestSchema)
@blp.response(202, BackfillQueuedSchema)
def queue(args: dict[str, Any]) -> Any:
    """Queue `bridge backfill` for a worker: since a time (3d, an ISO date/time), the mapped types or those given."""
    rt = runtime()
    plan = service.plan_backfill(rt.config, since=args["since"], now=time.time(), types=args.get("types", ()), dry_run=args["dry_run"])
    return {"job": service.queue_backfill(rt, plan), "status": "queued", "since": plan.since, "types": list(plan.types)}


@blp.get("/backfill/<job_id>")
@blp.response(200, BackfillStatusSchema)
def status(job_id: str) -> Any:
    """A queued backfill: its status, and once finished the count of each outcome and the first events."""
    return asdict(service.backfill_status(runtime(), job_id))
