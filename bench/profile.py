"""Where the time goes: py-spy profiles of the webhook (a gunicorn worker under wrk's load) and of
the worker delivering a backlog, as top-N listings appended to bench/RESULTS.md.

    .venv/bin/python bench/profile.py [--top 12] [--quick]

py-spy samples each process's Python stacks (100 a second of real time, idle greenlets and
threads left out where py-spy can tell); a function's share is the fraction of samples in which
it was on the stack (inclusive) or on top (self). The raw profiles stay in bench/results/ (load
them in speedscope: py-spy's "raw" format is folded stacks). Needs wrk and py-spy (`make bench`
installs py-spy). Redis: $REDIS_URL, else database 11 (flushed).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import ingest
import worker

SAMPLES_PER_SECOND = 100
IDLE = ("acquire_with_timeout (gevent/_threading.py", "PubSubWorkerThread", "Hub.run (gevent/hub.py")
"""Frames that mean a thread or greenlet was waiting, not working."""


def top(raw: Path, n: int, focus: str) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The `n` functions with the most inclusive samples among those whose stack holds `focus`, and
    the `n` with the most self samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(focus in frame for frame in frames) or any(idle in frame for frame in frames for idle in IDLE):
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        raise SystemExit(f"no samples in {raw} for {focus}")
    mine = [(f, c / total) for f, c in inclusive.most_common() if ("bridge/" in f or "workers/" in f) and c / total < 0.999][:n]
    return mine, [(f, c / total) for f, c in own.most_common(n)]


def record(pid: int, seconds: float, name: str) -> Path:
    out = common.LOGS / f"{name}.profile.txt"
    argv = [str(common.BIN / "py-spy"), "record", "-p", str(pid), "-d", f"{seconds:g}", "-r", str(SAMPLES_PER_SECOND)]
    done = subprocess.run([*argv, "-f", "raw", "-o", str(out)], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy failed (it needs ptrace: run as root or with CAP_SYS_PTRACE): {done.stderr[-500:]}")
    return out


def profile_webhook(seconds: float) -> Path:
    """A one-worker web line under wrk's load, profiled for `seconds`."""
    events = ingest.write_events(int(6_000 * (seconds + 2)))
    common.flush()
    port = common.free_port()
    server = common.start("profile-web", common.web_line(), common.env(PORT=str(port), WEB_CONCURRENCY="1"))
    try:
        common.wait_http(f"http://127.0.0.1:{port}/healthz")
        (pid,) = server.children()
        argv = ["wrk", "-t2", "-c32", f"-d{seconds + 2:g}s", "-s", str(common.BENCH / "wrk_post.lua"), f"http://127.0.0.1:{port}"]
        load = subprocess.Popen([*argv, "--", str(events), "2"], stdout=subprocess.DEVNULL)
        try:
            return record(pid, seconds, "webhook")
        finally:
            load.wait(timeout=seconds + 30)
    finally:
        server.stop()


def profile_worker(n: int) -> Path:
    """`bridge worker --burst` delivering `n` queued invoice.paid events, profiled from start to end."""
    out = common.LOGS / "worker.profile.txt"
    with common.fast_graph() as port:
        common.flush()
        config_file = common.bench_config("profile-worker", port, messages_per_second=1000, pair_interval_seconds=0)
        worker.accept(n, config_file)
        argv = [str(common.BIN / "py-spy"), "record", "-r", str(SAMPLES_PER_SECOND), "-f", "raw", "-o", str(out), "--"]
        process = common.start(
            "profile-worker", [*argv, str(common.BIN / "bridge"), "worker", "--burst"], common.env(BRIDGE_CONFIG=str(config_file))
        )
        process.popen.wait(timeout=600)
    if not out.exists():
        raise SystemExit(f"py-spy wrote no profile: see {process.log}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=12, help="functions listed a profile (default 12)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: short profiles, not recorded")
    args = parser.parse_args()
    for tool in ("wrk", str(common.BIN / "py-spy")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (make bench installs py-spy; wrk: apt-get install wrk)")
    webhook = top(profile_webhook(2 if args.quick else 6), args.top, "Flask.__call__")
    deliveries = top(profile_worker(100 if args.quick else 1500), args.top, "run (bridge/worker.py")
    table = common.Table(
        "Profile: where a webhook's and a delivery's time goes", ["profile", "function (the bridge's, inclusive)", "share"]
    )
    for name, (mine, _own) in (("webhook", webhook), ("worker", deliveries)):
        for frame, share in mine:
            table.add(name, f"`{frame}`", f"{share:.0%}")
    table.notes.append(
        "webhook: one gunicorn worker of the Procfile's web line under wrk (2 threads, 32 connections), samples inside Flask"
    )
    table.notes.append(
        "worker: the Procfile's worker delivering 1,500 invoice.paid events to the fast fake Graph API, samples in its main loop"
    )
    table.emit(record=not args.quick)
    hot = common.Table("Profile: functions on top of the stack (self time)", ["profile", "function", "share"])
    for name, (_mine, own) in (("webhook", webhook), ("worker", deliveries)):
        for frame, share in own:
            hot.add(name, f"`{frame}`", f"{share:.0%}")
    hot.notes.append("raw profiles: bench/results/webhook.profile.txt, bench/results/worker.profile.txt (py-spy raw, folded stacks)")
    hot.emit(record=not args.quick)


if __name__ == "__main__":
    main()
