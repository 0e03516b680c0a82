"""/api/v1/status, /api/v1/resume and /api/v1/send-test: whether the bridge sends, and trying it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bridge.api.auth import admin_blueprint
from bridge.api.schemas import ResumedSchema, SendTestRequestSchema, SendTestSchema, StatusSchema
from bridge.services import mappings
from bridge.services.send_test import send_test as do_send_test
from bridge.services.sending import resume_sending, sending_status
from bridge.web.common import runtime

blp = admin_blueprint("sending", "Sending: paused or not, resume, a test send.")


@blp.get("/status")
@blp.response(200, StatusSchema)
def status() -> Any:
    """Whether sending is paused (and why: Meta's code and meaning), and how many jobs wait."""
    found = sending_status(runtime())
    return {**asdict(found), "paused": found.paused}


@blp.post("/resume")
@blp.response(200, ResumedSchema)
def resume() -> Any:
    """Lift a pause and re-queue every held delivery."""
    resumed = resume_sending(runtime(), by="admin API")
    return {"was_paused": resumed.was_paused is not None, "pause": resumed.was_paused, "requeued": resumed.requeued}


@blp.post("/send-test")
@blp.arguments(SendTestRequestSchema)
@blp.response(200, SendTestSchema)
def send_test(args: dict[str, Any]) -> Any:
    """Send a mapping's message for a sample (or given) event to a number; Meta's refusal is a 409 with its meaning."""
    rt = runtime()
    mapping = mappings.find_mapping(rt, args["mapping"])
    chosen = mappings.choose_event(mapping, event_type=args.get("event_type"), event=args.get("event"))
    return asdict(do_send_test(rt, mapping, chosen, args["to"]))
