"""Worker throughput as a ratio to RQ's own no-op job rate, measured in one process.

    .venv/bin/python bench/worker_rate.py [N] [ROUNDS]

Each round: N no-op jobs (`builtins.len`) through a SimpleWorker, then N signed sample events
through the web app and the bridge's worker, which sends each to the fake Graph API running in
its own process (so the fake does not compete for this process's GIL). Redis: $REDIS_URL, else
database 11 of the local server (flushed). Prints one line per round and the median ratio.
Talks only to 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402

from bridge.config import parse_config  # noqa: E402
from bridge.dev.dev_redis import free_port  # noqa: E402
from bridge.stripe_events import samples  # noqa: E402
from bridge.worker import make_worker  # noqa: E402
from tests.conftest import SECRET, Bridge, example_raw, wait_until  # noqa: E402

FAKE = """
import sys, time
sys.path.insert(0, sys.argv[2])
from tests.fake_graph import FakeGraphAPI
FakeGraphAPI(port=int(sys.argv[1])).start()
print("ready", flush=True)
time.sleep(86400)
"""


def main(n: int, rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11"
    redis = Redis.from_url(url)
    redis.flushdb()
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(port), str(ROOT)], stdout=subprocess.PIPE)
    wait_until(lambda: fake.stdout.readline() == b"ready\n", timeout=10, message="the fake Graph API")
    raw = example_raw()
    raw["stripe"]["webhook_secrets"] = [SECRET]
    raw["redis"]["url"] = url
    raw["whatsapp"].update(
        access_token="test-token",
        phone_number_id="106540352242922",
        api_base_url=f"http://127.0.0.1:{port}",
        api_version="v23.0",
        messages_per_second=1000,
        pair_interval_seconds=0,
    )
    bridge = Bridge(parse_config(raw, source="bench"))
    ratios = []
    try:
        for i in range(rounds):
            queue = Queue("bench-noop", connection=redis)
            for _ in range(n):
                queue.enqueue("builtins.len", "")
            started = time.perf_counter()
            SimpleWorker([queue], connection=redis).work(burst=True, logging_level="WARNING")
            baseline = n / (time.perf_counter() - started)

            for j in range(n):
                bridge.post(samples.fresh_event("invoice.paid", phone=f"+1415555{j % 10000:04d}"))
            started = time.perf_counter()
            make_worker(bridge.worker_runtime).work(burst=True, with_scheduler=False, logging_level="WARNING")
            rate = n / (time.perf_counter() - started)
            statuses = {d["status"] for d in bridge.deliveries()}
            if statuses != {"sent"}:
                raise SystemExit(f"not every delivery was sent: {statuses}")
            redis.flushdb()
            ratios.append(rate / baseline)
            print(f"round {i + 1}: RQ no-op {baseline:.0f} jobs/s, bridge {rate:.0f} deliveries/s, ratio {rate / baseline:.2f}", flush=True)
    finally:
        bridge.close()
        fake.kill()
        redis.flushdb()
    print(f"median ratio {statistics.median(ratios):.2f} over {rounds} rounds of {n}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
