"""Accept a verified post from Meta's webhook: store it and enqueue its processing, in one Redis step.

The request answers in milliseconds (Meta retries for up to 7 days whatever is not a 2xx, and
eventually disables the webhook); the worker does the rest. A post Meta repeats byte for byte is
recognised by its digest and queued once; the updates inside are deduplicated again as they are
processed (Meta also repeats single notifications in new posts).
"""

from __future__ import annotations

import hashlib
import logging

from bridge import defaults
from bridge.delivery.queueing import enqueue_updates
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime

logger = logging.getLogger(__name__)


def accept(runtime: Runtime, body: bytes, *, first: bool = False) -> bool:
    """Store `body` and queue the job that processes it (`first`: ahead of the messages waiting in
    the queue, for a merchant not served now: a STOP must be applied before they go); False when
    the same post was already taken."""
    store, digest = runtime.store, hashlib.sha256(body).hexdigest()
    key = store.keys.meta_post(digest)
    settings = runtime.config.delivery
    _job, commands = store.record_enqueues(lambda pipe: enqueue_updates(runtime.queue, key, settings, pipeline=pipe, at_front=first))
    new = store.accept_meta_post(digest, body, commands, now=runtime.clock(), ttl=defaults.META_POST_TTL_SECONDS)
    # A repeat is the same bytes Meta sent before: already queued.
    message, outcome = ("meta post queued", "queued") if new else ("meta post duplicate", "duplicate")
    logger.info(message, extra=log_fields(post=post_label(key), outcome=outcome, bytes=len(body)))
    return new


def post_label(key: str) -> str:
    """How log lines name a stored post (its key's digest, shortened): the web's line and the worker's match."""
    return key.rsplit(":", 1)[-1][:16]


def requeue_unprocessed(runtime: Runtime) -> int:
    """Queue again every stored post not yet processed; returns how many.

    A post's job can be lost where a delivery's cannot (RQ gives up after its crash retries, say
    during a long Redis outage), and a post may hold a STOP. The worker runs this at start: a post
    processed twice changes nothing (its updates carry seen-marks, or keep only the newest notice).
    """
    store, queue, settings = runtime.store, runtime.queue, runtime.config.delivery
    keys = store.unprocessed_meta_posts()
    for key in keys:
        _job, commands = store.record_enqueues(lambda pipe, k=key: enqueue_updates(queue, k, settings, pipeline=pipe))
        store.run_commands(commands)
    if keys:
        logger.warning("%d posts from Meta's webhook were stored but not processed: queued again", len(keys))
    return len(keys)
