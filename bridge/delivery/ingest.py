"""Accept a verified Stripe event: dedupe on its id and enqueue one job per matching mapping.

Both happen in one Redis round trip (`Store.accept_event`): RQ's own enqueue writes are recorded
on an unexecuted pipeline and replayed inside the Lua script that sets the dedupe mark.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from bridge.delivery.queueing import enqueue_delivery
from bridge.delivery.records import Field, delivery_id
from bridge.mappings.compile import CompiledMapping
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
    store, now = runtime.store, runtime.clock()
    obj = event["data"]["object"]
    common = {
        Field.EVENT_ID: event["id"],
        Field.EVENT_TYPE: event["type"],
        Field.OBJECT_ID: str(obj.get("id", "")),
        Field.LIVEMODE: bool(event.get("livemode")),
        Field.EVENT_CREATED: int(event.get("created") or 0),
        Field.ORDER_KEY: order_key(event["type"], obj) or "",
    }
    commands = []
    records = {}
    for mapping in mappings:
        for delivery, fields in _deliveries(event["id"], mapping):
            job, enqueue = store.record_enqueues(
                lambda pipe, d=delivery: enqueue_delivery(runtime.queue, d, runtime.config.delivery, pipeline=pipe)
            )
            commands += enqueue
            records[delivery] = {**common, **fields, Field.JOB_ID: job.id}
    commands += store.creation_commands(records, now)
    if not store.accept_event(event["id"], body, commands, now=now):
        return Outcome.DUPLICATE
    logger.info("accepted %s %s: %d deliveries queued", event["type"], event["id"], len(records))
    return Outcome.QUEUED


def _deliveries(event_id: str, mapping: CompiledMapping) -> list[tuple[str, dict[str, Any]]]:
    """(delivery id, record fields) of each delivery a mapping makes of an event: one to the
    customer, or one per staff number. Staff alerts are not ordered with the customer's notices
    about the payment: staff get every alert, none is superseded."""
    fields = {Field.MAPPING: mapping.name, Field.TEMPLATE: mapping.settings.template, Field.LANGUAGE: mapping.settings.language}
    if not mapping.settings.recipients:
        return [(delivery_id(event_id, mapping.name), fields)]
    return [
        (delivery_id(event_id, mapping.name, staff=n), {**fields, Field.RECIPIENT: number, Field.ORDER_KEY: ""})
        for n, number in enumerate(mapping.settings.recipients, start=1)
    ]
