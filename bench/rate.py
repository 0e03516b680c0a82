"""Rate accuracy: messages a second at the (fake) Graph API against `[whatsapp] messages_per_second`,
with several `bridge worker` processes sharing the limit.

    .venv/bin/python bench/rate.py [--seconds 10] [--quick]

For each run (2 and 4 Procfile `worker` processes, limits 80 and 1,000 a second): a backlog of
signed `invoice.paid` events, each to its own customer (so the pair limit never applies), is
queued through the web app in-process (Flask's test client in a process a core: the web's own
code, without HTTP), enough that the workers never run dry; the workers start, and once every one has
registered with RQ the run lasts `--seconds` whole seconds; then they get SIGTERM (RQ's warm
shutdown). The fake Graph API (bench/fast_graph.py, its own process) counts arrivals per second of
its clock. Reported: the mean over the whole seconds of the window (while the backlog lasted), the
busiest second of the whole run, and the seconds above the limit, which must be none (the bridge
aims 2% under the limit: `SAFETY` in bridge/delivery/gate.py).

Baseline: the configured limit, in the same run; ratios are achieved / limit. At 1,000/s two or
four workers on 2 cores cannot reach the limit: there the workers' CPU is the bound, not the
limiter, and the ratio says how far below it they are (the seconds above it must still be none).
Redis: $REDIS_URL, else database 11 (flushed).
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import stack

RUNS = [(2, 80), (4, 80), (2, 1000), (4, 1000)]
"""(worker processes, messages_per_second), in this order."""
FIRST_GUESS = 400.0
"""Deliveries a second a first run at 1,000/s is assumed to reach (later runs use what the last reached)."""
FILLERS = min(4, os.cpu_count() or 1)
"""Processes queueing the backlog."""
SLACK_SECONDS = 2.5
"""Backlog beyond the window: the workers take jobs from their start, and the window starts at the
next whole second once every one has registered."""


def aim() -> float:
    """The share of the limit the bridge aims at (bridge/delivery/gate.py's SAFETY), if it says."""
    try:
        from bridge.delivery import gate

        return float(gate.SAFETY)
    except (ImportError, AttributeError):
        return 1.0


class Backlog:
    """Events queued for the workers: topped up before each run through the web app in-process."""

    def __init__(self, redis, queue_name: str):
        from rq import Queue

        self.queue = Queue(queue_name, connection=redis)
        self.made = 0

    def top_up(self, config_file: Path, needed: int) -> int:
        """Queue events until `needed` jobs wait, in as many processes as there are cores (two here)."""
        missing = needed - self.queue.count
        if missing > 0:
            parts = min(FILLERS, max(1, missing // 500))
            bounds = [missing * i // parts for i in range(parts + 1)]
            chunks = [(config_file, self.made + a, b - a) for a, b in itertools.pairwise(bounds)]
            with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("fork")) as pool:
                list(pool.map(_accept, chunks))
            self.made += missing
        return self.queue.count


def _accept(chunk: tuple[Path, int, int]) -> None:
    config_file, first, count = chunk
    stack.accept_in_process(config_file, stack.signed_events(count, first=first, tag="r"))


def run(redis, backlog: Backlog, graph_port: int, workers: int, limit: int, seconds: int, expected_rate: float) -> dict:
    config_file = common.bench_config(f"rate-{limit}", graph_port, messages_per_second=limit, pair_interval_seconds=0)
    # Queued before the workers start: filling beside them would take CPU from them where CPU is the bound.
    queued = backlog.top_up(config_file, math.ceil(expected_rate * (seconds + SLACK_SECONDS)))
    stack.graph_reset(graph_port)
    processes = stack.start_workers(f"rate-{workers}x{limit}", config_file, workers)
    try:
        ready = stack.wait_registered(redis, processes)
        window_start = math.ceil(ready)
        stop_at = window_start + seconds
        dry_at = None
        while time.time() < stop_at:
            if dry_at is None and backlog.queue.count == 0:
                dry_at = time.time()
            for process in processes:
                if process.popen.poll() is not None:
                    raise SystemExit(f"worker {process.name} exited with {process.popen.returncode} (see {process.log})")
            time.sleep(min(0.1, max(0.0, stop_at - time.time())))
    finally:
        stack.stop_all(processes)
    stats = stack.graph_stats(graph_port)
    per_second = {int(second): count for second, count in stats["per_second"].items()}
    if not per_second:
        raise SystemExit(f"no message reached the fake Graph API with {workers} workers at {limit}/s (see {processes[0].log})")
    end = stop_at if dry_at is None else min(stop_at, math.floor(dry_at))
    window = list(range(window_start, end))
    if not window:
        raise SystemExit(f"the backlog ({queued} jobs) ran out before the window started: see {processes[0].log}")
    counts = [per_second.get(second, 0) for second in window]
    return {
        "config": config_file,
        "log": processes[0].log,
        "total": stats["total"],
        "seconds": len(window),
        "mean": sum(counts) / len(counts),
        "busiest": max(per_second.values()),
        "over": sum(1 for count in per_second.values() if count > limit),
        "lasted": dry_at is None,
        "queued": queued,
    }


def check_records(config_file: Path, sent_at_fake: int, log: Path) -> dict[str, int]:
    """Every request the fake Graph API got is a delivery recorded `sent`; none failed or was skipped."""
    from redis import Redis

    prefix = stack.key_prefix(config_file)
    redis = Redis.from_url(common.redis_url())
    try:
        counts = {status: redis.zcard(f"{prefix}:deliveries:{status}") for status in ("sent", "failed", "skipped", "sending", "ambiguous")}
    finally:
        redis.close()
    if counts["sent"] != sent_at_fake or counts["failed"] or counts["skipped"] or counts["sending"] or counts["ambiguous"]:
        raise SystemExit(f"{sent_at_fake} requests at the fake Graph API, but deliveries by status: {counts} (see {log})")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="whole seconds measured a run (default 10)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 workers at 80/s for 2 s, not recorded")
    args = parser.parse_args()
    seconds = 2 if args.quick else args.seconds
    runs = RUNS[:1] if args.quick else RUNS
    stack.watchdog(60 + len(runs) * (seconds + 30), "bench/rate.py")
    safety = aim()

    from redis import Redis

    stack.require_redis()
    common.flush()
    redis = Redis.from_url(common.redis_url())
    table = common.Table(
        "Rate accuracy: messages a second at the Graph API against [whatsapp] messages_per_second",
        [
            "worker processes",
            "limit msg/s",
            "whole seconds",
            "mean msg/s",
            "achieved / limit",
            "error from limit",
            "achieved / aimed",
            "busiest second",
            "seconds over limit",
            "bound",
        ],
    )
    results = []
    sent = 0
    try:
        with common.fast_graph() as graph_port:
            backlog = None
            reached = FIRST_GUESS
            for workers, limit in runs:
                if backlog is None:
                    config_file = common.bench_config(f"rate-{limit}", graph_port, messages_per_second=limit, pair_interval_seconds=0)
                    backlog = Backlog(redis, stack.queue_name(config_file))
                expected = min(limit * safety, reached * 1.15)
                started = time.monotonic()
                result = run(redis, backlog, graph_port, workers, limit, seconds, expected)
                sent += result["total"]
                check_records(result["config"], sent, result["log"])
                ratio = result["mean"] / limit
                bound = "the limit" if result["mean"] >= 0.8 * limit * safety else "CPU: limit not reached"
                if bound != "the limit":
                    reached = result["mean"]
                over = result["over"]
                aimed = result["mean"] / (limit * safety)
                error = f"{(ratio - 1) * 100:+.1f}%"
                table.add(workers, limit, result["seconds"], result["mean"], ratio, error, aimed, result["busiest"], over, bound)
                results.append((workers, limit, result))
                lasted = "" if result["lasted"] else " (backlog ran out)"
                print(f"  {workers} workers at {limit}/s: {result['mean']:.1f}/s{lasted} ({time.monotonic() - started:.1f} s)", flush=True)
    finally:
        redis.close()
    short = [f"{w} workers at {lim}/s" for w, lim, r in results if not r["lasted"]]
    overshoots = [f"{w} workers at {lim}/s: busiest second {r['busiest']}" for w, lim, r in results if r["over"]]
    table.notes.append(
        f"{seconds} whole seconds a run, counted from the first whole second after every worker registered with RQ; "
        f"per-second counts by arrival at the fake Graph API (bench/fast_graph.py, answering at once); "
        f"busiest second and seconds over the limit over the whole run, start-up and shutdown included"
    )
    table.notes.append(
        f"baseline: the configured limit; the bridge aims at {safety:g} of it (SAFETY in bridge/delivery/gate.py: "
        f"{80 * safety:g}/s at 80), so the expected error where the limit is the bound is {(safety - 1) * 100:+.1f}% "
        "and achieved / aimed 1.00"
    )
    table.notes.append(
        "at 1,000/s the workers cannot reach the limit on 2 cores: the achieved rate is their CPU's, and only "
        "'seconds over limit' (must be 0) says something about the limiter there"
    )
    table.notes.append(
        "backlog: signed invoice.paid events, each to its own customer (pair_interval_seconds = 0), queued through "
        "the web app in-process (Flask test client), topped up before each run; Procfile `worker` processes, example config"
        + (f"; the backlog ran out during: {', '.join(short)}" if short else "; it lasted through every run")
    )
    if overshoots:
        table.notes.append("OVER THE LIMIT: " + "; ".join(overshoots))
    table.emit(record=not args.quick)
    if overshoots and not args.quick:
        raise SystemExit("the fake Graph API got more messages in a second than the limit: " + "; ".join(overshoots))


if __name__ == "__main__":
    main()
