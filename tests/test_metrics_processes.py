"""`/metrics` from the Procfile's own processes: gunicorn's `web` line with several workers, and a
real `bridge worker` whose figures reach the web through Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from redis import Redis

from bridge.dev.dev_redis import free_port
from bridge.stripe_events import samples
from tests.conftest import signed, start_process, stop_process, wait_until
from tests.fake_graph import FakeGraphAPI
from tests.test_metrics import Samples, parse, value
from tests.test_procfile import procfile, procfile_env

pytestmark = pytest.mark.slow

EVENTS = 30
SCRAPES = 8


@contextmanager
def web(env: dict[str, str], log: Path) -> Iterator[str]:
    """The Procfile's web line, running; yields its base URL."""
    process = start_process(["bash", "-c", f"exec {procfile()['web']}"], env, log)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until(lambda: _answers(url), timeout=30, message="gunicorn to answer /healthz")
        yield url
    finally:
        code = stop_process(process)
        assert code == 0, log.read_text()[-3000:]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def scrape(url: str) -> Samples:
    """One scrape on a new connection (so gunicorn may give it to any of its workers)."""
    response = httpx.get(f"{url}/metrics", timeout=5, headers={"Connection": "close"})
    assert response.status_code == 200
    return parse(response.text)


def post_events(url: str, n: int) -> None:
    """`n` signed invoice.paid events, each to its own customer, on 10 connections at once."""

    def post(i: int) -> str:
        body, headers = signed(samples.fresh_event("invoice.paid", phone=f"+1415555{i:04d}"))
        response = httpx.post(f"{url}/stripe/webhook", content=body, headers={**headers, "Connection": "close"}, timeout=10)
        return response.json()["status"]

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(post, range(n))) == ["queued"] * n


def _events_counted(path: Path) -> float:
    """The events one gunicorn worker counted, from its own file."""
    total = 0.0
    for key, amount, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path)):
        metric, _sample, labels, _help = json.loads(key)
        if metric == "bridge_events_received" and labels["outcome"] == "queued":
            total += amount
    return total


def queued(found: Samples) -> float:
    return value(found, "bridge_events_received_total", type="invoice.paid", outcome="queued")


def test_three_gunicorn_workers_report_one_count_and_the_worker_its_sends(
    redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path
):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = procfile_env(redis_url, fake_graph, free_port(), WEB_CONCURRENCY="3", TMPDIR=str(temp))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with web(env, tmp_path / "web.log") as url:
        assert queued(scrape(url)) == 0
        post_events(url, EVENTS)
        counts = [queued(scrape(url)) for _ in range(SCRAPES)]
        assert counts == [EVENTS] * SCRAPES
        before_work = scrape(url)
        assert value(before_work, "bridge_queue_depth") == EVENTS
        assert value(before_work, "bridge_delivery_transitions_total", status="sent") == 0

        (directory,) = temp.glob("bridge-prometheus-*")  # made by the Procfile line itself, private
        assert directory.stat().st_mode & 0o077 == 0
        per_worker = [_events_counted(path) for path in directory.glob("counter_*.db")]
        assert len(per_worker) == 3 and sum(per_worker) == EVENTS
        assert sum(1 for n in per_worker if n) >= 2, per_worker  # the count above is a sum over workers

        worker = start_process(["bash", "-c", f"exec {procfile()['worker']}"], env, tmp_path / "worker.log")
        try:
            fake_graph.wait_for(EVENTS, timeout=60)
            wait_until(
                lambda: value(scrape(url), "bridge_delivery_transitions_total", status="sent") == EVENTS,
                timeout=30,
                message="every send to show in /metrics",
            )
        finally:
            assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        after = scrape(url)
        assert value(after, "bridge_send_duration_seconds_count") == EVENTS
        assert (value(after, "bridge_queue_depth"), value(after, "bridge_deliveries", status="sent")) == (0, EVENTS)
        assert queued(after) == EVENTS
    assert list(temp.iterdir()) == []  # gunicorn removed the directory it made when it exited


def test_files_left_by_an_earlier_run_are_not_counted_again(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path):
    directory = tmp_path / "prometheus"
    env = procfile_env(redis_url, fake_graph, free_port(), PROMETHEUS_MULTIPROC_DIR=str(directory))
    with web(env, tmp_path / "first.log") as url:
        post_events(url, 3)
        assert queued(scrape(url)) == 3
    assert list(directory.glob("counter_*.db"))  # the owner's directory stays, with the first run's files

    with web(env, tmp_path / "second.log") as url:
        assert queued(scrape(url)) == 0
        post_events(url, 1)
        assert queued(scrape(url)) == 1
