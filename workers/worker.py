"""`bridge worker`: an RQ worker on the bridge's queue, one process, no fork per job.

SimpleWorker runs jobs in this process, so the config, Redis connection and pooled HTTP client
are built once and reused by every job. RQ handles SIGTERM as a warm shutdown (finish the
current job, then exit), which fits Heroku's 30 s grace: a job's timeout is below it.
"""

from __future__ import annotations

import logging

from rq import SimpleWorker

from bridge.config import Config
from bridge.runtime import Runtime, build_runtime
from workers import context

logger = logging.getLogger(__name__)


def make_worker(runtime: Runtime, *, name: str | None = None) -> SimpleWorker:
    """A SimpleWorker on the runtime's queue that runs jobs against `runtime`."""
    context.install(runtime)
    return SimpleWorker([runtime.queue], connection=runtime.redis, name=name, default_result_ttl=600)


def run(config: Config, *, burst: bool = False, with_scheduler: bool = True) -> bool:
    """Build the process runtime and work until stopped (or until the queue is empty if `burst`)."""
    runtime = build_runtime(config, role="worker")
    worker = make_worker(runtime)
    mode = "dry run (outbox only)" if config.whatsapp.dry_run else f"sending as phone number id {config.whatsapp.phone_number_id}"
    logger.info("worker %s on queue %s: %s", worker.name, runtime.queue.name, mode)
    try:
        return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=logging.getLevelName(logging.getLogger().level))
    finally:
        runtime.close()
