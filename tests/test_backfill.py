"""`bridge backfill` as a user runs it (a real process), against a fake Stripe API over HTTP, with
a real Redis and a real worker delivering to the fake Graph API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from bridge.delivery.records import Status
from bridge.services.times import parse_moment
from bridge.stripe_events import samples
from bridge.stripe_events.api import stripe_client
from bridge.stripe_events.backfill import (
    TYPES_PER_REQUEST,
    key_livemode,
    list_events,
    listing_params,
    oldest_first,
    type_problems,
    window_problem,
)
from bridge.stripe_events.event_types import KNOWN_EVENT_TYPES
from tests.conftest import EXAMPLE_CONFIG, SECRET, Bridge, example_raw, make_config
from tests.fake_graph import FakeGraphAPI
from tests.fake_stripe import API_KEY, FakeStripe, unused_port_url
from tests.test_cli import run_bridge

NOW = int(time.time())


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe) -> Iterator[Bridge]:
    """The webhook and a worker with the same mappings as the example config the CLI reads."""
    stripe_settings = {"api_key": API_KEY, "api_base_url": fake_stripe.url}
    b = Bridge(make_config(redis_url, fake_graph, stripe=stripe_settings, mappings=example_raw()["mappings"]))
    try:
        yield b
    finally:
        b.close()


def backfill(redis_url: str, stripe_url: str, *args: str, api_key: str = API_KEY):
    env = {"BRIDGE_CONFIG": str(EXAMPLE_CONFIG), "REDIS_URL": redis_url, "STRIPE_API_KEY": api_key, "STRIPE_API_BASE_URL": stripe_url}
    return run_bridge("backfill", *args, env={**env, "STRIPE_WEBHOOK_SECRET": SECRET})


def event_lines(stdout: str) -> list[list[str]]:
    """Each event line as [id, type, created, outcome...], without the summary."""
    return [line.split("  ") for line in stdout.splitlines() if line.startswith("evt_")]


def invoices(count: int, *, first_created: int) -> list[dict[str, Any]]:
    return [samples.fresh_event("invoice.paid", now=first_created + i) for i in range(count)]


def keys_and_values(redis: Redis) -> dict[bytes, bytes | None]:
    return {key: redis.dump(key) for key in redis.keys("*")}


# -- the whole path --------------------------------------------------------------------------


def test_backfill_pages_through_every_event_and_queues_them_oldest_first(bridge: Bridge, fake_stripe: FakeStripe):
    events = invoices(250, first_created=NOW - 3600)
    fake_stripe.add_events(reversed(events))  # the order Stripe received them in does not matter
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "2h")
    assert result.returncode == 0, result.stderr
    lines = event_lines(result.stdout)
    assert [line[0] for line in lines] == [e["id"] for e in events]  # oldest first
    assert {line[3] for line in lines} == {"queued"}
    assert result.stdout.splitlines()[-1].startswith("250 events since ") and result.stdout.endswith(": 250 queued\n")
    requests = fake_stripe.event_requests()
    assert [r.get("limit") for r in requests] == [["100"]] * 3
    assert [r.get("starting_after") for r in requests] == [None, [events[150]["id"]], [events[50]["id"]]]
    assert fake_stripe.problems == []
    assert bridge.queued_jobs() == 250
    assert {r["event_id"] for r in bridge.deliveries()} == {e["id"] for e in events} and len(bridge.deliveries()) == 250


def test_days_are_listed_one_at_a_time_and_fed_oldest_first(fake_stripe: FakeStripe):
    hour = 3600
    events = [samples.fresh_event("invoice.paid", now=NOW - age * hour) for age in (1, 70, 30, 50, 5, 71)]
    fake_stripe.add_events(events)
    client = stripe_client(API_KEY, fake_stripe.url)
    listed = list(list_events(client, since=NOW - 72 * hour, until=NOW, types=["invoice.paid"], at=fake_stripe.url))
    assert [e["created"] for e in listed] == sorted(e["created"] for e in events)
    windows = [(int(r["created[gte]"][0]), int(r["created[lt]"][0]) if "created[lt]" in r else None) for r in fake_stripe.event_requests()]
    day = 24 * hour
    assert windows == [(NOW - 3 * day, NOW - 2 * day), (NOW - 2 * day, NOW - day), (NOW - day, NOW), (NOW, None)]


def test_events_the_webhook_accepted_are_duplicates_and_the_missed_ones_are_delivered_once(
    bridge: Bridge, fake_stripe: FakeStripe, fake_graph: FakeGraphAPI
):
    seen, missed_1, missed_2 = (samples.fresh_event("invoice.paid", now=NOW - 300 + i, phone=f"+1415555010{i}") for i in range(3))
    fake_stripe.add_events([seen, missed_1, missed_2])
    assert bridge.post(seen).status_code == 200
    bridge.work()
    assert [r.json["to"] for r in fake_graph.accepted] == ["+14155550100"]

    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h")
    assert result.returncode == 0, result.stderr
    assert [(line[0], line[3]) for line in event_lines(result.stdout)] == [
        (seen["id"], "duplicate"),
        (missed_1["id"], "queued"),
        (missed_2["id"], "queued"),
    ]
    assert result.stdout.endswith(": 2 queued, 1 duplicate\n")
    assert bridge.store.get_event(missed_1["id"]) == missed_1  # stored as Stripe sent it (the SDK's Decimals back to strings)
    bridge.work()
    assert [r.json["to"] for r in fake_graph.accepted] == ["+14155550100", "+14155550101", "+14155550102"]
    assert {r["status"] for r in bridge.deliveries()} == {Status.SENT}

    again = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h")
    assert again.returncode == 0, again.stderr
    assert {line[3] for line in event_lines(again.stdout)} == {"duplicate"} and again.stdout.endswith(": 3 duplicate\n")
    assert bridge.queued_jobs() == 0
    bridge.work()
    assert len(fake_graph.accepted) == 3


def test_an_event_whose_dedupe_mark_expired_but_whose_deliveries_remain_is_not_sent_again(
    bridge: Bridge, fake_stripe: FakeStripe, fake_graph: FakeGraphAPI
):
    event = samples.fresh_event("invoice.paid", now=NOW - 60)
    fake_stripe.add_events([event])
    bridge.post(event)
    bridge.work()
    rt = bridge.worker_runtime
    assert rt.redis.delete(rt.keys.event(event["id"])) == 1  # [redis] event_ttl_seconds passed
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "10m")
    assert result.returncode == 0, result.stderr
    assert [line[3] for line in event_lines(result.stdout)] == ["duplicate"]
    bridge.work()
    assert len(fake_graph.accepted) == 1


def test_dry_run_lists_what_it_would_queue_and_stores_nothing(bridge: Bridge, fake_stripe: FakeStripe, redis: Redis):
    seen, missed = invoices(2, first_created=NOW - 120)
    fake_stripe.add_events([seen, missed])
    bridge.post(seen)
    before = keys_and_values(redis)
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert [(line[0], line[3]) for line in event_lines(result.stdout)] == [(seen["id"], "duplicate"), (missed["id"], "would queue")]
    assert result.stdout.splitlines()[-1].startswith("dry run, nothing stored or sent: 2 events since ")
    assert keys_and_values(redis) == before


def test_only_events_since_the_given_moment_are_listed(bridge: Bridge, fake_stripe: FakeStripe):
    started = int(time.time())
    old, recent = samples.fresh_event("invoice.paid", now=started - 7200), samples.fresh_event("invoice.paid", now=started - 60)
    fake_stripe.add_events([old, recent])
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "90m")
    finished = int(time.time()) + 1
    assert [line[0] for line in event_lines(result.stdout)] == [recent["id"]]
    (request,) = fake_stripe.event_requests()
    # 90 minutes before the moment the command ran (not the moment this file was imported).
    assert started - 5400 <= int(request["created[gte]"][0]) <= finished - 5400


def test_the_default_types_are_those_the_mappings_use(bridge: Bridge, fake_stripe: FakeStripe):
    unmapped = samples.fresh_event("invoice.paid", now=NOW - 60)
    unmapped["type"] = "invoice.finalized"
    fake_stripe.add_events([unmapped, samples.fresh_event("refund.created", now=NOW - 30)])
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h")
    assert [line[1] for line in event_lines(result.stdout)] == ["refund.created"]
    (request,) = fake_stripe.event_requests()
    listed_types = [value for name, values in request.items() if name.startswith("types[") for value in values]
    assert sorted(listed_types) == sorted(bridge.config.mapped_event_types())


def test_types_filters_by_name_and_by_group(bridge: Bridge, fake_stripe: FakeStripe):
    refunded = samples.fresh_event("charge.refunded", now=NOW - 50)
    dispute = samples.fresh_event("charge.dispute.created", now=NOW - 40)
    succeeded = samples.fresh_event("charge.refunded", now=NOW - 30)
    succeeded["type"] = "charge.succeeded"  # no mapping uses it
    invoice = samples.fresh_event("invoice.paid", now=NOW - 20)
    fake_stripe.add_events([refunded, dispute, succeeded, invoice])

    by_name = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h", "--types", "invoice.paid,charge.refunded", "--dry-run")
    assert by_name.returncode == 0, by_name.stderr
    assert [line[1] for line in event_lines(by_name.stdout)] == ["charge.refunded", "invoice.paid"]

    by_group = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h", "--types", "charge.*")
    assert by_group.returncode == 0, by_group.stderr
    assert [(line[1], line[3]) for line in event_lines(by_group.stdout)] == [
        ("charge.refunded", "queued"),
        ("charge.dispute.created", "queued"),
        ("charge.succeeded", "ignored (no mapping uses this type)"),
    ]
    assert fake_stripe.event_requests()[-1]["type"] == ["charge.*"]
    assert fake_stripe.problems == []


def test_events_of_the_other_mode_than_the_key_are_ignored(bridge: Bridge, fake_stripe: FakeStripe):
    live = samples.fresh_event("invoice.paid", now=NOW - 60)
    live["livemode"] = True
    fake_stripe.add_events([live])
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h")
    assert [line[3] for line in event_lines(result.stdout)] == ["ignored (a live-mode event, the key is a test key)"]
    assert bridge.queued_jobs() == 0


# -- failures ----------------------------------------------------------------------------------


def test_a_rejected_key_stops_with_a_message_naming_stripe_api_key(bridge: Bridge, fake_stripe: FakeStripe):
    result = backfill(bridge.config.redis.url, fake_stripe.url, "--since", "1h", api_key="rk_test_51WrongKeyForTests")
    assert result.returncode == 1
    assert "Stripe rejected STRIPE_API_KEY for the event listing (HTTP 401)" in result.stderr
    assert "rk_test_51WrongKeyForTests" not in result.stderr + result.stdout
    assert bridge.queued_jobs() == 0


def test_unreachable_stripe_stops_with_a_clear_message(bridge: Bridge):
    url = unused_port_url()
    result = backfill(bridge.config.redis.url, url, "--since", "1h")
    assert result.returncode == 1
    assert f"Stripe unreachable at {url} for the event listing" in result.stderr
    assert "Traceback" not in result.stderr


def test_redis_away_stops_before_asking_stripe(fake_stripe: FakeStripe):
    fake_stripe.add_events(invoices(1, first_created=NOW - 60))
    result = backfill("redis://127.0.0.1:1/0", fake_stripe.url, "--since", "1h")
    assert result.returncode == 1
    assert "Redis unavailable while checking Redis before the backfill" in result.stderr
    assert fake_stripe.requests == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--since", "31d"), "Stripe keeps events for 30 days"),
        (("--since", "2999-01-01"), "is in the future"),
        (("--since", "yesterday"), "neither a duration (3d, 12h, 90m), an ISO date/time nor a unix timestamp"),
        (("--since", "1h", "--types", "invoice.payd"), "'invoice.payd' is not a Stripe event type"),
        (("--since", "1h", "--types", "invoce.*"), "'invoce.*' matches no Stripe event type"),
        ((), "Missing option '--since'"),
    ],
)
def test_usage_mistakes_are_refused_before_anything_is_asked(fake_stripe: FakeStripe, redis_url: str, args: tuple[str, ...], problem: str):
    result = backfill(redis_url, fake_stripe.url, *args)
    assert result.returncode == 2
    assert problem in result.stderr
    assert fake_stripe.requests == []


def test_without_a_key_the_message_names_stripe_api_key(fake_stripe: FakeStripe, redis_url: str):
    result = backfill(redis_url, fake_stripe.url, "--since", "1h", api_key="")
    assert result.returncode == 2
    assert "no Stripe API key: set STRIPE_API_KEY" in result.stderr


# -- the parts -------------------------------------------------------------------------------


def test_more_than_twenty_types_are_listed_in_several_requests(fake_stripe: FakeStripe):
    names = sorted(KNOWN_EVENT_TYPES)[:45]
    event = samples.fresh_event("invoice.paid", now=NOW - 10)
    event["type"] = names[44]
    fake_stripe.add_events([event])
    listed = list(list_events(stripe_client(API_KEY, fake_stripe.url), since=NOW - 60, until=NOW, types=names, at=fake_stripe.url))
    assert [e["id"] for e in listed] == [event["id"]]
    assert [len([k for k in r if k.startswith("types[")]) for r in fake_stripe.event_requests()] == [20, 20, 5]
    assert fake_stripe.problems == []


def test_listing_params_put_groups_alone_and_names_twenty_at_a_time():
    names = [f"type.{n:02}" for n in range(TYPES_PER_REQUEST + 1)]
    assert listing_params(["charge.*", *names]) == [{"type": "charge.*"}, {"types": names[:20]}, {"types": names[20:]}]


def test_listings_merge_oldest_first_each_event_once():
    a, b, c = ({"id": f"evt_{n}", "created": created} for n, created in ((1, 10), (2, 20), (3, 20)))
    assert oldest_first([[c, b, a], [b]]) == [a, b, c]  # within one second, Stripe's order (c listed first: newer)


@pytest.mark.parametrize(
    ("key", "live"), [("sk_live_abc", True), ("rk_live_abc", True), ("sk_test_abc", False), ("rk_test_abc", False), ("whatever", None)]
)
def test_the_keys_mode_is_read_from_its_prefix(key: str, live: bool | None):
    assert key_livemode(key) is live


def test_a_window_longer_than_the_bridge_remembers_is_refused(redis_url: str):
    config = make_config(redis_url, redis={"event_ttl_seconds": 5 * 86400}, retention={"delivery_days": 7})
    assert window_problem(NOW - 6 * 86400, now=NOW, config=config) is None
    problem = window_problem(NOW - 8 * 86400, now=NOW, config=config)
    assert problem is not None and "remembers accepted events for 7 days" in problem


def test_type_problems_accept_every_known_type_and_groups():
    assert type_problems(["invoice.paid", "charge.*", "*"]) == []
    assert type_problems(["invoice.payd"]) == ["'invoice.payd' is not a Stripe event type"]


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("3d", 1_000_000 - 3 * 86400),
        ("12h", 1_000_000 - 12 * 3600),
        ("90m", 1_000_000 - 90 * 60),
        ("1d12h", 1_000_000 - 36 * 3600),
        ("1700000000", 1_700_000_000),
        ("2026-12-01", 1_796_083_200),
        ("2026-12-01T10:00:00+01:00", 1_796_115_600),
    ],
)
def test_since_takes_durations_dates_and_unix_times(value: str, moment: float):
    assert parse_moment(value, now=1_000_000) == moment


# -- the admin API ---------------------------------------------------------------------------

ADMIN = {"Authorization": "Bearer admin-token-0123456789abcdef"}


@pytest.fixture
def admin_bridge(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, fake_stripe: FakeStripe) -> Iterator[Bridge]:
    stripe_settings = {"api_key": API_KEY, "api_base_url": fake_stripe.url}
    config = make_config(redis_url, fake_graph, stripe=stripe_settings, admin={"token": ADMIN["Authorization"][7:]})
    b = Bridge(config)
    try:
        yield b
    finally:
        b.close()


def test_the_admin_api_queues_a_backfill_that_a_worker_runs_and_reports(
    admin_bridge: Bridge, fake_stripe: FakeStripe, fake_graph: FakeGraphAPI
):
    seen, missed = (samples.fresh_event("invoice.paid", now=NOW - 300 + i, phone=f"+1415555010{i}") for i in range(2))
    fake_stripe.add_events([seen, missed])
    assert admin_bridge.post(seen).status_code == 200
    admin_bridge.work()
    queued = admin_bridge.client.post("/api/v1/backfill", json={"since": "1h"}, headers=ADMIN)
    assert queued.status_code == 202 and queued.json["status"] == "queued" and "invoice.paid" in queued.json["types"]
    job = queued.json["job"]
    assert admin_bridge.client.get(f"/api/v1/backfill/{job}", headers=ADMIN).json == {"job": job, "status": "queued", "result": None}
    admin_bridge.work()  # the backfill job, then the delivery it queued
    report = admin_bridge.client.get(f"/api/v1/backfill/{job}", headers=ADMIN).json
    assert report["status"] == "finished"
    assert report["result"]["counts"] == {"duplicate": 1, "queued": 1} and report["result"]["error"] is None
    assert [(e["id"], e["outcome"]) for e in report["result"]["events"]] == [(seen["id"], "duplicate"), (missed["id"], "queued")]
    assert [r.json["to"] for r in fake_graph.accepted] == ["+14155550100", "+14155550101"]


def test_a_backfill_stopped_by_stripe_reports_why(admin_bridge: Bridge, fake_stripe: FakeStripe):
    fake_stripe.stop()
    job = admin_bridge.client.post("/api/v1/backfill", json={"since": "1h", "dry_run": True}, headers=ADMIN).json["job"]
    admin_bridge.work()
    report = admin_bridge.client.get(f"/api/v1/backfill/{job}", headers=ADMIN).json
    assert report["status"] == "finished" and "Stripe unreachable" in report["result"]["error"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"since": "40d"}, "since: reaches back 40.0 days"),
        ({"since": "1h", "types": ["invoice.payd"]}, "types: 'invoice.payd' is not a Stripe event type"),
    ],
)
def test_a_backfill_the_bridge_cannot_do_is_refused_before_queueing(admin_bridge: Bridge, body: dict[str, Any], problem: str):
    refused = admin_bridge.client.post("/api/v1/backfill", json=body, headers=ADMIN)
    assert refused.status_code == 422 and refused.json["error"].startswith(problem)
    assert admin_bridge.queued_jobs() == 0


def test_only_backfill_jobs_can_be_read_through_the_backfill_route(admin_bridge: Bridge):
    assert admin_bridge.client.get("/api/v1/backfill/no-such-job", headers=ADMIN).status_code == 404
    assert admin_bridge.client.get("/api/v1/backfill/%17", headers=ADMIN).status_code == 404  # found by the fuzzer: was a 500
    admin_bridge.post(samples.fresh_event("invoice.paid"))
    (delivery_job,) = admin_bridge.worker_runtime.queue.job_ids
    assert admin_bridge.client.get(f"/api/v1/backfill/{delivery_job}", headers=ADMIN).status_code == 404
