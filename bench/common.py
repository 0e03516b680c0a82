"""What every benchmark shares: the Procfile's lines as processes, a Redis to flush, signed events,
percentiles, and the results table (printed, and appended to bench/RESULTS.md).

Every figure a benchmark reports is a ratio against a baseline measured in the same script, at the
same moment, with the same server and worker configuration: absolute numbers on a shared 2-core
machine are noise. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
LOGS = BENCH / "results"
"""Process logs and profiles of the last run (not committed)."""
sys.path.insert(0, str(ROOT))

SECRET = "whsec_bench_0123456789abcdef"
logging.basicConfig(level=logging.WARNING)  # the bench's own process; the bridge's processes log as in production
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
PYTHON = sys.executable
BIN = Path(sys.executable).parent


def redis_url() -> str:
    """$REDIS_URL, else database 11 of the local server (flushed by the benchmarks)."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def flush(url: str | None = None) -> None:
    from redis import Redis

    client = Redis.from_url(url or redis_url())
    client.flushdb()
    client.close()


def procfile() -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def web_line(app: str = "bridge:create_app()") -> str:
    """The Procfile's `web` line, serving `app` instead of the bridge when a baseline needs it: the
    same server, worker class and settings, only the WSGI application differs."""
    line = procfile()["web"]
    return line.replace("'bridge:create_app()'", shlex.quote(app)) if app != "bridge:create_app()" else line


def env(**extra: str) -> dict[str, str]:
    """The environment a host gives the bridge's processes: the example config, the bench Redis, a
    Stripe secret, this virtualenv first on PATH, this checkout importable; production logging."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "WHATSAPP_", "BRIDGE_", "REDIS_"))}
    return {
        **base,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}",
        "BRIDGE_CONFIG": str(ROOT / "config.example.toml"),
        "REDIS_URL": redis_url(),
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "WEB_CONCURRENCY": "2",
        **extra,
    }


@dataclass
class Process:
    """A child process in its own session, its output in bench/results/<name>.log."""

    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def children(self) -> list[int]:
        """Pids of the process's children (gunicorn's workers)."""
        found = subprocess.run(["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]


def start(name: str, command: str | Sequence[str], environment: dict[str, str]) -> Process:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    argv = ["bash", "-c", f"exec {command}"] if isinstance(command, str) else list(command)
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            argv, env=environment, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Process(name, popen, log)


@contextlib.contextmanager
def running(name: str, command: str | Sequence[str], environment: dict[str, str]) -> Iterator[Process]:
    process = start(name, command, environment)
    try:
        yield process
    finally:
        process.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.05)


def wait_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, f"{url} to answer")


def free_port() -> int:
    from bridge.dev.dev_redis import free_port as port

    return port()


def signed_events(n: int, event_type: str = "payment_intent.succeeded", *, at: int | None = None) -> list[tuple[str, bytes]]:
    """`n` distinct events as Stripe sends them (compact JSON), each with its Stripe-Signature."""
    from bridge.stripe_events import samples
    from bridge.stripe_events.signature import sign_payload

    now = int(time.time()) if at is None else at
    out = []
    for _ in range(n):
        body = json.dumps(samples.fresh_event(event_type), separators=(",", ":")).encode()
        out.append((sign_payload(body, SECRET, now), body))
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    # The results file itself changes with every run: it does not make the code a changed one.
    status = ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/RESULTS.md"]
    dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True)
    return (found.stdout.strip() or "unknown") + ("+changes" if dirty.stdout.strip() else "")


@dataclass
class Table:
    """A benchmark's results: printed as Markdown and appended to bench/RESULTS.md."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(cells)

    def markdown(self) -> str:
        stamp = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · commit {commit()}"
        lines = [f"## {self.title}", "", stamp, "", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def emit(self, *, record: bool = True) -> None:
        text = self.markdown()
        print(text, flush=True)
        if record:
            with RESULTS.open("a", encoding="utf-8") as out:
                out.write("\n" + text)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def bench_config(name: str, graph_port: int | None = None, **whatsapp: Any) -> Path:
    """The example config with the bench's settings, written to bench/results/<name>.toml: the fake
    Graph API at `graph_port` (dry run without one) and `whatsapp` overrides (rate limits)."""
    import tomllib

    raw = tomllib.loads((ROOT / "config.example.toml").read_text())
    raw["stripe"]["webhook_secrets"] = [SECRET]
    raw["redis"]["url"] = redis_url()
    if graph_port is not None:
        raw["whatsapp"].update(
            access_token="bench-token",
            phone_number_id="106540352242922",
            api_base_url=f"http://127.0.0.1:{graph_port}",
            api_version="v23.0",
        )
    raw["whatsapp"].update(whatsapp)
    LOGS.mkdir(parents=True, exist_ok=True)
    path = LOGS / f"{name}.toml"
    path.write_text(_toml(raw))
    return path


def _toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the config's shapes (tables, arrays of tables, scalars, lists, inline tables)."""
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{key}]")
            out += [f"{k} = {_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                out.append(f"[[{key}]]")
                out += [f"{k} = {_value(v)}" for k, v in item.items()]
        else:
            out.insert(0, f"{key} = {_value(value)}")
    return "\n".join(out) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


@contextlib.contextmanager
def fast_graph() -> Iterator[int]:
    """The fast fake Graph API in its own process; yields its port."""
    port = free_port()
    process = start("fast_graph", [PYTHON, str(BENCH / "fast_graph.py"), str(port)], env())
    try:
        wait_until(lambda: "ready" in process.log.read_text(), 10, "the fake Graph API")
        yield port
    finally:
        process.stop()
