"""The worker process (`bridge worker`): an RQ worker on the bridge's queue, one process, no fork per job.

SimpleWorker runs jobs in this process, so the config, Redis connection and pooled HTTP client
are built once and reused by every job. RQ handles SIGTERM as a warm shutdown (finish the
current job, then exit), which fits Heroku's 30 s grace: a job's timeout is below it.
"""

from __future__ import annotations

import logging
import time

from rq import SimpleWorker

from bridge import defaults
from bridge.config import Config
from bridge.errors import StoreUnavailable
from bridge.redis_conn import OUTAGES, persistence_warnings
from bridge.runtime import Role, Runtime, build_runtime, install_process_runtime
from bridge.updates.ingest import requeue_unprocessed

logger = logging.getLogger(__name__)


def make_worker(runtime: Runtime, *, name: str | None = None) -> SimpleWorker:
    """A SimpleWorker on the runtime's queue that runs jobs against `runtime`.

    Settings chosen on purpose: finished jobs are kept only 10 s (the delivery record is the
    history), and registries are cleaned every minute so a job abandoned by a killed worker is
    re-run within about a minute of its timeout.
    """
    install_process_runtime(runtime)
    return SimpleWorker(
        [runtime.queue],
        connection=runtime.redis,
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
