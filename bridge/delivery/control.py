"""Operator actions on deliveries: pause and resume sending, replay failed deliveries.

Used by the worker (an account error pauses, a successful probe resumes) and by the CLI
(`bridge resume`, `bridge replay`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bridge import defaults
from bridge.delivery.queueing import enqueue_delivery, enqueue_probe
from bridge.delivery.store import ERROR_FIELDS, Status
from bridge.errors import DeliveryError
from bridge.redis_conn import text
from bridge.runtime import Runtime

logger = logging.getLogger(__name__)

REPLAYABLE = (Status.FAILED, Status.SKIPPED, Status.DRY_RUN, Status.AMBIGUOUS, Status.PAUSED)
RESET_FIELDS = (
    "attempts",
    "throttled",
    "first_attempt_at",
    "request_at",
    "claimed_at",
    "next_attempt_at",
    "reason",
    "ambiguous_at",
    "ambiguous_resent",
    *ERROR_FIELDS,
)
"""What a replay clears: the delivery starts over under its own id."""


def pause_sending(rt: Runtime, exc: DeliveryError) -> None:
    """Stop every worker from sending from this number; jobs are held, not lost."""
    info = {
        "code": exc.code,
        "reason": str(exc),
        "meaning": exc.meaning,
        "since": rt.clock(),
        "probe_interval": rt.config.delivery.pause_probe_seconds,
    }
    if rt.redis.set(rt.pause_key, json.dumps(info), nx=True):
        logger.error("sending paused for phone number id %s: %s", rt.config.whatsapp.phone_number_id, exc)


def pause_info(rt: Runtime) -> dict | None:
    raw = rt.redis.get(rt.pause_key)
    return json.loads(raw) if raw else None


def probe_marker_key(rt: Runtime) -> str:
    """Set while a probe job is scheduled, so there is only ever one."""
    return f"{rt.store.prefix}:probe-scheduled"


def schedule_probe(rt: Runtime) -> None:
    """Make sure one probe is scheduled while paused (doubling the interval each time)."""
    info = pause_info(rt)
    if info is None:
        return
    interval = float(info.get("probe_interval") or rt.config.delivery.pause_probe_seconds)
    # The probe job deletes the marker when it starts; the expiry only matters if the job was
    # lost (no scheduler running), so that a later pause can schedule another.
    if not rt.redis.set(probe_marker_key(rt), "1", nx=True, ex=int(interval) + 60):
        return
    pipe = rt.redis.pipeline(transaction=False)
    enqueue_probe(rt.queue, rt.config.delivery, pipeline=pipe, delay=interval)
    pipe.execute()
    info["probe_interval"] = min(interval * 2, defaults.PAUSE_PROBE_MAX_SECONDS)
    rt.redis.set(rt.pause_key, json.dumps(info), xx=True)


def resume(rt: Runtime, *, reason: str = "bridge resume") -> int:
    """Lift the pause and re-queue every held delivery; returns how many were re-queued."""
    rt.redis.delete(rt.pause_key, probe_marker_key(rt))
    count = 0
    for raw in rt.redis.smembers(rt.store.paused_deliveries_key):
        delivery = text(raw)
        if _requeue(rt, delivery, expected=(Status.PAUSED,), reset=False):
            count += 1
        else:
            rt.redis.srem(rt.store.paused_deliveries_key, delivery)
    logger.warning("sending resumed (%s): %d held deliveries re-queued", reason, count)
    return count


@dataclass(frozen=True)
class ReplayResult:
    delivery: str
    outcome: str


def replay(rt: Runtime, deliveries: Iterable[str], *, force: bool = False) -> list[ReplayResult]:
    """Re-queue deliveries under their own ids; a sent one only with `force`."""
    results = []
    for delivery in deliveries:
        record = rt.store.get_delivery(delivery)
        if record is None:
            results.append(ReplayResult(delivery, "not found"))
            continue
        status = record.get("status")
        allowed = REPLAYABLE + ((Status.SENT,) if force else ())
        if status not in allowed:
            results.append(
                ReplayResult(delivery, f"not replayed: status {status}" + (" (use --force to send again)" if status == Status.SENT else ""))
            )
            continue
        if not rt.store.redis.exists(rt.store.event_key(record.get("event_id", ""))):
            results.append(ReplayResult(delivery, "not replayed: the event is no longer stored"))
            continue
        ok = _requeue(rt, delivery, expected=allowed, reset=True, replayed_from=status)
        results.append(ReplayResult(delivery, f"replayed (was {status})" if ok else "not replayed: status changed"))
    return results


def _requeue(rt: Runtime, delivery: str, *, expected: tuple[str, ...], reset: bool, **fields: str) -> bool:
    pipe = rt.store.recorder()
    enqueue_delivery(rt.queue, delivery, rt.config.delivery, pipeline=pipe)
    extra = {"+replays": 1, **fields} if reset else {}
    return rt.store.transition(
        delivery,
        expected,
        Status.QUEUED,
        clear=RESET_FIELDS if reset else ("next_attempt_at",),
        now=rt.clock(),
        then=rt.store.recorded(pipe),
        **extra,
    )
