"""`GET /metrics`: the web process's own counters, and the workers' figures read from Redis when scraped.

Web side, counted in the process (prometheus_client): events and Meta posts received, signature
failures. Under gunicorn's several workers they are kept in prometheus_client's multiprocess mode:
`bridge.web.gunicorn_conf` sets PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client,
each gunicorn worker writes its counters to files there, and a scrape answered by any of them sums
them all. Without that variable (`bridge dev`, the tests) the process's default registry is used.

Worker side, read from Redis at scrape time by `RedisFigures` (worker dynos cannot be scraped on
Heroku): the figures hash the workers write (`bridge.observability.figures`), the counters hash,
the status indexes, RQ's queue and registries, the pause flag. Two round trips per scrape,
nothing per webhook or message; when Redis does not answer they are left out and
`bridge_redis_up 0` says why.

This module imports prometheus_client: only the web process loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rq.job import Job
from rq.utils import utcparse

from bridge.delivery.records import Status
from bridge.errors import StoreUnavailable
from bridge.keys import DRY_RUN_NUMBER
from bridge.observability.figures import WaitKind, WorkerFigures, read_figures
from bridge.redis_conn import text, unavailable_on_redis_error
from bridge.runtime import Runtime

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Received(StrEnum):
    """What became of a webhook request."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    """A Stripe event type no mapping uses (answered 200 so Stripe stops sending it)."""
    REJECTED = "rejected"
    """Bad signature, not an event or envelope, too large or too slow: answered 4xx, nothing stored."""
    UNAVAILABLE = "unavailable"
    """Redis was away: answered 503, the sender retries."""
    UNCONFIGURED = "unconfigured"
    """Meta's post could not be checked: no app secret configured (503)."""
    APPLIED = "applied"
    """A Stripe App install or uninstall, applied to the merchant's record."""


class Webhook(StrEnum):
    STRIPE = "stripe"
    WHATSAPP = "whatsapp"


UNKNOWN_TYPE = "unknown"
"""The `type` label of an event that could not be verified: its type is the sender's word only."""

EVENTS_RECEIVED = Counter(
    "bridge_events_received",
    'Stripe events posted to /stripe/webhook, by event type ("unknown" when not verified) and outcome',
    ["type", "outcome"],
)
SIGNATURE_FAILURES = Counter(
    "bridge_signature_failures",
    "Webhook posts refused because their signature was missing, wrong or too old, by webhook (stripe, whatsapp)",
    ["webhook"],
)
META_POSTS = Counter("bridge_meta_webhook_posts", "Posts from Meta's webhook to /whatsapp/webhook, by outcome", ["outcome"])
UNROUTED = Counter(
    "bridge_unrouted",
    "Webhook posts for a Stripe account or WhatsApp number that is no active merchant (answered 200, ignored), "
    "by webhook and why (unknown, pending, disabled)",
    ["webhook", "reason"],
)

# Label children bound once per process: `labels()` takes a lock and builds a key on every call,
# which on the webhook's path cost more than the increment itself.
_events: dict[tuple[str, str], Counter] = {}
_signatures = {webhook: SIGNATURE_FAILURES.labels(webhook.value) for webhook in Webhook}
_meta_posts = {outcome: META_POSTS.labels(outcome.value) for outcome in Received if outcome not in (Received.IGNORED, Received.APPLIED)}


def event_received(event_type: str, outcome: Received) -> None:
    """Count a Stripe event; `event_type` must come from a verified event (else UNKNOWN_TYPE)."""
    child = _events.get((event_type, outcome))
    if child is None:
        child = _events[event_type, outcome] = EVENTS_RECEIVED.labels(event_type, outcome.value)
    child.inc()


def event_unrouted(reason: str, webhook: Webhook = Webhook.STRIPE) -> None:
    """Count an event or update no active merchant takes (not on the hot path: no cached child)."""
    UNROUTED.labels(webhook.value, reason).inc()


def signature_failed(webhook: Webhook) -> None:
    _signatures[webhook].inc()


def meta_post_received(outcome: Received) -> None:
    _meta_posts[outcome].inc()


# --- the workers' figures, from Redis -----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What Redis holds for /metrics at one moment (read by `read_snapshot`)."""

    figures: WorkerFigures
    counters: dict[str, float]
    """The counters hash: things counted and otherwise ignored."""
    by_status: dict[str, int]
    """Delivery records in each status's index."""
    queue_depth: int
    head_enqueued_at: float | None
    """When the job at the head of the queue (the next to run) was queued; None when empty."""
    scheduled: int
    failed_jobs: int
    paused: bool
    held: int


