"""The worker's figures, kept in one Redis hash (`Keys.metrics`) that the web's `/metrics` reads.

Worker dynos cannot be scraped (Heroku routes HTTP to web dynos only), so every worker adds its
figures to the hash inside the Lua steps it already runs per delivery: no extra round trip per
message, and one total for all workers. Fields of the hash (counts unless named otherwise):

    status:{status}          deliveries that entered the status (the Lua steps write these themselves)
    meta_error:{code}        errors Meta answered a send with, or reported in a `failed` status
    send_seconds:{bound}     sends to the Cloud API answered within the bucket: per bucket, not cumulative
    send_seconds:sum         seconds those sends took in all
    rate_wait:{how}          waits for the shared rate limits: slept in the job, or the job rescheduled
    rate_wait_seconds:{how}  seconds of those waits

What only Python sees (a send's duration, a wait) is kept in a `Tally` and written with the
process's next state change (`Store.transition`), in the same Lua call. Nothing here imports
prometheus_client: the worker never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

STATUS = "status:"
META_ERROR = "meta_error:"
SEND_SECONDS = "send_seconds:"
SEND_SUM = "send_seconds:sum"
RATE_WAIT = "rate_wait:"
RATE_WAIT_SECONDS = "rate_wait_seconds:"

SEND_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)
"""Upper bounds of the send-duration histogram, in seconds: Meta answers in 0.1–0.5 s when well;
25 s is the longest `[whatsapp] timeout_seconds` allows."""

INF = "+Inf"


class WaitKind(StrEnum):
    """How a delivery waited for the shared rate limits (`bridge.delivery.gate`)."""

    SLEPT = "slept"
    """A short wait, slept inside the job (`defaults.INLINE_WAIT_MAX_SECONDS`)."""
    RESCHEDULED = "rescheduled"
    """A longer wait: the job was put back for later."""


def bucket_field(seconds: float) -> str:
    """The hash field of the histogram bucket that `seconds` falls in."""
    for bound in SEND_BUCKETS:
        if seconds <= bound:
            return f"{SEND_SECONDS}{bound:g}"
    return f"{SEND_SECONDS}{INF}"


class Tally:
    """Figures this process observed and has not written yet; `drain` hands them to the next Lua step.

    A worker runs one job at a time, and every job that sends or waits ends in a state change
    that writes the tally: figures are at most one job late, and a crash loses at most one job's."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = {}

    def add(self, name: str, by: float = 1) -> None:
        self._pending[name] = self._pending.get(name, 0) + by

    def observe_send(self, seconds: float) -> None:
        """A request to the Cloud API took `seconds` (answered, refused or failed)."""
        self.add(bucket_field(seconds))
        self.add(SEND_SUM, seconds)

    def rate_wait(self, seconds: float, how: WaitKind) -> None:
        """A delivery had to wait `seconds` for a send slot."""
        self.add(RATE_WAIT + how)
        self.add(RATE_WAIT_SECONDS + how, seconds)

    def drain(self) -> list[str]:
        """The pending figures as flat field, amount pairs (for HINCRBYFLOAT), forgetting them."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, {}
        return [part for name, by in pending.items() for part in (name, repr(by) if isinstance(by, float) else str(by))]


@dataclass(frozen=True)
class WorkerFigures:
    """The hash, read back into what `/metrics` exposes."""

    statuses: dict[str, float] = field(default_factory=dict)
    meta_errors: dict[str, float] = field(default_factory=dict)
    send_buckets: list[tuple[str, float]] = field(default_factory=list)
    """Cumulative counts per upper bound, "+Inf" last (Prometheus's histogram form)."""
    send_sum: float = 0.0
    waits: dict[str, tuple[float, float]] = field(default_factory=dict)
    """How → (count, seconds)."""


def read_figures(fields: Mapping[str | bytes, str | bytes]) -> WorkerFigures:
    """The figures in the hash's fields (as HGETALL returns them); fields it does not know are skipped."""
    values = {_text(name): float(value) for name, value in fields.items()}
    statuses = {name.removeprefix(STATUS): v for name, v in values.items() if name.startswith(STATUS)}
    errors = {name.removeprefix(META_ERROR): v for name, v in values.items() if name.startswith(META_ERROR)}
    waits = {
        how.value: (values.get(RATE_WAIT + how, 0.0), values.get(RATE_WAIT_SECONDS + how, 0.0))
        for how in WaitKind
        if RATE_WAIT + how in values
    }
    total, buckets = 0.0, []
    for bound in [f"{b:g}" for b in SEND_BUCKETS] + [INF]:
        total += values.get(SEND_SECONDS + bound, 0.0)
        buckets.append((bound, total))
    return WorkerFigures(statuses, errors, buckets, values.get(SEND_SUM, 0.0), waits)


def _text(name: str | bytes) -> str:
    return name.decode() if isinstance(name, bytes) else name
