"""Putting delivery jobs on the RQ queue: one place for the job's function, timeouts and TTLs."""

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
"""Referenced by name so the web process never imports the worker's code."""

# Expected failures never raise out of a job (they are recorded and rescheduled by the job),
# so RQ's own retry only re-runs jobs that crashed or were abandoned by a worker killed
# mid-job; the delivery state machine makes the re-run safe.
CRASH_RETRY = Retry(max=len(defaults.RQ_RETRY_INTERVALS), interval=list(defaults.RQ_RETRY_INTERVALS))


def enqueue_delivery(queue: Queue, delivery: str, settings: DeliverySettings, *, pipeline: Pipeline, delay: float = 0) -> Job:
    """Queue a job that delivers `delivery`, now or after `delay` seconds (RQ's scheduler)."""
    options = {
        "job_timeout": settings.job_timeout_seconds,
        "result_ttl": defaults.JOB_RESULT_TTL_SECONDS,
        "failure_ttl": defaults.JOB_FAILURE_TTL_SECONDS,
        "description": f"deliver {delivery}",
        "retry": CRASH_RETRY,
        "pipeline": pipeline,
    }
    if delay > 0:
        return queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, delivery, **options)
    return queue.enqueue(DELIVER_JOB, delivery, **options)


def enqueue_probe(queue: Queue, settings: DeliverySettings, *, pipeline: Pipeline, delay: float) -> Job:
    """Queue the job that retries one held message while sending is paused."""
    return queue.enqueue_in(
        timedelta(seconds=delay),
        PROBE_JOB,
        job_timeout=settings.job_timeout_seconds,
        result_ttl=defaults.JOB_RESULT_TTL_SECONDS,
        failure_ttl=defaults.JOB_FAILURE_TTL_SECONDS,
        description="probe the paused sender",
        pipeline=pipeline,
    )


def enqueue_updates(queue: Queue, post_key: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the job that processes one post from Meta's webhook (statuses, replies, template changes)."""
    return queue.enqueue(
        UPDATES_JOB,
        post_key,
        job_timeout=settings.job_timeout_seconds,
        result_ttl=defaults.JOB_RESULT_TTL_SECONDS,
        failure_ttl=defaults.JOB_FAILURE_TTL_SECONDS,
        description="process a post from Meta's webhook",
        retry=CRASH_RETRY,
        pipeline=pipeline,
    )
