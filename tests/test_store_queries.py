"""Delivery queries go through Redis indexes: filters read only the matching records."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis

from bridge.delivery import ingest
from bridge.delivery.records import Field, Status
from bridge.delivery.store import NewDelivery
from bridge.dev.dev_redis import RedisServer
from bridge.runtime import Role, build_runtime
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI, Reply
from tests.test_cli import run_bridge


def index_agrees_with_records(redis: Redis, bridge: Bridge) -> None:
    keys = bridge.store.keys
    for record in bridge.store.query(limit=10_000).items:
        for status in Status:
            in_index = redis.zscore(keys.deliveries_in(status), record["id"]) is not None
            assert in_index == (record[Field.STATUS] == status), (record["id"], status)
        assert redis.zscore(keys.sent_deliveries, record["id"]) == record.get(Field.SENT_AT), record["id"]


def test_the_status_index_follows_every_transition(bridge: Bridge, fake_graph: FakeGraphAPI, redis: Redis):
    fake_graph.script(Reply.error(131026), Reply.error(130429), Reply.ok())
    for event_type in ("payment_intent.succeeded", "invoice.paid", "charge.refunded"):
        bridge.post(samples.fresh_event(event_type))
    index_agrees_with_records(redis, bridge)  # all queued
    bridge.work()
    index_agrees_with_records(redis, bridge)  # failed, retrying (throttled), sent
    bridge.work_all()
    index_agrees_with_records(redis, bridge)
    statuses = sorted(r[Field.STATUS] for r in bridge.deliveries())
    assert statuses == [Status.FAILED, Status.SENT, Status.SENT]


@pytest.fixture
def private_redis() -> Iterator[Redis]:
    """A redis-server of this test's own, so its command counts are this test's alone."""
    server = RedisServer().start()
    client = Redis.from_url(server.url)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def hgetall_calls(redis: Redis) -> int:
    return int(redis.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))


@pytest.mark.slow
def test_deliveries_by_status_among_10000_records_reads_only_the_matching_ones(private_redis: Redis, tmp_path):
    port = private_redis.connection_pool.connection_kwargs["port"]
    config = make_config(f"redis://127.0.0.1:{port}/0", dry_run=True)
    rt = build_runtime(config, role=Role.WORKER)
    try:
        now = time.time()
        for i in range(10_000):  # as ingest writes them
            delivery = f"evt_bulk{i:05d}:invoice_paid"
            new = NewDelivery(delivery, {Field.EVENT_ID: f"evt_bulk{i:05d}", Field.MAPPING: "invoice_paid"}, *rt.jobs.job(delivery))
            rt.store.accept_event(f"evt_bulk{i:05d}", b"{}", [new], rt.jobs, now=now)
        failed = [f"evt_bulk{i:05d}:invoice_paid" for i in range(0, 10_000, 1000)]
        for delivery in failed:
            assert rt.store.transition(delivery, (Status.QUEUED,), Status.FAILED, now=time.time(), error_message="test")
        private_redis.config_resetstat()
        env = {"REDIS_URL": config.redis.url, "STRIPE_WEBHOOK_SECRET": "whsec_x"}
        result = run_bridge("deliveries", "--status", "failed", "--json", env={**env, "BRIDGE_CONFIG": str(write_config(tmp_path))})
        assert result.returncode == 0, result.stderr
        listed = [line for line in result.stdout.splitlines() if line.startswith("{")]
        assert len(listed) == 10
        assert hgetall_calls(private_redis) == 10
    finally:
        rt.close()


def write_config(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text('[[mappings]]\nname = "invoice_paid"\nevents = ["invoice.paid"]\ntemplate = "invoice_paid"\nlanguage = "en_US"\n')
    return str(path)


def test_pages_cover_every_delivery_once_even_when_deliveries_share_their_creation_time(bridge: Bridge):
    """One event's deliveries are created in the same instant: the cursor must not lose or repeat them."""
    config = make_config(
        bridge.config.redis.url,
        mappings=[
            {"name": f"m{i}", "events": ["invoice.paid"], "template": "invoice_paid", "language": "en_US", "body": []} for i in range(7)
        ],
    )
    rt = build_runtime(config, role=Role.WEB, clock=lambda: 1_700_000_000.0)
    try:
        for _ in range(3):
            ingest.accept(rt, samples.fresh_event("invoice.paid"), b"{}")
        seen, cursor = [], None
        while True:
            page = rt.store.query(cursor=cursor, limit=4)
            seen += [r["id"] for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(seen) == 21 and len(set(seen)) == 21
    finally:
        rt.close()


def test_a_query_by_event_returns_that_events_deliveries(bridge: Bridge):
    first, second = samples.fresh_event("payment_intent.succeeded"), samples.fresh_event("payment_intent.succeeded")
    bridge.post(first)
    bridge.post(second)
    (record,) = bridge.store.query(event_id=first["id"]).items
    assert record[Field.EVENT_ID] == first["id"]
    assert bridge.store.query(event_id=first["id"], status=Status.SENT).items == []


@pytest.mark.parametrize("cursor", ["", "abc", "nan:evt_1:m", "inf:evt_1:m", "1700000000.0", "1700000000.0:"])
def test_a_cursor_not_given_by_the_bridge_is_a_value_error(bridge: Bridge, cursor: str):
    with pytest.raises(ValueError, match="cursor"):
        bridge.store.query(cursor=cursor)


def test_records_from_before_the_indexes_are_indexed_by_the_upgrade(bridge: Bridge, fake_graph: FakeGraphAPI, redis: Redis):
    """A deploy with existing data: the old layout had no status or event indexes."""
    events = [samples.fresh_event("payment_intent.succeeded") for _ in range(3)]
    for event in events:
        bridge.post(event)
    bridge.work()
    keys = bridge.store.keys
    for key in [*redis.scan_iter(keys.deliveries_in("*")), *redis.scan_iter(keys.event_deliveries("*")), keys.sent_deliveries, keys.schema]:
        redis.delete(key)  # as an older version left them
    assert bridge.store.upgrade(now=time.time()) == 3
    assert len(bridge.store.query(status=Status.SENT).items) == 3
    index_agrees_with_records(redis, bridge)  # the sent index too: three sends, each at its sent_at
    assert bridge.store.query(event_id=events[0]["id"]).items[0]["id"] == f"{events[0]['id']}:payment_received"
    assert bridge.store.upgrade(now=time.time()) == 0  # done once


def test_paused_numbers_are_listed_from_their_set_and_an_older_version_s_pause_joins_it_at_the_upgrade(bridge: Bridge, redis: Redis):
    store, keys = bridge.store, bridge.store.keys
    assert store.pause("111", {"code": 190}) and not store.pause("111", {"code": 190})
    store.pause("", {"code": 0})  # dry run's
    assert store.paused_numbers() == ["111", "dry-run"]
    redis.set(keys.paused("222"), "{}")  # as an older version paused a number: not in the set
    assert store.paused_numbers() == ["111", "dry-run"]
    redis.delete(keys.schema)
    store.upgrade(now=time.time())
    assert store.paused_numbers() == ["111", "222", "dry-run"]
    store.lift_pause("111")
    redis.delete(keys.paused("222"))  # a flag gone some other way: its member is not listed
    assert store.paused_numbers() == ["dry-run"]
