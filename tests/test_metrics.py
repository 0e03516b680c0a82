"""`GET /metrics`: counters move as events flow through (scrape, post, scrape), and the workers'
figures, written to Redis in the worker's own steps, are read back when scraped.

The web-side counters belong to the test process (one registry for every app the tests build), so
each test compares a scrape after with a scrape before."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from bridge.delivery.control import pause_sending, resume
from bridge.delivery.records import Status
from bridge.dev.dev_redis import free_port
from bridge.errors import AccountError
from bridge.observability.figures import SEND_BUCKETS, Tally, WaitKind, bucket_field, read_figures
from bridge.stripe_events import samples
from tests.conftest import ROOT, Bridge, make_config
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import meta_error, status_post
from tests.test_boundaries import importers
from tests.test_customer_replies import meta

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def scrape(bridge: Bridge) -> Samples:
    response = bridge.client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse(response.get_data(as_text=True))


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- web side --------------------------------------------------------------------------------


def test_a_queued_then_repeated_event_moves_queued_then_duplicate_by_its_type(bridge: Bridge):
    event = samples.fresh_event("payment_intent.succeeded")
    before = scrape(bridge)
    assert bridge.post(event).json == {"status": "queued"}
    middle = scrape(bridge)
    assert bridge.post(event).json == {"status": "duplicate"}
    after = scrape(bridge)
    name, labels = "bridge_events_received_total", {"type": "payment_intent.succeeded"}
    assert (moved(before, middle, name, **labels, outcome="queued"), moved(before, middle, name, **labels, outcome="duplicate")) == (1, 0)
    assert (moved(middle, after, name, **labels, outcome="queued"), moved(middle, after, name, **labels, outcome="duplicate")) == (0, 1)


def test_an_event_type_no_mapping_uses_is_counted_ignored(bridge: Bridge):
    event = samples.fresh_event("payment_intent.succeeded")
    event["type"] = "customer.created"
    before = scrape(bridge)
    assert bridge.post(event).json == {"status": "ignored"}
    assert moved(before, scrape(bridge), "bridge_events_received_total", type="customer.created", outcome="ignored") == 1


@pytest.mark.parametrize(
    ("case", "signature_failure"),
    [("wrong secret", True), ("not JSON", False), ("too large", False)],
)
def test_a_refused_post_is_rejected_with_an_unknown_type(bridge: Bridge, case: str, signature_failure: bool):
    before = scrape(bridge)
    if case == "wrong secret":
        response = bridge.post(samples.fresh_event("payment_intent.succeeded"), secret="whsec_not_the_one")
    elif case == "not JSON":
        response = bridge.post(b"{not json")
    else:
        response = bridge.post(b"x" * (1024 * 1024 + 1))
    assert response.status_code in (400, 413)
    after = scrape(bridge)
    assert moved(before, after, "bridge_events_received_total", type="unknown", outcome="rejected") == 1
    assert moved(before, after, "bridge_signature_failures_total", webhook="stripe") == (1 if signature_failure else 0)
    rejected_types = {
        dict(labels)["type"]
        for (name, labels), v in after.items()
        if name == "bridge_events_received_total" and dict(labels)["outcome"] == "rejected" and v != value(before, name, **dict(labels))
    }
    assert rejected_types == {"unknown"}


def test_metas_posts_are_counted_by_outcome_and_a_bad_signature_by_webhook(bridge: Bridge):
    post = status_post("wamid.unknown-to-the-bridge", "delivered")
    before = scrape(bridge)
    assert bridge.post_meta(post).status_code == 200
    assert bridge.post_meta(post).status_code == 200
    assert bridge.post_meta(post, secret="not-the-app-secret").status_code == 401
    after = scrape(bridge)
    outcomes = {
        outcome: moved(before, after, "bridge_meta_webhook_posts_total", outcome=outcome) for outcome in ("queued", "duplicate", "rejected")
    }
    assert outcomes == {"queued": 1, "duplicate": 1, "rejected": 1}
    assert moved(before, after, "bridge_signature_failures_total", webhook="whatsapp") == 1
    assert moved(before, after, "bridge_signature_failures_total", webhook="stripe") == 0


# --- the workers' figures, from Redis ----------------------------------------------------------


def test_a_sent_delivery_moves_the_queue_the_status_counts_and_the_send_histogram(bridge: Bridge):
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    queued = scrape(bridge)
    assert value(queued, "bridge_redis_up") == 1
    assert (value(queued, "bridge_queue_depth"), value(queued, "bridge_deliveries", status="queued")) == (1, 1)
    assert value(queued, "bridge_queue_oldest_job_age_seconds") >= 0
    assert value(queued, "bridge_delivery_transitions_total", status="queued") == 1

    bridge.work()
    sent = scrape(bridge)
    assert value(sent, "bridge_queue_depth") == 0
    assert (value(sent, "bridge_deliveries", status="queued"), value(sent, "bridge_deliveries", status="sent")) == (0, 1)
    transitions = {s: value(sent, "bridge_delivery_transitions_total", status=s) for s in ("queued", "sending", "sent", "failed")}
    assert transitions == {"queued": 1, "sending": 1, "sent": 1, "failed": 0}
    assert value(sent, "bridge_send_duration_seconds_count") == 1
    assert value(sent, "bridge_send_duration_seconds_bucket", le="+Inf") == 1
    assert 0 < value(sent, "bridge_send_duration_seconds_sum") < 2  # the fake answers at once; the timeout is 2 s


def test_the_oldest_queued_job_ages_with_the_clock(bridge: Bridge):
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    rt = bridge.app.extensions["bridge"]
    now = rt.clock()
    rt.clock = lambda: now + 90
    assert 89 < value(scrape(bridge), "bridge_queue_oldest_job_age_seconds") < 95


def test_metas_error_codes_are_counted_from_send_answers_and_failed_statuses_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.error(131026))
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    bridge.post(samples.fresh_event("invoice.paid"))
    bridge.work()
    found = scrape(bridge)
    assert value(found, "bridge_meta_errors_total", code="131026") == 1
    assert value(found, "bridge_send_duration_seconds_count") == 2  # a refused send is timed too

    sent = next(d for d in bridge.deliveries() if d["status"] == Status.SENT)
    post = status_post(sent["wamid"], "failed", callback=sent["id"], errors=[meta_error(131049)])
    meta(bridge, post)
    meta(bridge, post)  # Meta repeats itself: counted once
    after = scrape(bridge)
    assert (value(after, "bridge_meta_errors_total", code="131049"), value(after, "bridge_meta_errors_total", code="131026")) == (1, 1)
    assert value(after, "bridge_delivery_transitions_total", status="failed") == 2


@pytest.mark.parametrize(("interval", "how"), [(0.3, WaitKind.SLEPT), (30.0, WaitKind.RESCHEDULED)])
def test_waits_for_the_pair_rate_limit_are_counted_with_their_seconds(
    redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, interval: float, how: WaitKind
):
    bridge = Bridge(make_config(redis_url, fake_graph, whatsapp={"pair_interval_seconds": interval}))
    try:
        bridge.post(samples.fresh_event("payment_intent.succeeded"))
        bridge.post(samples.fresh_event("payment_intent.succeeded"))  # the same customer: one must wait
        bridge.work()
        found = scrape(bridge)
        assert value(found, "bridge_rate_limit_waits_total", how=how) == 1
        assert 0 < value(found, "bridge_rate_limit_wait_seconds_total", how=how) <= interval
        other = WaitKind.SLEPT if how is WaitKind.RESCHEDULED else WaitKind.RESCHEDULED
        assert value(found, "bridge_rate_limit_waits_total", how=other) == 0
        if how is WaitKind.RESCHEDULED:
            assert value(found, "bridge_queue_scheduled_jobs") == 1
    finally:
        bridge.close()


def test_the_counters_hash_is_exposed_as_labelled_counters(bridge: Bridge):
    meta(bridge, status_post("wamid.unknown-to-the-bridge", "delivered"))
    assert value(scrape(bridge), "bridge_counted_total", what="statuses_for_unknown_messages") == 1


def test_a_pause_shows_on_the_sending_number_and_goes_with_resume(bridge: Bridge, fake_graph: FakeGraphAPI):
    rt = bridge.worker_runtime
    assert value(scrape(bridge), "bridge_sending_paused", phone_number_id=fake_graph.phone_number_id) == 0
    pause_sending(rt, AccountError("token expired", code=190))
    assert value(scrape(bridge), "bridge_sending_paused", phone_number_id=fake_graph.phone_number_id) == 1
    resume(rt)
    assert value(scrape(bridge), "bridge_sending_paused", phone_number_id=fake_graph.phone_number_id) == 0


def test_a_scrape_without_redis_answers_200_with_redis_down_and_the_web_counters(redis_url: str):
    bridge = Bridge(make_config(f"redis://127.0.0.1:{free_port()}/0", dry_run=True))
    try:
        found = scrape(bridge)
        assert value(found, "bridge_redis_up") == 0
        assert not [key for key in found if key[0].startswith(("bridge_deliveries", "bridge_queue_", "bridge_sending_paused"))]
        assert ("bridge_signature_failures_total", (("webhook", "stripe"),)) in found
    finally:
        bridge.close()


def test_openmetrics_is_answered_when_asked_for(bridge: Bridge):
    response = bridge.client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


# --- the figures' own rules --------------------------------------------------------------------


def test_only_the_web_side_loads_prometheus_client():
    """The worker writes its figures to Redis: it never imports prometheus_client, so a
    PROMETHEUS_MULTIPROC_DIR in its environment cannot make it write files there."""
    assert importers("prometheus_client") <= {"bridge/observability/metrics.py", "bridge/web/gunicorn_conf.py"}
    probe = "import sys, bridge.worker, bridge.cli, workers.jobs; print('prometheus_client' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("seconds", "field"),
    [
        (0.0, "send_seconds:0.05"),
        (0.05, "send_seconds:0.05"),
        (0.051, "send_seconds:0.1"),
        (25.0, "send_seconds:25"),
        (25.1, "send_seconds:+Inf"),
    ],
)
def test_a_send_falls_in_the_first_bucket_that_holds_it(seconds: float, field: str):
    assert bucket_field(seconds) == field


def test_buckets_are_read_back_cumulative_ending_with_inf():
    tally = Tally()
    for seconds in (0.01, 0.2, 0.2, 30.0):
        tally.observe_send(seconds)
    pairs = tally.drain()
    figures = read_figures(dict(zip(pairs[::2], pairs[1::2], strict=True)))
    assert len(figures.send_buckets) == len(SEND_BUCKETS) + 1
    assert dict(figures.send_buckets)["0.05"] == 1 and dict(figures.send_buckets)["0.25"] == 3 and figures.send_buckets[-1] == ("+Inf", 4)
    assert figures.send_sum == pytest.approx(30.41)
    assert tally.drain() == []  # drained once


def test_every_status_a_lua_step_counts_is_a_delivery_status(bridge: Bridge, fake_graph: FakeGraphAPI, redis: Redis):
    fake_graph.script(Reply.error(131026))
    for event_type in ("payment_intent.succeeded", "invoice.paid"):
        bridge.post(samples.fresh_event(event_type))
    bridge.work()
    statuses = read_figures(redis.hgetall(bridge.store.keys.metrics)).statuses
    assert set(statuses) <= set(Status) and {"queued", "sending", "sent", "failed"} <= set(statuses)


METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789abcd"}, 401),
        ({"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"}, 401),
        ({"Authorization": f"Bearer {METRICS_TOKEN}"}, 200),
    ],
    ids=["missing", "wrong", "shorter", "right"],
)
def test_with_a_metrics_token_a_scrape_must_bring_it(redis: Redis, redis_url: str, headers: dict[str, str], status: int):
    bridge = Bridge(make_config(redis_url, dry_run=True, health={"metrics_token": METRICS_TOKEN}))
    try:
        response = bridge.client.get("/metrics", headers=headers)
        assert response.status_code == status
        if status == 401:
            assert response.json == {"error": "missing or wrong bearer token (Authorization: Bearer $METRICS_TOKEN)"}
        else:
            assert "bridge_events_received_total" in response.text
        # Health checks stay open: platforms send no token.
        assert bridge.client.get("/healthz").status_code == 200
    finally:
        bridge.close()
