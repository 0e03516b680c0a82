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


def enqueue_reply(queue: Queue, to: str, text: str, *, pipeline: Pipeline) -> Job:
    """Queue the confirmation sent back after STOP or START (inside the 24-hour window it opens)."""
    return queue.enqueue(
        REPLY_JOB,
        to,
        text,
        job_timeout=defaults.JOB_TIMEOUT_SECONDS,
        result_ttl=defaults.JOB_RESULT_TTL_SECONDS,
        failure_ttl=defaults.JOB_FAILURE_TTL_SECONDS,
        description="confirm a customer's STOP or START",
        retry=Retry(max=len(defaults.REPLY_RETRY_INTERVALS), interval=list(defaults.REPLY_RETRY_INTERVALS)),
        pipeline=pipeline,
    )


def enqueue_forward(queue: Queue, document: str, *, pipeline: Pipeline) -> Job:
    """Queue the forward of a customer's message to `[consent] forward_url`, retried until it lands."""
    return queue.enqueue(
        FORWARD_JOB,
        document,
        job_timeout=defaults.JOB_TIMEOUT_SECONDS,
        result_ttl=defaults.JOB_RESULT_TTL_SECONDS,
        failure_ttl=defaults.JOB_FAILURE_TTL_SECONDS,
        description="forward a customer's message to the helpdesk",
        retry=Retry(max=len(defaults.FORWARD_RETRY_INTERVALS), interval=list(defaults.FORWARD_RETRY_INTERVALS)),
        pipeline=pipeline,
    )