def read_snapshot(rt: Runtime) -> Snapshot:
    """Everything /metrics shows from Redis, in two round trips (raises StoreUnavailable)."""
    keys, queue = rt.keys, rt.queue
    statuses = list(Status)
    with unavailable_on_redis_error("reading figures for /metrics"):
        pipe = rt.redis.pipeline(transaction=False)
        pipe.hgetall(keys.metrics)
        pipe.hgetall(keys.counters)
        for status in statuses:
            pipe.zcard(keys.deliveries_in(status))
        pipe.llen(queue.key)
        pipe.lindex(queue.key, 0)
        pipe.zcard(queue.scheduled_job_registry.key)
        pipe.zcard(queue.failed_job_registry.key)
        pipe.exists(rt.pause_key)
        pipe.scard(keys.paused_deliveries)
        figures, counters, *counts, depth, head, scheduled, failed, paused, held = pipe.execute()
        enqueued = rt.redis.hget(Job.key_for(text(head)), "enqueued_at") if head else None
    return Snapshot(
        figures=read_figures(figures),
        counters={text(name): float(value) for name, value in counters.items()},
        by_status={str(status): int(n) for status, n in zip(statuses, counts, strict=True)},
        queue_depth=int(depth),
        head_enqueued_at=utcparse(text(enqueued)).timestamp() if enqueued else None,
        scheduled=int(scheduled),
        failed_jobs=int(failed),
        paused=bool(paused),
        held=int(held),
    )


def families(snapshot: Snapshot, *, now: float, phone_number_id: str) -> list[Metric]:
    """The metric families of a snapshot, with their HELP text (pure: values in, families out)."""
    figures = snapshot.figures
    by_status = GaugeMetricFamily(
        "bridge_deliveries", "Delivery records in each status now, within [retention] delivery_days", labels=["status"]
    )
    entered = CounterMetricFamily("bridge_delivery_transitions", "Deliveries that entered each status, all workers", labels=["status"])
    for status in Status:
        by_status.add_metric([status], snapshot.by_status.get(status, 0))
        entered.add_metric([status], figures.statuses.get(status, 0.0))
    errors = CounterMetricFamily(
        "bridge_meta_errors", "Errors Meta gave for deliveries (send answers and failed statuses), by code", labels=["code"]
    )
    for code, n in sorted(figures.meta_errors.items()):
        errors.add_metric([code], n)
    sends = HistogramMetricFamily(
        "bridge_send_duration_seconds", "Time the Cloud API took to answer a delivery's send request", unit="seconds"
    )
    sends.add_metric([], figures.send_buckets, figures.send_sum)
    waits = CounterMetricFamily("bridge_rate_limit_waits", "Times a delivery waited for the shared rate limits, by how", labels=["how"])
    waited = CounterMetricFamily("bridge_rate_limit_wait_seconds", "Seconds deliveries waited for the shared rate limits", labels=["how"])
    for how in WaitKind:
        count, seconds = figures.waits.get(how, (0.0, 0.0))
        waits.add_metric([how], count)
        waited.add_metric([how], seconds)
    counted = CounterMetricFamily(
        "bridge_counted", "Things the workers count and otherwise ignore (unknown wamids, updates not acted on, ...)", labels=["what"]
    )
    for what, n in sorted(snapshot.counters.items()):
        counted.add_metric([what], n)
    age = now - snapshot.head_enqueued_at if snapshot.head_enqueued_at is not None else 0.0
    return [
        by_status,
        entered,
        errors,
        sends,
        waits,
        waited,
        counted,
        _gauge("bridge_queue_depth", "Jobs waiting in the queue for a worker", snapshot.queue_depth),
        _gauge("bridge_queue_oldest_job_age_seconds", "How long the job at the head of the queue has waited (0: empty)", max(age, 0.0)),
        _gauge("bridge_queue_scheduled_jobs", "Jobs due later: retries, rate-limit and ordering waits, probes", snapshot.scheduled),
        _gauge("bridge_queue_failed_jobs", "Jobs in RQ's failed registry: crashes only (failed sends are records)", snapshot.failed_jobs),
        _paused(phone_number_id, snapshot.paused),
        _gauge("bridge_held_deliveries", "Deliveries held while sending is paused", snapshot.held),
    ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _paused(phone_number_id: str, paused: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "bridge_sending_paused", "1 while sending from the number is paused by an account error", labels=["phone_number_id"]
    )
    family.add_metric([phone_number_id or DRY_RUN_NUMBER], 1 if paused else 0)
    return family


class RedisFigures:
    """A prometheus Collector: the workers' figures, read from Redis when scraped."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = read_snapshot(self.rt)
        except StoreUnavailable:
            snapshot = None
        up = 1 if snapshot is not None else 0
        yield _gauge("bridge_redis_up", "1 when Redis answered this scrape; the Redis-backed figures are missing when 0", up)
        if snapshot is not None:
            yield from families(snapshot, now=self.rt.clock(), phone_number_id=self.rt.phone_number_id)


class _ProcessRegistry:
    """The process's default registry as a collector: its counters, and the process's own figures."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(rt: Runtime, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type (the text format, or OpenMetrics when asked for)."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ProcessRegistry())
    registry.register(RedisFigures(rt))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
