"""What the bridge keeps in Redis, and how much: the 30-day footprint decides a merchant's plan."""

from __future__ import annotations

import json

from redis import Redis

from bridge.delivery.store import pack_event, unpack_event
from bridge.stripe_events import samples
from tests.conftest import Bridge


def test_events_are_stored_compressed_and_read_back_exactly():
    body = json.dumps(samples.fresh_event("invoice.paid"), indent=2).encode()
    stored = pack_event(body)
    assert len(stored) < len(body) / 2
    assert unpack_event(stored) == json.loads(body)


def test_an_accepted_event_costs_at_most_4_kb_for_its_30_days(bridge: Bridge, redis: Redis):
    """README, "Sizing Redis": about 3 KB per event. Everything the bridge keeps for the event's
    lifetime is counted (event, delivery record, indexes); RQ's finished jobs expire in 10 s."""
    types = samples.event_types()
    n = 20 * len(types)
    for i in range(n):
        assert bridge.post(samples.fresh_event(types[i % len(types)])).status_code == 200
    bridge.work()
    kept = sum(redis.memory_usage(key) or 0 for key in redis.scan_iter("bridge:*"))
    per_event = kept / n
    print(f"\n{per_event:.0f} bytes per accepted event, kept {bridge.config.redis.event_ttl_seconds // 86400} days")
    assert per_event <= 4096
    finished = [key for key in redis.scan_iter("rq:job:*") if redis.ttl(key) > 10]
    assert finished == []  # no job outlives its 10 s result TTL
