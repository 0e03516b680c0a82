"""The worker process (`bridge worker`): an RQ worker on the bridge's queues, one process, no fork per job.

SimpleWorker runs jobs in this process, so the config, Redis connection and pooled HTTP client
are built once and reused by every job. RQ handles SIGTERM as a warm shutdown (finish the
current job, then exit), which fits Heroku's 30 s grace: a job's timeout is below it.

Each merchant (Stripe App install) has its own queue, and the worker takes them in turn: one
job from each merchant with work waiting before a second from any (`MerchantWorker`). One
merchant's burst, or its jobs rescheduled after Meta throttles or pauses it, then never stands
in front of another merchant's messages. A job runs with the Runtime of the merchant whose queue
it came from (`bridge.runtime.running_for`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus

from bridge import defaults
from bridge.config import Config
from bridge.errors import StoreUnavailable
from bridge.merchants.registry import MerchantRegistry
from bridge.redis_conn import OUTAGES, persistence_warnings
from bridge.runtime import Role, Runtime, build_runtime, install_process_runtime, running_for
from bridge.updates.ingest import requeue_unprocessed

logger = logging.getLogger(__name__)


class MerchantWorker(SimpleWorker):
    """A SimpleWorker over the file's merchant's queue and every served merchant's, in turn.

    With one queue (no merchants) it dequeues exactly as RQ does (a blocking LMOVE), woken every
    second to look for new merchants. With several, RQ would BLPOP them in a fixed order: the
    first queue's backlog would starve the rest, and a job popped that way is lost if the worker
    dies before RQ records it. Instead one Lua step LMOVEs the first job found, starting after the
    queue served last, into that queue's intermediate list, as RQ's single-queue dequeue does (so
    RQ's maintenance re-queues a job a killed worker had taken); when every queue is empty it polls
    again after a pause that grows to `defaults.IDLE_POLL_MAX_SECONDS`.
    """

    def __init__(self, registry: MerchantRegistry, **kwargs: Any):
        self.registry = registry
        super().__init__(registry.queues(), connection=registry.base.redis, **kwargs)
        self._dequeue = registry.base.redis.register_script(_DEQUEUE)
        self._queue_set = tuple(q.name for q in self.queues)
        self._next_heartbeat = 0.0
        self._burst, self._scheduler_logging = False, None

    def _follow_merchants(self, *, now: bool = False) -> None:
        """Listen on the served merchants' queues as they come and go (keeping the turn order)."""
        if not self.registry.refresh(force=now):  # at most one GET a second; nothing at all in between
            return
        queues = self.registry.queues()
        names = tuple(q.name for q in queues)
        if names == self._queue_set:
            return
        by_name = {q.name: q for q in queues}
        kept = [q for q in self._ordered_queues if q.name in by_name]
        self.queues = queues
        self._ordered_queues = kept + [q for q in queues if q.name not in {k.name for k in kept}]
        self._queue_set = names
        logger.info("worker %s now on %d queues", self.name, len(queues))
        if self.scheduler is not None and not self._burst:
            # RQ's scheduler moves due jobs (retries, waits) only onto the queues it was made for.
            if self.scheduler._process is not None and self.scheduler._process.is_alive():
                self.stop_scheduler()
            self._start_scheduler(False, self._scheduler_logging)

    def teardown(self) -> None:
        super().teardown()
        self.registry.close()  # the merchants' HTTP clients (the file's merchant's is its owner's)

    def work(self, burst: bool = False, logging_level: str | None = None, **kwargs: Any) -> bool:
        self._burst, self._scheduler_logging = burst, logging_level
        return super().work(burst=burst, logging_level=logging_level, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        idle_pause = defaults.IDLE_POLL_MIN_SECONDS
        while True:
            self._follow_merchants()
            if len(self._ordered_queues) == 1:
                # RQ's own path; a one-second slice so a new merchant is noticed within a second.
                result = super().dequeue_job_and_maintain_ttl(None if timeout is None else 1, max_idle_time=None if timeout is None else 1)
                if result is not None or timeout is None:
                    return result
                continue
            result = self._take_in_turn()
            if result is not None or timeout is None:
                return result
            time.sleep(idle_pause)
            idle_pause = min(idle_pause * 2, defaults.IDLE_POLL_MAX_SECONDS)

    def _take_in_turn(self) -> tuple[Job, Queue] | None:
        self.set_state(WorkerStatus.IDLE)
        now = time.monotonic()
        if now >= self._next_heartbeat:  # RQ heartbeats on every dequeue; polling would make that ten a second
            self.heartbeat()
            self._next_heartbeat = now + 1
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()
        while True:
            keys = [q.key for q in self._ordered_queues]
            found = self._dequeue(keys=[*keys, *(q.intermediate_queue_key for q in self._ordered_queues)])
            if not found:
                return None
            queue_key, job_id = (part.decode() if isinstance(part, bytes) else part for part in found)
            result = Queue._fetch_dequeued_job(
                self.connection,
                queue_key,
                job_id,
                job_class=self.job_class,
                serializer=self.serializer,
                death_penalty_class=self.death_penalty_class,
            )
            if result is None:  # its hash expired or was deleted: RQ skips those too
                continue
            job, queue = result
            queue = next((q for q in self._ordered_queues if q.key == queue.key), queue)
            self.reorder_queues(reference_queue=queue)
            job.redis_server_version = self.get_redis_server_version()
            self.heartbeat()
            return job, queue

    def execute_job(self, job: Job, queue: Queue) -> None:
        runtime = self.registry.for_queue(queue.name)
        if runtime is None:  # its merchant was disabled this very second: the job waits for it
            queue.connection.lpush(queue.key, job.id)
            queue.connection.lrem(queue.intermediate_queue_key, 1, job.id)
            logger.warning("job %s put back on %s: its merchant is not served", job.id, queue.name)
            self._follow_merchants(now=True)  # stop listening there at once, not after a second of taking it back and forth
            return
        shared = len(self.queues) > 1
        with running_for(runtime, inline_wait=defaults.SHARED_INLINE_WAIT_MAX_SECONDS if shared else defaults.INLINE_WAIT_MAX_SECONDS):
            super().execute_job(job, queue)

    def reorder_queues(self, reference_queue: Queue) -> None:
        """In turn, always: the queue just served goes last."""
        position = next(i for i, q in enumerate(self._ordered_queues) if q.name == reference_queue.name)
        self._ordered_queues = self._ordered_queues[position + 1 :] + self._ordered_queues[: position + 1]


# KEYS: the queues in turn order, then each one's intermediate list. Returns {queue key, job id}
# of the first job found, moved to its queue's intermediate list, or nil.
_DEQUEUE = """
local n = #KEYS / 2
for i = 1, n do
  local id = redis.call('LMOVE', KEYS[i], KEYS[n + i], 'LEFT', 'RIGHT')
  if id then return {KEYS[i], id} end
end
return nil
"""


def make_worker(runtime: Runtime, *, name: str | None = None, registry: MerchantRegistry | None = None) -> MerchantWorker:
    """A worker on the runtime's queue and its served merchants' queues, running each job
    against its merchant's Runtime (the file's merchant: `runtime`).

    Settings chosen on purpose: finished jobs are kept only 10 s (the delivery record is the
    history), and registries are cleaned every minute so a job abandoned by a killed worker is
    re-run within about a minute of its timeout.
    """
    install_process_runtime(runtime)
    return MerchantWorker(
        registry or MerchantRegistry(runtime, role=Role.WORKER),
        name=name,
        default_result_ttl=defaults.JOB_RESULT_TTL_SECONDS,
        maintenance_interval=defaults.MAINTENANCE_INTERVAL_SECONDS,
    )


def run(config: Config, *, burst: bool = False, with_scheduler: bool = True) -> bool:
    """Build the process runtime and work until stopped (or until the queue is empty if `burst`).

    A Redis outage does not end the process: the worker waits with backoff and starts again.
    """
    runtime = build_runtime(config, role=Role.WORKER)
    mode = "dry run (outbox only)" if config.whatsapp.dry_run else f"sending as phone number id {config.whatsapp.phone_number_id}"
    wait = 1.0
    try:
        while True:
            try:
                for warning in persistence_warnings(runtime.redis):
                    logger.warning("%s", warning)
                upgraded = runtime.store.upgrade(now=runtime.clock())
                if upgraded:
                    logger.info("indexed %d delivery records written by an older version", upgraded)
                requeue_unprocessed(runtime)
                worker = make_worker(runtime)
                logger.info("worker %s on queue %s: %s", worker.name, runtime.queue.name, mode)
                worked = worker.work(
                    burst=burst, with_scheduler=with_scheduler, logging_level=logging.getLevelName(logging.getLogger().level)
                )
                # RQ's work() logs and returns on any exception it meets between jobs (a Redis
                # outage during its suspension check, say): only a stop asked for by a signal
                # (SIGTERM, Ctrl-C; RQ notes when) ends the process.
                if burst or worker._shutdown_requested_date is not None:
                    return worked
                logger.error("the worker stopped without being asked to (see above); starting again in %.0f s", wait)
            except (*OUTAGES, StoreUnavailable) as exc:
                logger.error("Redis unavailable (%s); starting again in %.0f s", type(exc).__name__, wait)
            time.sleep(wait)
            wait = min(wait * 2, defaults.REDIS_RECONNECT_MAX_SECONDS)
    finally:
        runtime.close()
