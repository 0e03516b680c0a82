"""The RQ jobs, referenced by name from the queue (`workers.jobs.deliver`, `workers.jobs.probe`).

Entry points only: each takes the process's Runtime and hands over to `bridge.delivery`. Jobs
already in Redis name these functions, so they keep their module and names.
"""

from __future__ import annotations

from bridge.delivery.attempt import Delivery
from bridge.delivery.probe import run_probe
from bridge.runtime import process_runtime


def deliver(delivery: str) -> str:
    """Deliver one (event, mapping); returns the delivery's resulting status."""
    return Delivery(process_runtime(), delivery).run()


def probe() -> str:
    """While sending is paused: retry one held message; resume everything if Meta takes it."""
    return run_probe(process_runtime())
