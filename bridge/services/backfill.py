"""Backfill as an operator asks for it: check the request (key, window, types), then list Stripe's
events and feed those never accepted into the webhook's own step (`bridge.stripe_events.backfill`).

`bridge backfill` runs it in its own process; the admin API queues it as an RQ job for a worker
(`workers.jobs.backfill`), since listing 30 days of a busy account outlasts an HTTP request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bridge.config import Config
from bridge.errors import DeliveryError, InvalidRequest, NotFound, StoreUnavailable
from bridge.redis_conn import unavailable_on_redis_error
from bridge.runtime import Runtime
from bridge.stripe_events.api import api_base, stripe_client
from bridge.stripe_events.backfill import Fed, Outcome, feed, key_livemode, list_events, type_problems, window_problem

API_RETRIES = 2
"""The SDK retries a failed request (network error, 5xx, 429) this often before the backfill stops."""
REPORTED_EVENTS = 1000
"""A queued backfill's result lists at most this many events (the counts cover every one)."""


@dataclass(frozen=True)
class Backfill:
    """A checked backfill request."""

    since: float
    until: float
    types: tuple[str, ...]
    dry_run: bool = False


def plan_backfill(config: Config, *, since: float, now: float, types: Sequence[str] = (), dry_run: bool = False) -> Backfill:
    """The backfill of events created since `since`, or InvalidRequest saying what is wrong."""
    if not config.stripe.api_key:
        raise InvalidRequest("no Stripe API key: set STRIPE_API_KEY (or [stripe] api_key) to a key that can read Events")
    if problem := window_problem(since, now=now, config=config):
        raise InvalidRequest(f"since: {problem}")
    return Backfill(since, now, tuple(chosen_types(config, types)), dry_run)


def chosen_types(config: Config, given: Sequence[str]) -> list[str]:
    """The event types asked for (comma-separated or several), checked; else the types the mappings use."""
    types = [name.strip() for value in given for name in value.split(",") if name.strip()]
    if problems := type_problems(types):
        raise InvalidRequest("types: " + "; ".join(problems))
    if types:
        return types
    if not config.mapped_event_types():
        raise InvalidRequest("no mapping names an event type: nothing to backfill")
    return sorted(config.mapped_event_types())


def run_backfill(rt: Runtime, plan: Backfill) -> Iterator[Fed]:
    """List the events and feed each, oldest first; raises StoreUnavailable or a DeliveryError
    (Stripe refused or unreachable) and stops there: what was queued stays queued."""
    stripe = rt.config.stripe
    with unavailable_on_redis_error("checking Redis before the backfill"):
        rt.redis.ping()
    client = stripe_client(stripe.api_key or "", stripe.api_base_url, retries=API_RETRIES)
    events = list_events(client, since=int(plan.since), until=int(plan.until), types=plan.types, at=api_base(stripe.api_base_url))
    yield from feed(rt, events, livemode=key_livemode(stripe.api_key or ""), dry_run=plan.dry_run)


JOB = "workers.jobs.backfill"
JOB_TIMEOUT_SECONDS = 3600
"""Listing 30 days of a busy account takes minutes; an hour is the most a queued backfill may run."""
RESULT_TTL_SECONDS = 7 * 86400


def queue_backfill(rt: Runtime, plan: Backfill) -> str:
    """Queue the backfill for a worker; returns the job's id (`backfill_status` reads it)."""
    with unavailable_on_redis_error("queueing a backfill"):
        job = rt.queue.enqueue_call(
            JOB,
            kwargs={"since": plan.since, "until": plan.until, "types": list(plan.types), "dry_run": plan.dry_run},
            timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=RESULT_TTL_SECONDS,
            description=f"backfill since {plan.since:.0f}{' (dry run)' if plan.dry_run else ''}",
        )
    return job.id


def run_queued_backfill(rt: Runtime, plan: Backfill) -> dict[str, Any]:
    """The job: run the backfill to its end, or to the error that stopped it; the report is its result."""
    counts: Counter[Outcome] = Counter()
    events: list[dict[str, Any]] = []
    error = None
    try:
        for one in run_backfill(rt, plan):
            counts[one.outcome] += 1
            if len(events) < REPORTED_EVENTS:
                events.append(_reported(one))
    except (StoreUnavailable, DeliveryError) as exc:
        error = str(exc)
    return {"counts": {str(k): v for k, v in counts.items()}, "listed": sum(counts.values()), "events": events, "error": error}


def _reported(fed: Fed) -> dict[str, Any]:
    return {"id": fed.event_id, "type": fed.event_type, "created": fed.created, "outcome": str(fed.outcome), "why": fed.why}


@dataclass(frozen=True)
class BackfillStatus:
    job: str
    status: str
    """RQ's: queued, started, finished, failed, ..."""
    result: dict[str, Any] | None


def backfill_status(rt: Runtime, job_id: str) -> BackfillStatus:
    """Where a queued backfill is, and its report once it finished; NotFound for any other id."""
    with unavailable_on_redis_error("reading a backfill job"):
        try:
            job = Job.fetch(job_id, connection=rt.redis)
        except (NoSuchJobError, ValueError):  # RQ refuses ids it could never have given (ValueError)
            job = None
        if job is None or job.func_name != JOB:
            raise NotFound(f"{job_id}: no such backfill (its report is kept {RESULT_TTL_SECONDS // 86400} days)")
        found = job.get_status(refresh=True)
        status = found.value if isinstance(found, JobStatus) else "unknown"
        result = job.return_value(refresh=True) if found is JobStatus.FINISHED else None
    return BackfillStatus(job.id, status, result)
