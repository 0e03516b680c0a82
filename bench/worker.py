"""Worker throughput against RQ's own no-op jobs, with the Procfile's `worker` process.

    .venv/bin/python bench/worker.py [N] [--workers 1,2,4] [--quick]

Baseline: N no-op jobs (`time.time`, whose result is when it ran) worked by the Procfile's own
`worker` line (`bridge worker --burst`: RQ's SimpleWorker with the bridge's settings) on its
queue. Then N signed `invoice.paid` events (the example config's richest mapping: a document
header, a currency parameter, a URL button), accepted by the web app, delivered by the same line
to the fast fake Graph API (bench/fast_graph.py, its own process). Rates are taken from the first to the last job's own
timestamps, so process start-up is not counted. Then the same with 2 and 4 worker processes, and
RQ's forking Worker for comparison. Redis: $REDIS_URL, else database 11 (flushed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common


def noop_rate(n: int, worker_class: str | None = None) -> float:
    """Jobs a second of RQ's own no-op jobs (`time.time`) on one worker process: the Procfile's own
    `worker` line on the bridge's queue (the same process, class and settings as the bridge's
    deliveries get), or RQ's CLI worker of `worker_class`."""
    from redis import Redis
    from rq import Queue

    common.flush()
    redis = Redis.from_url(common.redis_url())
    name = "bridge" if worker_class is None else "bench-noop"
    queue = Queue(name, connection=redis)
    jobs = [queue.enqueue("time.time", result_ttl=600) for _ in range(n)]
    if worker_class is None:
        command: str | list[str] = f"{common.procfile()['worker']} --burst"
        environment = common.env(BRIDGE_CONFIG=str(common.bench_config("noop")))
    else:
        command = [str(common.BIN / "rq"), "worker", "--burst", "--url", common.redis_url(), "--worker-class", worker_class, name]
        environment = common.env()
    process = common.start("rq-noop", command, environment)
    process.popen.wait(timeout=600)
    times = sorted(float(job.latest_result().return_value) for job in jobs if _refreshed(job))
    redis.close()
    if len(times) != n:
        raise SystemExit(f"only {len(times)} of {n} no-op jobs ran: see {process.log}")
    return (n - 1) / (times[-1] - times[0])


def _refreshed(job) -> bool:
    result = job.latest_result()
    return result is not None and result.return_value is not None


def bridge_rate(n: int, workers: int, graph_port: int) -> float:
    """Deliveries a second through `workers` Procfile worker processes (burst mode)."""
    from bridge.config import load_config
    from bridge.runtime import Role, build_runtime

    common.flush()
    config_file = common.bench_config("worker", graph_port, messages_per_second=1000, pair_interval_seconds=0)
    accept(n, config_file)
    environment = common.env(BRIDGE_CONFIG=str(config_file))
    processes = [common.start(f"worker-{i}", f"{common.procfile()['worker']} --burst", environment) for i in range(workers)]
    for process in processes:
        process.popen.wait(timeout=600)
    rt = build_runtime(load_config(config_file), role=Role.CLI)
    try:
        records = rt.store.query(limit=n + 10).items
    finally:
        rt.close()
    statuses = {r["status"] for r in records}
    if statuses != {"sent"} or len(records) != n:
        raise SystemExit(f"{len(records)} deliveries, statuses {statuses}: see {processes[0].log}")
    sent = sorted(r["sent_at"] for r in records)
    return (n - 1) / (sent[-1] - sent[0])


def accept(n: int, config_file: Path) -> None:
    """N distinct invoice.paid events for N customers, through the web app (nothing worked yet)."""
    from bridge.config import load_config
    from bridge.stripe_events import samples
    from bridge.stripe_events.signature import sign_payload
    from bridge.web.app import create_app

    app = create_app(load_config(config_file))
    client = app.test_client()
    for i in range(n):
        body = samples.fresh_event("invoice.paid", phone=f"+1415555{i % 10000:04d}")
        payload = common.json.dumps(body).encode()
        headers = {"Stripe-Signature": sign_payload(payload, common.SECRET), "Content-Type": "application/json"}
        if client.post("/stripe/webhook", data=payload, headers=headers).status_code != 200:
            raise SystemExit("the web app refused a signed event")
    app.extensions["bridge"].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=1500, help="deliveries a run, shared by its workers (default 1500)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to run (default 1,2,4)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few jobs, one worker, not recorded")
    args = parser.parse_args()
    n = 40 if args.quick else args.n
    counts = [1] if args.quick else [int(c) for c in args.workers.split(",")]
    table = common.Table(
        "Worker: deliveries per second against RQ's no-op jobs",
        ["run", "worker processes", "RQ no-op jobs/s", "bridge deliveries/s", "ratio"],
    )
    with common.fast_graph() as port:
        baseline = noop_rate(n)
        for workers in counts:
            started = time.monotonic()
            rate = bridge_rate(n, workers, port)
            table.add(f"bridge worker ×{workers}", workers, baseline, rate, rate / baseline)
            print(f"  {workers} worker(s): {rate:.0f}/s ({time.monotonic() - started:.1f} s)", flush=True)
        if not args.quick:
            forking = noop_rate(n // 3, "rq.worker.Worker")  # RQ's default class: a process forked per job
            table.add("RQ forking Worker, no-op", 1, baseline, forking, forking / baseline)
    table.notes.append(f"{n} invoice.paid events a run, shared by its workers; example config; the fast fake Graph API")
    table.notes.append("baseline: RQ's no-op jobs on the Procfile's worker (SimpleWorker), one process; target ≥ 0.8 for one worker")
    table.emit(record=not args.quick)


if __name__ == "__main__":
    main()
