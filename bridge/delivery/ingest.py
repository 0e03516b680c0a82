"""Accept a verified Stripe event: dedupe on its id and enqueue one job per matching mapping.

Both happen in one Redis round trip (`Store.accept_event`): the Lua script that sets the dedupe
mark also writes each delivery's record and its RQ job, with the fields RQ itself writes
(`bridge.delivery.queueing.DeliveryJobs`).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from bridge.delivery.records import Field, delivery_id
from bridge.delivery.store import NewDelivery
from bridge.errors import StoreUnavailable
from bridge.mappings.compile import CompiledMapping
from bridge.observability.logs import log_fields
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
        _note_verified(runtime)
        return _logged(event, Outcome.IGNORED, 0)
    obj = event["data"]["object"]
    common = {
        Field.EVENT_ID: event["id"],
        Field.EVENT_TYPE: event["type"],
        Field.OBJECT_ID: str(obj.get("id", "")),
        Field.LIVEMODE: bool(event.get("livemode")),
        Field.EVENT_CREATED: int(event.get("created") or 0),
        Field.ORDER_KEY: order_key(event["type"], obj) or "",
    }
    jobs = runtime.jobs
    deliveries = []
    for mapping in mappings:
        for delivery, fields in _deliveries(event["id"], mapping):
            job_id, data = jobs.job(delivery)
            deliveries.append(NewDelivery(delivery, {**common, **fields}, job_id, data))
    if not runtime.store.accept_event(event["id"], body, deliveries, jobs, now=runtime.clock()):
        return _logged(event, Outcome.DUPLICATE, 0)
    return _logged(event, Outcome.QUEUED, len(deliveries))


def _note_verified(runtime: Runtime) -> None:
    """Record the verified event's time for the overview; Redis being away must not cost Stripe its 200."""
    try:
        runtime.store.event_verified(now=runtime.clock())
    except StoreUnavailable as exc:
        logger.debug("last verified event time not recorded: %s", exc)


def _logged(event: dict[str, Any], outcome: Outcome, queued: int) -> Outcome:
    """The webhook's one log line (the same for every outcome, so a drain can count them)."""
    values = log_fields(event_id=event["id"], event_type=event["type"], outcome=outcome.value, deliveries=queued)
    logger.info(_MESSAGES[outcome], extra=values)
    return outcome


_MESSAGES = {outcome: f"stripe event {outcome.value}" for outcome in Outcome}


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
