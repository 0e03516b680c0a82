"""The fast path that writes delivery jobs at ingest (`DeliveryJobs`) writes exactly what RQ's own
`Queue.enqueue` writes, and RQ runs those jobs."""

from __future__ import annotations

import re
import zlib

from redis import Redis
from rq.job import Job

from bridge.delivery.queueing import enqueue_delivery
from bridge.stripe_events import samples
from tests.conftest import Bridge

RQ_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def hash_of(redis: Redis, key: str) -> dict[bytes, bytes]:
    return redis.hgetall(key)


def test_an_ingested_job_is_the_job_rq_writes(bridge: Bridge, redis: Redis):
    event = samples.fresh_event("payment_intent.succeeded")
    assert bridge.post(event).get_json() == {"status": "queued"}
    (record,) = bridge.deliveries()
    fast = hash_of(redis, f"rq:job:{record['job_id']}")
    assert redis.lrange("rq:queue:bridge", 0, -1) == [record["job_id"].encode()]
    assert redis.smembers("rq:queues") == {b"rq:queue:bridge"}

    rt = bridge.worker_runtime
    pipe = redis.pipeline(transaction=False)
    enqueue_delivery(rt.queue, record["id"], rt.config.delivery, pipeline=pipe)
    pipe.execute()
    (slow_id,) = [j.decode() for j in redis.lrange("rq:queue:bridge", 1, -1)]
    slow = hash_of(redis, f"rq:job:{slow_id}")

    times = (b"created_at", b"enqueued_at")
    assert {k: v for k, v in fast.items() if k not in (*times, b"data")} == {k: v for k, v in slow.items() if k not in (*times, b"data")}
    assert fast[b"data"] == zlib.decompress(slow[b"data"])  # the same call; RQ reads it uncompressed too
    assert all(RQ_TIME.match(fast[name].decode()) for name in times)
    job = Job.fetch(record["job_id"], connection=redis)
    assert (job.func_name, job.args, job.description) == ("workers.jobs.deliver", (record["id"],), f"deliver {record['id']}")


def test_rq_runs_the_ingested_job(bridge: Bridge, redis: Redis, fake_graph):
    bridge.post(samples.fresh_event("payment_intent.succeeded"))
    bridge.work()
    assert [d["status"] for d in bridge.deliveries()] == ["sent"]
    assert bridge.worker_runtime.queue.failed_job_registry.count == 0
