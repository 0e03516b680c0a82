"""Smoke runs of the benchmarks in bench/: each script's `--quick` run (a few seconds, not recorded
in bench/RESULTS.md) as a subprocess, against the tests' Redis (the `redis_url` fixture, passed as
$REDIS_URL; the scripts flush that database). Asserted: exit 0 and the printed Markdown table,
its title and rows. Never a timing: speed is measured by `make bench`, not asserted here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def run_quick(script: str, redis_url: str, timeout: float = 300) -> str:
    """`bench/<script> --quick` with the tests' Redis; its standard output."""
    environment = {**os.environ, "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{script} --quick exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def table_rows(output: str, title: str) -> list[list[str]]:
    """The rows (cells, stripped) of the Markdown table printed under `## {title}...`."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"## {title}")]
    assert starts, f"no table titled {title!r} in:\n{output[-4000:]}"
    rows, in_table = [], False
    for line in lines[starts[0] + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|---"):
            in_table = True
        elif in_table and line.startswith("| "):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif in_table:
            break
    return rows


# -- bench/ingest.py and bench/worker.py -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="bench/ingest.py needs wrk: apt-get install wrk (.ci/run installs it)")
def test_ingest_quick(redis_url: str):
    output = run_quick("ingest.py", redis_url)
    rows = table_rows(output, "Ingest: signed events per second on the Procfile's web line")
    assert [row[0] for row in rows][:3] == ["trivial endpoint (ceiling)", "naive construct_event + enqueue", "bridge"]
    bridge = rows[2]
    assert float(bridge[1].replace(",", "")) > 0 and bridge[5] == "0"  # events went through, none refused
    slow = [row for row in rows if "slow clients" in row[0]]
    assert slow and all(float(row[1].replace(",", "")) > 0 for row in slow)  # intake stays open beside them


@pytest.mark.slow
def test_worker_quick(redis_url: str):
    output = run_quick("worker.py", redis_url)
    (row,) = table_rows(output, "Worker: deliveries per second against RQ's no-op jobs")
    assert row[0] == "bridge worker ×1" and float(row[4]) > 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="bench/profile.py needs wrk: apt-get install wrk (.ci/run installs it)")
def test_profile_quick(redis_url: str):
    output = run_quick("profile.py", redis_url)
    rows = table_rows(output, "Profile: where a webhook's and a delivery's time goes")
    assert {row[0] for row in rows} == {"webhook", "worker"}
    assert any("receive (bridge/web/stripe_webhook.py" in row[1] for row in rows)
    assert any("deliver (workers/jobs.py" in row[1] for row in rows)


# -- bench/end_to_end.py, bench/rate.py, bench/memory.py ---------------------------------------------


@pytest.mark.slow
def test_end_to_end_quick(redis_url: str):
    output = run_quick("end_to_end.py", redis_url)
    rows = table_rows(output, "End to end: Stripe event posted → request at the Graph API")
    assert [row[0].split(":")[0] for row in rows] == ["webhook answer", "idle worker pickup", "end to end"]
    assert all(row[2] not in ("", "n/a") for row in rows)  # p50 measured in every row


@pytest.mark.slow
def test_rate_quick(redis_url: str):
    output = run_quick("rate.py", redis_url)
    rows = table_rows(output, "Rate accuracy: messages a second at the Graph API")
    assert rows, output
    workers, limit, seconds = rows[0][:3]
    assert (workers, limit) == ("2", "80")
    assert int(seconds) > 0


@pytest.mark.slow
def test_memory_quick(redis_url: str):
    output = run_quick("memory.py", redis_url)
    rss = table_rows(output, "Memory: RSS of the Procfile's processes")
    assert {row[0] for row in rss} >= {"gunicorn worker 1", "gunicorn worker 2", "bridge worker"}
    keys = table_rows(output, "Memory: keys in Redis after the events")
    assert {row[0] for row in keys} >= {"`bridge:event:*`", "`bridge:delivery:*`", "`bridge:history:*`"}
    cost = table_rows(output, "Memory: cost of one more event")
    assert [row[0] for row in cost] == ["300", "1,000", "3,000"]


# -- bench/fairness.py ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_fairness_quick(redis_url: str):
    output = run_quick("fairness.py", redis_url)
    rows = table_rows(output, "Fairness: merchant B's messages behind merchant A's backlog")
    assert len(rows) == 1 and all(cell not in ("", "n/a") for cell in rows[0])
    rates = table_rows(output, "Worker over merchants' queues: deliveries per second")
    assert len(rates) == 1 and float(rates[0][3]) > 0
