"""Accept a verified Stripe event: dedupe on its id and enqueue one job per matching mapping.

Both happen in one Redis round trip (`Store.accept_event`): RQ's own enqueue writes are recorded
on an unexecuted pipeline and replayed inside the Lua script that sets the dedupe mark.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from bridge.delivery.queueing import enqueue_delivery
from bridge.delivery.store import delivery_id
from bridge.errors import StoreUnavailable
from bridge.runtime import Runtime
from bridge.stripe_events.ordering import order_key

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def accept(runtime: Runtime, event: dict[str, Any], body: bytes) -> Outcome:
    """Queue deliveries for a new event; report duplicates and types no mapping uses."""
    mappings = runtime.by_event_type.get(event["type"])
    if not mappings:
        return Outcome.IGNORED
    now = runtime.clock()
    obj = event["data"]["object"]
    payment = order_key(event["type"], obj)
    pipe = runtime.store.recorder()
    try:
        records = {}
        for mapping in mappings:
            delivery = delivery_id(event["id"], mapping.name)
            job = enqueue_delivery(runtime.queue, delivery, runtime.config.delivery, pipeline=pipe)
            records[delivery] = {
                "event_id": event["id"],
                "event_type": event["type"],
                "mapping": mapping.name,
                "template": mapping.settings.template,
                "language": mapping.settings.language,
                "object_id": str(obj.get("id", "")),
                "livemode": "1" if event.get("livemode") else "0",
                "event_created": int(event.get("created") or 0),
                "order_key": payment or "",
                "job_id": job.id,
            }
        runtime.store.record_commands(pipe, records, now)
        commands = runtime.store.recorded(pipe)
    except RedisError as exc:  # the queue asks Redis for its version once per process
        raise StoreUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
    if not runtime.store.accept_event(event["id"], body, commands):
        return Outcome.DUPLICATE
    logger.info("accepted %s %s: %d deliveries queued", event["type"], event["id"], len(mappings))
    return Outcome.QUEUED
