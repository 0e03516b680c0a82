"""Putting jobs on the RQ queue: one place for each job's function, timeouts, TTLs and retries."""

from __future__ import annotations

import pickle
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.client import Pipeline
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.utils import utcformat

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
    job_id: str | None = None,
    at_front: bool = False,
) -> Job:
    """One job on `pipeline` (recorded, then run in a Lua step), now or after `delay` seconds (RQ's scheduler)."""
    options = {
        "job_id": job_id,
        "job_timeout": settings.job_timeout_seconds,
        "result_ttl": defaults.JOB_RESULT_TTL_SECONDS,
        "failure_ttl": defaults.JOB_FAILURE_TTL_SECONDS,
        "description": description,
        "retry": retry,
        "pipeline": pipeline,
    }
    if at_front:
        options["at_front"] = True
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


def enqueue_updates(queue: Queue, post_key: str, settings: DeliverySettings, *, pipeline: Pipeline, at_front: bool = False) -> Job:
    """Queue the job that processes one post from Meta's webhook (statuses, replies, template changes);
    `at_front`: before the messages already waiting (a post kept while its merchant is not served)."""
    description = "process a post from Meta's webhook"
    return _enqueue(
        queue, UPDATES_JOB, post_key, settings=settings, description=description, pipeline=pipeline, retry=CRASH_RETRY, at_front=at_front
    )


def enqueue_reply(queue: Queue, to: str, text: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the confirmation sent back after STOP or START (inside the 24-hour window it opens)."""
    description = "confirm a customer's STOP or START"
    return _enqueue(queue, REPLY_JOB, to, text, settings=settings, description=description, pipeline=pipeline, retry=REPLY_RETRY)


def enqueue_forward(queue: Queue, document: str, settings: DeliverySettings, *, pipeline: Pipeline) -> Job:
    """Queue the forward of a customer's message to `[consent] forward_url`, retried until it lands."""
    description = "forward a customer's message to the helpdesk"
    return _enqueue(queue, FORWARD_JOB, document, settings=settings, description=description, pipeline=pipeline, retry=FORWARD_RETRY)


@dataclass(frozen=True)
class DeliveryJobs:
    """RQ's enqueue of a delivery job, as the fields RQ writes, without building an RQ Job each time.

    Ingest creates a job per delivery on the webhook's path, where RQ's own `enqueue` (a Job
    object, its serialization, a dozen fields formatted one by one) was the largest cost after
    the Redis round trip itself. The fields every delivery job shares are learned once per
    process from one real `Queue.enqueue` recorded on an unexecuted pipeline; a job then differs
    only by its id, its data (RQ's serialization of the function and arguments), its description
    and its timestamps. `tests/test_queueing.py` holds the result equal to RQ's own.
    """

    queue_key: str
    """rq:queue:{name}: the list the job id is pushed to."""
    queues_key: str
    """rq:queues: the set of known queues."""
    job_prefix: str
    constant: tuple[str, ...]
    """Field, value, field, value, ...: what every delivery job's hash holds besides its own fields."""

    def job(self, delivery: str) -> tuple[str, bytes]:
        """A new job's id and data (RQ's serialization of the call) for `delivery`; its description
        is `deliver {delivery}`, as `enqueue_delivery` writes it. RQ compresses the data with zlib
        and reads it either way (`Job.restore` falls back to the raw bytes): a hundred bytes of
        pickle are not worth compressing on the webhook's path."""
        return str(uuid.uuid4()), pickle.dumps((DELIVER_JOB, None, (delivery,), {}), protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def timestamp(now: float) -> str:
        """A time as RQ writes it in a job's created_at and enqueued_at."""
        return utcformat(datetime.fromtimestamp(now, tz=UTC).replace(tzinfo=None))


_OWN_FIELDS = frozenset({"status", "created_at", "enqueued_at", "data", "description"})


def delivery_jobs(queue: Queue, settings: DeliverySettings) -> DeliveryJobs:
    """Learn the delivery jobs' shared fields from one enqueue RQ records (nothing reaches Redis)."""
    sentinel_id, sentinel_delivery = "00000000-0000-4000-8000-000000000000", "evt_sentinel:mapping"
    pipe = queue.connection.pipeline(transaction=False)
    _enqueue(
        queue,
        DELIVER_JOB,
        sentinel_delivery,
        settings=settings,
        description=f"deliver {sentinel_delivery}",
        pipeline=pipe,
        retry=CRASH_RETRY,
        job_id=sentinel_id,
    )
    commands = [args for args, _options in pipe.command_stack]
    pipe.reset()
    job_key = f"{Job.redis_job_namespace_prefix}{sentinel_id}"
    shapes = [(c[0], c[1]) for c in commands]
    expected = [("SADD", Queue.redis_queues_keys), ("HSET", job_key), ("HSET", job_key), ("RPUSH", queue.key)]
    if shapes != expected:
        raise RuntimeError(f"RQ's enqueue writes {shapes}, not {expected}: the fast path must be checked against this RQ version")
    written = dict(zip(commands[2][2::2], commands[2][3::2], strict=True))
    template = DeliveryJobs(queue.key, Queue.redis_queues_keys, Job.redis_job_namespace_prefix, ())
    _, data = template.job(sentinel_delivery)
    if zlib.decompress(written["data"]) != data:
        raise RuntimeError("RQ serializes a job's data differently from DeliveryJobs.job: check this RQ version")
    constant = tuple(str(part) for name, value in written.items() if name not in _OWN_FIELDS for part in (name, _text(value)))
    return DeliveryJobs(queue.key, Queue.redis_queues_keys, Job.redis_job_namespace_prefix, constant)


def _text(value: object) -> str:
    return value.value if isinstance(value, JobStatus) else str(value)
