"""The RQ jobs, referenced by name from the queue (`workers.jobs.deliver`, `.probe`, `.meta_updates`,
`.reply`, `.forward`, `.backfill`).

Entry points only: each takes the process's Runtime and hands over to `bridge.delivery`. Jobs
already in Redis name these functions, so they keep their module and names.
"""

from __future__ import annotations

from bridge.delivery.attempt import Delivery
from bridge.delivery.probe import run_probe
from bridge.runtime import process_runtime
from bridge.services.backfill import Backfill, run_queued_backfill
from bridge.updates.forward import forward as forward_message
from bridge.updates.process import process_post
from bridge.updates.replies import send_reply


def deliver(delivery: str) -> str:
    """Deliver one (event, mapping); returns the delivery's resulting status."""
    return Delivery(process_runtime(), delivery).run()


def probe() -> str:
    """While sending is paused: retry one held message; resume everything if Meta takes it."""
    return run_probe(process_runtime())


def meta_updates(post_key: str) -> str:
    """Act on one post from Meta's webhook: statuses, the customer's replies, template changes."""
    return process_post(process_runtime(), post_key)


def reply(to: str, text: str) -> str:
    """Confirm a customer's STOP or START with a text message."""
    return send_reply(process_runtime(), to, text)


def forward(document: str) -> str:
    """Forward a customer's message to the helpdesk at `[consent] forward_url`."""
    return forward_message(process_runtime(), document)


def backfill(since: float, until: float, types: list[str], dry_run: bool) -> dict:
    """A backfill the admin API queued: list Stripe's events and feed those never accepted."""
    return run_queued_backfill(process_runtime(), Backfill(since, until, tuple(types), dry_run))
