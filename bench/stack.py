"""The bridge's stack as processes, for bench/end_to_end.py, bench/rate.py and bench/memory.py.

The Procfile's `web` line served on 127.0.0.1, `bridge worker` processes, the fake Graph API's
counters, signed `invoice.paid` events for distinct customers, and senders over real HTTP: paced
(open loop: each POST at its fixed time, whatever the answers) or as fast as a few connections go.
Built on bench/common.py; everything talks to 127.0.0.1 only, and every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import signal
import threading
import time
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

EVENT_TYPE = "invoice.paid"
"""One mapping in the example config (no staff alert beside it), so one delivery an event."""


def watchdog(seconds: float, what: str) -> None:
    """End the script (cleanly: context managers stop the processes) if it runs longer than `seconds`."""

    def expired(_signum: int, _frame: Any) -> None:
        raise SystemExit(f"{what} did not finish within {seconds:g} s: something hangs (logs in {common.LOGS})")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(seconds))


def require_redis() -> None:
    """Stop with a clear message when the benchmarks' Redis does not answer."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(common.redis_url(), socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except RedisError as exc:
        raise SystemExit(f"Redis at {common.redis_url()} does not answer ({exc}): start one or set REDIS_URL") from None
    finally:
        client.close()


def config_values(config_file: Path) -> dict[str, Any]:
    return tomllib.loads(config_file.read_text())


def mapping_for(config_file: Path, event_type: str = EVENT_TYPE) -> str:
    """The name of the customer mapping that `event_type` events go through in this config."""
    names = [m["name"] for m in config_values(config_file)["mappings"] if event_type in m.get("events", ()) and not m.get("recipients")]
    if len(names) != 1:
        raise SystemExit(f"expected one customer mapping for {event_type} in {config_file}, found {names}")
    return names[0]


def key_prefix(config_file: Path) -> str:
    return config_values(config_file).get("redis", {}).get("key_prefix", "bridge")


def queue_name(config_file: Path) -> str:
    return config_values(config_file).get("redis", {}).get("queue", "bridge")


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: str
    signature: str
    body: bytes
    phone: str
    payment: str

    def delivery(self, mapping: str) -> str:
        """The delivery id (`evt_…:mapping`, as the README documents it)."""
        return f"{self.id}:{mapping}"


def phone(i: int) -> str:
    """A distinct, valid US mobile-range number for customer `i` (up to 5,000,000 of them)."""
    return f"+1415{5_000_000 + i:07d}"


def signed_events(n: int, *, first: int = 0, event_type: str = EVENT_TYPE, tag: str = "b") -> list[Event]:
    """`n` signed events as Stripe sends them (compact JSON), each about its own payment and to its
    own customer (customers `first`..`first + n - 1`), so neither the pair rate limit nor the
    per-payment ordering ever delays one. `tag` starts each event id's and payment's unique part
    (alphanumeric), so `*{tag}*` finds their keys."""
    from bridge.stripe_events import samples
    from bridge.stripe_events.signature import sign_payload

    now = int(time.time())
    out = []
    for i in range(first, first + n):
        payment = f"{tag}{i:07d}"
        event = samples.fresh_event(event_type, phone=phone(i), payment=payment)
        event["id"] = "evt_" + (payment + secrets.token_hex(12))[:24]
        body = json.dumps(event, separators=(",", ":")).encode()
        out.append(Event(event["id"], sign_payload(body, common.SECRET, now), body, phone(i), payment))
    return out


def accept_in_process(config_file: Path, events: Sequence[Event]) -> None:
    """Post events to the web app in this process (Flask's test client): what the web process does,
    without HTTP, to queue a backlog quickly."""
    from bridge.config import load_config
    from bridge.web.app import create_app

    app = create_app(load_config(config_file))
    client = app.test_client()
    try:
        for event in events:
            headers = {"Stripe-Signature": event.signature, "Content-Type": "application/json"}
            answer = client.post("/stripe/webhook", data=event.body, headers=headers)
            if answer.status_code != 200 or answer.get_json().get("status") != "queued":
                raise SystemExit(f"the web app answered {answer.status_code} {answer.get_data(as_text=True)[:200]} to a new signed event")
    finally:
        app.extensions["bridge"].close()


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Post:
    """One POST: when it was due, sent and answered (time.time()), and the answer's status (0: no answer)."""

    due: float
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    body: bytes = b""

    @property
    def answer_ms(self) -> float:
        return (self.answered - self.sent) * 1000


def post(port: int, event: Event, timeout: float = 10.0, connection: http.client.HTTPConnection | None = None) -> Post:
    """One webhook delivery: the signed body, the answer read. On a new connection each time, as
    Stripe may make it, unless `connection` is given (kept alive, and left open)."""
    result = Post(due=time.time())
    own = connection is None
    if connection is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        result.sent = time.time()
        headers = {"Stripe-Signature": event.signature, "Content-Type": "application/json; charset=utf-8"}
        connection.request("POST", "/stripe/webhook", body=event.body, headers=headers)
        answer = connection.getresponse()
        result.body = answer.read()
        result.status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        result.body = f"{type(exc).__name__}: {exc}".encode()
        connection.close()  # a kept-alive connection opens again on its next request
    finally:
        result.answered = time.time()
        if own:
            connection.close()
    return result


def paced(port: int, events: Sequence[Event], rate: float, *, threads: int = 32, lead: float = 0.3) -> list[Post]:
    """Open loop: event i is posted at start + i / rate, whatever the earlier answers (up to
    `threads` posts in flight); each result records when it was due and when it was sent."""
    start = time.time() + lead

    def send(i: int) -> Post:
        due = start + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        result = post(port, events[i])
        result.due = due
        return result

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, range(len(events))))


