"""Operator actions on deliveries: pause and resume sending, replay failed deliveries.

Used by the worker (an account error pauses, a successful probe resumes) and by the CLI
(`bridge resume`, `bridge replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bridge import defaults
from bridge.delivery.queueing import enqueue_delivery, enqueue_probe
from bridge.delivery.records import REPLAYABLE, RESET_FIELDS, Field, Status
from bridge.errors import DeliveryError
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime

logger = logging.getLogger(__name__)


def pause_sending(rt: Runtime, exc: DeliveryError) -> None:
    """Stop every worker from sending from this number; jobs are held, not lost."""
    info = {
        "code": exc.code,
        "reason": str(exc),
        "meaning": exc.meaning,
        "since": rt.clock(),
        "probe_interval": rt.config.delivery.pause_probe_seconds,
    }
    if rt.store.pause(rt.phone_number_id, info):
        values = log_fields(status="paused", error_code=exc.code, reason=str(exc))
        logger.error("sending paused for phone number id %s: %s", rt.phone_number_id, exc, extra=values)


def pause_info(rt: Runtime) -> dict[str, Any] | None:
    return rt.store.pause_info(rt.phone_number_id)


def schedule_probe(rt: Runtime) -> None:
    """Make sure one probe is scheduled while paused (doubling the interval each time)."""
    info = pause_info(rt)
    if info is None:
        return
    interval = float(info.get("probe_interval") or rt.config.delivery.pause_probe_seconds)
    # The probe job frees the slot when it starts; the expiry only matters if the job was lost
    # (no scheduler running), so that a later pause can schedule another.
    if not rt.store.take_probe_slot(int(interval) + 60):
        return
    _job, commands = rt.store.record_enqueues(lambda pipe: enqueue_probe(rt.queue, rt.config.delivery, pipeline=pipe, delay=interval))
    rt.store.run_commands(commands)
    info["probe_interval"] = min(interval * 2, defaults.PAUSE_PROBE_MAX_SECONDS)
    rt.store.update_pause(rt.phone_number_id, info)


def resume(rt: Runtime, *, reason: str = "bridge resume") -> int:
    """Lift the pause and re-queue every held delivery; returns how many were re-queued."""
    rt.store.lift_pause(rt.phone_number_id)
    count = 0
    for delivery in rt.store.held():
        if _requeue(rt, delivery, expected=(Status.PAUSED,), reset=False):
            count += 1
        else:
            rt.store.forget_held(delivery)
    logger.warning("sending resumed (%s): %d held deliveries re-queued", reason, count, extra=log_fields(status="resumed", requeued=count))
    return count


class NotReplayed(StrEnum):
    """Why a replay did not happen, for a caller that words it itself (the settings page)."""

    NOT_FOUND = "not found"
    WRONG_STATUS = "wrong status"
    EVENT_GONE = "event gone"
    STATUS_CHANGED = "status changed"


@dataclass(frozen=True)
class ReplayResult:
    delivery: str
    outcome: str
    """In the CLI's and the API's words: `replayed (was failed)`, `not replayed: status sent`, ..."""
    refused: NotReplayed | None = None
    status: str = ""
    """The delivery's status when the replay was asked for ("" when not found)."""

    @property
    def replayed(self) -> bool:
        return self.refused is None


def replay(rt: Runtime, deliveries: Iterable[str], *, force: bool = False) -> list[ReplayResult]:
    """Re-queue deliveries under their own ids; a sent one only with `force`."""
    allowed = tuple(REPLAYABLE) + ((Status.SENT,) if force else ())
    return [_replay_one(rt, delivery, allowed) for delivery in deliveries]


def _replay_one(rt: Runtime, delivery: str, allowed: tuple[str, ...]) -> ReplayResult:
    record = rt.store.get_delivery(delivery)
    if record is None:
        return ReplayResult(delivery, "not found", NotReplayed.NOT_FOUND)
    status = record.get(Field.STATUS)
    if status not in allowed:
        hint = " (use --force to send again)" if status == Status.SENT else ""
        return ReplayResult(delivery, f"not replayed: status {status}{hint}", NotReplayed.WRONG_STATUS, status)
    if not rt.store.has_event(record.get(Field.EVENT_ID, "")):
        return ReplayResult(delivery, "not replayed: the event is no longer stored", NotReplayed.EVENT_GONE, status)
    ok = _requeue(rt, delivery, expected=allowed, reset=True, replayed_from=status)
    if not ok:
        return ReplayResult(delivery, "not replayed: status changed", NotReplayed.STATUS_CHANGED, status)
    return ReplayResult(delivery, f"replayed (was {status})", status=status)


def _requeue(rt: Runtime, delivery: str, *, expected: tuple[str, ...], reset: bool, **fields: Any) -> bool:
    _job, then = rt.store.record_enqueues(lambda pipe: enqueue_delivery(rt.queue, delivery, rt.config.delivery, pipeline=pipe))
    return rt.store.transition(
        delivery,
        expected,
        Status.QUEUED,
        now=rt.clock(),
        clear=RESET_FIELDS if reset else (Field.NEXT_ATTEMPT_AT,),
        increment={Field.REPLAYS: 1} if reset else None,
        then=then,
        **(fields if reset else {}),
    )
