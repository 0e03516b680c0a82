"""Putting jobs on the RQ queue: one place for each job's function, timeouts, TTLs and retries."""

from __future__ import annotations

from datetime import timedelta

from redis.client import Pipeline
from rq import Queue, Retry
from rq.job import Job

from bridge import defaults
from bridge.config import DeliverySettings

DELIVER_JOB = "workers.jobs.deliver"
PROBE_JOB = "workers.jobs.probe"
UPDATES_JOB = "workers.jobs.meta_updates"
REPLY_JOB = "workers.jobs.reply"
FORWARD_JOB = "workers.jobs.forward"
"""Referenced by name so the web process never imports the worker's code."""

# Expected failures never raise out of a job (they are recorded and rescheduled by the job),
# so RQ's own retry only re-runs jobs that crashed or were abandoned by a worker killed
# mid-job; the delivery state machine makes the re-run safe.
CRASH_RETRY = Retry(max=len(defaults.RQ_RETRY_INTERVALS), interval=list(defaults.RQ_RETRY_INTERVALS))


REPLY_RETRY = Retry(max=len(defaults.REPLY_RETRY_INTERVALS), interval=list(defaults.REPLY_RETRY_INTERVALS))
FORWARD_RETRY = Retry(max=len(defaults.FORWARD_RETRY_INTERVALS), interval=list(defaults.FORWARD_RETRY_INTERVALS))
"""These two jobs raise on a passing failure (there is no record to reschedule them): RQ retries."""


def _enqueue(
    queue: Queue,
    function: str,
    *args: str,
    settings: DeliverySettings,
    description: str,
    pipeline: Pipeline,
    retry: Retry | None,
    delay: float = 0,
) -> Job:
    """One job on `pipeline` (recorded, then run in a Lua step), now or after `delay` seconds (RQ's scheduler)."""
    options = {
        "job_timeout": settings.job_timeout_seconds,
        "result_ttl": defaults.JOB_RESULT_TTL_SECONDS,
        "failure_ttl": defaults.JOB_FAILURE_TTL_SECONDS,
        "description": description,
        "retry": retry,
        "pipeline": pipeline,
    }
    if delay > 0:
        return queue.enqueue_in(timedelta(seconds=delay), function, *args, **options)
    return queue.enqueue(function, *args, **options)


def enqueue_delivery(queue: Queue, delivery: str, settings: DeliverySettings, *, pipeline: Pipeline, delay: float = 0) -> Job:
    """Queue a job that delivers `delivery`, now or after `delay` seconds."""
    return _enqueue(
        queue,
        DELIVER_JOB,
        delivery,
        settings=settings,
        description=f"deliver {delivery}",
        pipeline=pipeline,
        retry=CRASH_RETRY,
        delay=delay,
    )


def enqueue_probe(queue: Queue, settings: DeliverySettings, *, pipeline: Pipeline, delay: float) -> Job:
    """Queue the job that retries one held message while sending is paused."""
    return _enqueue(queue, PROBE_JOB, settings=settings, description="probe the paused sender", pipeline=pipeline, retry=None, delay=delay)


def enqueue_updates(queue: Queue, post_key: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the job that processes one post from Meta's webhook (statuses, replies, template changes)."""
    description = "process a post from Meta's webhook"
    return _enqueue(queue, UPDATES_JOB, post_key, settings=settings, description=description, pipeline=pipeline, retry=CRASH_RETRY)


def enqueue_reply(queue: Queue, to: str, text: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the confirmation sent back after STOP or START (inside the 24-hour window it opens)."""
    description = "confirm a customer's STOP or START"
    return _enqueue(queue, REPLY_JOB, to, text, settings=settings, description=description, pipeline=pipeline, retry=REPLY_RETRY)


def enqueue_forward(queue: Queue, document: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the forward of a customer's message to `[consent] forward_url`, retried until it lands."""
    description = "forward a customer's message to the helpdesk"
    return _enqueue(queue, FORWARD_JOB, document, settings=settings, description=description, pipeline=pipeline, retry=FORWARD_RETRY)