def flood(port: int, events: Sequence[Event], *, connections: int = 4) -> tuple[list[Post], float]:
    """Closed loop: `connections` kept-alive connections post the events as fast as they are
    answered; the posts and the wall time they took."""
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def send(event: Event) -> Post:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)
            opened.append(local.connection)
        return post(port, event, connection=local.connection)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(connections) as pool:
            results = list(pool.map(send, events))
    finally:
        for connection in opened:
            connection.close()
    return results, time.perf_counter() - started


def check_answers(results: Sequence[Post], what: str, log: Path) -> None:
    """Every post answered 200 {"status": "queued"}, else stop with what came back."""
    bad = [r for r in results if r.status != 200 or b'"queued"' not in r.body]
    if bad:
        shown = sorted({f"{r.status} {r.body[:120]!r}" for r in bad})[:5]
        raise SystemExit(f"{len(bad)} of {len(results)} {what} were not answered 200 queued: {shown} (see {log})")


# -- processes ----------------------------------------------------------------------------------


def web_command() -> str:
    """The Procfile's `web` line, bound to 127.0.0.1 only (the benchmarks never listen outside)."""
    return common.web_line().replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")


def wait_up(process: common.Process, ready: Any, timeout: float, what: str) -> None:
    """Wait for `ready()`, failing at once (with the log's tail) if the process exits."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.popen.poll() is not None:
            tail = process.log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{what} exited with {process.popen.returncode}; {process.log}:\n{tail}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what} (see {process.log})")
        time.sleep(0.05)


@contextlib.contextmanager
def web(name: str, config_file: Path) -> Iterator[tuple[common.Process, int]]:
    """The web line serving the bridge with `config_file`, on a free port: (process, port)."""
    port = common.free_port()
    environment = common.env(PORT=str(port), BRIDGE_CONFIG=str(config_file))
    with common.running(name, web_command(), environment) as process:
        wait_up(process, lambda: _answers(port, "/healthz"), 60, f"the web line ({name})")
        yield process, port


def _answers(port: int, path: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", path)
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def start_workers(name: str, config_file: Path, count: int, *extra: str) -> list[common.Process]:
    """`count` Procfile `worker` processes (`bridge worker`) with `config_file`."""
    environment = common.env(BRIDGE_CONFIG=str(config_file))
    line = " ".join([common.procfile()["worker"], *extra])
    return [common.start(f"{name}-{i}" if count > 1 else name, line, environment) for i in range(count)]


def stop_all(processes: Sequence[common.Process]) -> None:
    """SIGTERM to all at once (RQ's warm shutdown: each finishes its job), then wait for each."""
    for process in processes:
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.popen.send_signal(signal.SIGTERM)
    for process in processes:
        process.stop(timeout=30)


def wait_registered(redis: Any, processes: Sequence[common.Process], timeout: float = 60) -> float:
    """Wait until every worker process has registered with RQ (it is about to take jobs); when."""
    from rq import Worker

    def ready() -> bool:
        for process in processes:
            if process.popen.poll() is not None:
                tail = process.log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"worker {process.name} exited with {process.popen.returncode}; {process.log}:\n{tail}")
        return Worker.count(connection=redis) >= len(processes)

    common.wait_until(ready, timeout, f"{len(processes)} worker(s) to register with RQ")
    return time.time()


# -- the fake Graph API -------------------------------------------------------------------------


def graph(port: int, method: str, path: str, timeout: float = 30.0) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=b"" if method == "POST" else None)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def graph_stats(port: int) -> dict[str, Any]:
    """{"total", "per_second": {second: count}, "arrivals": {delivery id: time}} since the last reset."""
    return graph(port, "GET", "/stats")


def graph_reset(port: int) -> None:
    graph(port, "POST", "/reset")


def wait_arrivals(port: int, expected: int, timeout: float, what: str, processes: Sequence[common.Process] = ()) -> dict[str, Any]:
    """Poll the fake Graph API until `expected` messages arrived; its stats. Fails if a process exits."""
    deadline = time.monotonic() + timeout
    while True:
        stats = graph_stats(port)
        if stats["total"] >= expected:
            return stats
        for process in processes:
            if process.popen.poll() is not None:
                raise SystemExit(f"{process.name} exited with {process.popen.returncode} (see {process.log})")
        if time.monotonic() > deadline:
            logs = ", ".join(str(p.log) for p in processes)
            raise SystemExit(f"only {stats['total']} of {expected} {what} reached the fake Graph API in {timeout:g} s (see {logs})")
        time.sleep(0.25)


# -- the bridge's records -------------------------------------------------------------------------


def statuses(config_file: Path, deliveries: Sequence[str]) -> dict[str, int]:
    """How many of `deliveries` are in each status (records read through the bridge's Store)."""
    from bridge.config import load_config
    from bridge.runtime import Role, build_runtime

    rt = build_runtime(load_config(config_file), role=Role.CLI)
    counts: dict[str, int] = {}
    try:
        for delivery in deliveries:
            record = rt.store.get_delivery(delivery)
            status = str(record.get("status")) if record else "missing"
            counts[status] = counts.get(status, 0) + 1
    finally:
        rt.close()
    return counts


def check_sent(config_file: Path, deliveries: Sequence[str], log: Path) -> None:
    counts = statuses(config_file, deliveries)
    if counts != {"sent": len(deliveries)}:
        raise SystemExit(f"deliveries should all be sent, found {counts} (see {log})")
