"""Putting delivery jobs on the RQ queue: one place for the job's function, timeouts and TTLs."""

from __future__ import annotations

from datetime import timedelta

from redis.client import Pipeline
from rq import Queue
from rq.job import Job

from bridge import defaults
from bridge.config import DeliverySettings

DELIVER_JOB = "workers.jobs.deliver"
"""Referenced by name so the web process never imports the worker's code."""


def enqueue_delivery(queue: Queue, delivery: str, settings: DeliverySettings, *, pipeline: Pipeline, delay: float = 0) -> Job:
    """Queue a job that delivers `delivery`, now or after `delay` seconds (RQ's scheduler)."""
    options = {
        "job_timeout": settings.job_timeout_seconds,
        "result_ttl": defaults.JOB_RESULT_TTL_SECONDS,
        "failure_ttl": defaults.JOB_FAILURE_TTL_SECONDS,
        "description": f"deliver {delivery}",
        "pipeline": pipeline,
    }
    if delay > 0:
        return queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, delivery, **options)
    return queue.enqueue(DELIVER_JOB, delivery, **options)
