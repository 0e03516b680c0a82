"""Ingest: signed Stripe events per second on the Procfile's `web` line, against a trivial endpoint
on the same line (the ceiling) and a naive `construct_event` + `Queue.enqueue` endpoint.

    .venv/bin/python bench/ingest.py [--seconds 6] [--classes sync,gthread,gevent] [--quick]

Load generator: wrk (Debian's `wrk` package), its own process, 2 threads and 32 connections,
with bench/wrk_post.lua posting pre-signed, distinct events (each a fresh `payment_intent.succeeded`
sample, compact JSON, signed as Stripe signs; every event is posted once, Redis is flushed between
runs so none is a duplicate). Runs, each against a fresh server of the Procfile's `web` line:

  trivial, naive, bridge   as fast as wrk can: events/s, p50/p99, and each as a ratio of trivial
  bridge @ 500/s, @1000/s  a fixed offered rate (wrk's per-connection delay): p50/p99 of the answer
  + 50 slow clients        the same with bench/slow_clients.py holding 50 connections that send a
                           body one byte a second (an attacker): intake must stay open

`--classes` repeats trivial and bridge (and the slow clients) on other gunicorn worker classes, to
choose the Procfile's by numbers. Redis: $REDIS_URL, else database 11 (flushed).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

THREADS, CONNECTIONS = 2, 32
FIXED_RATE_CONNECTIONS = 20
SLOW_CLIENTS = 50
CLASS_OPTIONS = {"gthread": "--threads 8", "gevent": "--worker-connections 1000"}
"""What each worker class needs besides its name (gthread's default is one thread)."""


@dataclass(frozen=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    """Socket errors (connect, read, write, timeout) and non-2xx answers."""


def wrk(url: str, events: Path, seconds: float, *, pause_ms: float = 0, connections: int = CONNECTIONS) -> Load:
    argv = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    argv += ["-s", str(common.BENCH / "wrk_post.lua"), url, "--", str(events), str(THREADS)]
    if pause_ms:
        argv.append(f"{pause_ms:g}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> Load:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(rate, latency("50"), latency("99"), requests, errors + (int(non_2xx.group(1)) if non_2xx else 0))


def serve(app: str, port: int, worker_class: str | None) -> common.Process:
    line = common.web_line(app)
    if worker_class is not None:
        line = re.sub(r" --(worker-class|threads|worker-connections) \S+", "", line)
        line += f" --worker-class {worker_class} " + CLASS_OPTIONS.get(worker_class, "")
    process = common.start(f"web-{app.split(':')[-1].strip('()')}-{worker_class or 'procfile'}", line, common.env(PORT=str(port)))
    common.wait_http(f"http://127.0.0.1:{port}/healthz" if app.startswith("bridge") else f"http://127.0.0.1:{port}/", 30)
    return process


def measure(app: str, events: Path, seconds: float, *, worker_class: str | None = None, pause_ms: float = 0, slow: bool = False) -> Load:
    """One run against a fresh server of the web line serving `app` (and a flushed Redis)."""
    common.flush()
    port = common.free_port()
    server = serve(app, port, worker_class)
    attacker = None
    try:
        if slow:
            attacker = common.start(
                "slow-clients", [common.PYTHON, str(common.BENCH / "slow_clients.py"), str(port), str(SLOW_CLIENTS)], common.env()
            )
            common.wait_until(lambda: "ready" in attacker.log.read_text(), 30, "the slow clients to connect")
        connections = FIXED_RATE_CONNECTIONS if pause_ms else CONNECTIONS
        return wrk(f"http://127.0.0.1:{port}", events, seconds, pause_ms=pause_ms, connections=connections)
    finally:
        if attacker is not None:
            attacker.stop()
        server.stop()


def write_events(n: int) -> Path:
    path = common.LOGS / "events.tsv"
    common.LOGS.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for signature, body in common.signed_events(n):
            out.write(signature.encode() + b"\t" + body + b"\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each run (default 6)")
    parser.add_argument("--classes", default="", help="also compare these gunicorn worker classes (e.g. sync,gthread,gevent)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1-second runs, not recorded")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (or `make bench-deps`)")
    seconds = 1.0 if args.quick else args.seconds
    events = write_events(2_000 if args.quick else int(9_000 * seconds))
    bridge, trivial, naive = "bridge:create_app()", "apps:trivial", "apps:naive()"

    table = common.Table(
        "Ingest: signed events per second on the Procfile's web line",
        ["run", "events/s", "ratio to trivial", "p50 ms", "p99 ms", "errors"],
    )
    ceiling = measure(trivial, events, seconds)
    table.add("trivial endpoint (ceiling)", ceiling.rate, 1.0, ceiling.p50_ms, ceiling.p99_ms, ceiling.errors)
    for name, app in (("naive construct_event + enqueue", naive), ("bridge", bridge)):
        load = measure(app, events, seconds)
        table.add(name, load.rate, load.rate / ceiling.rate, load.p50_ms, load.p99_ms, load.errors)
    for rate in (500, 1000):
        pause = FIXED_RATE_CONNECTIONS / rate * 1000
        load = measure(bridge, events, seconds, pause_ms=pause)
        table.add(f"bridge at {rate}/s offered", load.rate, load.rate / ceiling.rate, load.p50_ms, load.p99_ms, load.errors)
    slow = measure(bridge, events, seconds, slow=True)
    table.add(f"bridge, {SLOW_CLIENTS} slow clients beside", slow.rate, slow.rate / ceiling.rate, slow.p50_ms, slow.p99_ms, slow.errors)
    slow_fixed = measure(bridge, events, seconds, pause_ms=FIXED_RATE_CONNECTIONS, slow=True)
    name = f"bridge at 1000/s, {SLOW_CLIENTS} slow clients"
    table.add(name, slow_fixed.rate, slow_fixed.rate / ceiling.rate, slow_fixed.p50_ms, slow_fixed.p99_ms, slow_fixed.errors)
    line = common.procfile()["web"]
    table.notes.append(f"web line: `{line}`, WEB_CONCURRENCY=2; wrk -t{THREADS} -c{CONNECTIONS}, {seconds:g} s a run, bench/wrk_post.lua")
    table.notes.append("targets: bridge ≥ 0.7 × trivial; p99 < 20 ms at 1000/s; intake open with 50 slow clients")
    table.emit(record=not args.quick)
    if args.classes:
        compare_classes(args.classes.split(","), events, seconds, record=not args.quick)


def compare_classes(classes: list[str], events: Path, seconds: float, *, record: bool) -> None:
    table = common.Table(
        "Ingest: gunicorn worker classes on the same line",
        ["worker class", "trivial events/s", "bridge events/s", "ratio", "bridge with 50 slow clients", "errors with slow clients"],
    )
    for worker_class in classes:
        ceiling = measure("apps:trivial", events, seconds, worker_class=worker_class)
        load = measure("bridge:create_app()", events, seconds, worker_class=worker_class)
        slow = measure("bridge:create_app()", events, seconds, worker_class=worker_class, slow=True)
        table.add(worker_class, ceiling.rate, load.rate, load.rate / ceiling.rate, slow.rate, slow.errors)
    table.notes.append("the Procfile line with only --worker-class changed; gthread and gevent keep connections alive, sync closes each")
    table.emit(record=record)


if __name__ == "__main__":
    main()
