"""What the bridge did lately and whether it can work: the settings page's overview.

Counts come from the delivery indexes (one ZCOUNT each, in one round trip), never from loading
records, so the overview costs the same with ten deliveries a day or a hundred thousand. Whether
WhatsApp accepts the token is asked of Meta at most every few minutes (`token_check`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from bridge.delivery.records import Status
from bridge.errors import Conflict, StoreUnavailable
from bridge.redis_conn import unavailable_on_redis_error
from bridge.runtime import Runtime
from bridge.services.sending import SendingStatus, sending_status
from bridge.services.templates import current_catalogue
from bridge.services.token_check import TokenCheck, token_check

HOUR = 3600.0


@dataclass(frozen=True)
class Hourly:
    """Messages sent per hour: `counts[i]` in the hour starting at `start + i * 3600`."""

    start: float
    counts: list[int]


def hour_ranges(now: float, hours: int) -> list[tuple[float, float]]:
    """The last `hours` whole clock hours up to the one `now` is in, oldest first, as [start, end)."""
    current = math.floor(now / HOUR) * HOUR
    return [(current - (hours - 1 - i) * HOUR, current - (hours - 2 - i) * HOUR) for i in range(hours)]


def hourly_sent(rt: Runtime, *, now: float, hours: int = 24) -> Hourly:
    """Messages Meta accepted in each of the last `hours` hours (the current one included), each in
    the hour it was sent, whatever Meta reported of it since (delivered, read, failed)."""
    ranges = hour_ranges(now, hours)
    return Hourly(ranges[0][0], rt.store.count_sent(ranges))


def status_counts(rt: Runtime, *, since: float) -> dict[Status, int]:
    """Deliveries created since `since`, by the status they are in now (statuses with none left out)."""
    return {status: n for status, n in rt.store.count_created_by_status(since).items() if n}


@dataclass(frozen=True)
class Connections:
    """The overview's connection checks: what is set, what answered, what is paused."""

    stripe_secret_set: bool
    token: TokenCheck | None
    """Whether WhatsApp accepts the access token (cached a few minutes); None when Redis did not answer."""
    redis_ms: float | None
    """How long Redis took to answer PING; None when it did not."""
    templates_pulled_at: float | None
    templates_error: str | None
    sending: SendingStatus | None
    """None when Redis did not answer."""
    templates_stale: bool
    """Older than [health] templates_max_age_hours, as /readyz judges it."""


def connections(rt: Runtime, *, now: float) -> Connections:
    """Every check of the overview; a part that cannot be read is reported, never raised."""
    redis_ms = _ping(rt)
    pulled_at, error = _snapshot(rt)
    return Connections(
        stripe_secret_set=bool(rt.config.stripe.webhook_secrets),
        token=token_check(rt, now=now) if redis_ms is not None else None,
        redis_ms=redis_ms,
        templates_pulled_at=pulled_at,
        templates_error=error,
        sending=sending_status(rt) if redis_ms is not None else None,
        templates_stale=pulled_at is not None and now - pulled_at > rt.config.health.templates_max_age_hours * HOUR,
    )


def _ping(rt: Runtime) -> float | None:
    started = time.perf_counter()
    try:
        with unavailable_on_redis_error("answering PING"):
            rt.redis.ping()
    except StoreUnavailable:
        return None
    return (time.perf_counter() - started) * 1000


def _snapshot(rt: Runtime) -> tuple[float | None, str | None]:
    """When the templates snapshot was pulled (None: no snapshot), or why it cannot be read."""
    try:
        catalogue = current_catalogue(rt)
    except Conflict as exc:
        return None, str(exc)
    return (catalogue.pulled_at if catalogue is not None else None), None


def overview_figures(rt: Runtime, *, now: float) -> dict[str, Any]:
    """The last 24 hours: deliveries by status now, and messages sent per hour."""
    return {"by_status": status_counts(rt, since=now - 24 * HOUR), "hourly": hourly_sent(rt, now=now)}
