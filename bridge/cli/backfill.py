"""`bridge backfill`: queue the Stripe events the bridge never accepted, from Stripe's Events API."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import click

from bridge.cli.common import load_or_exit, parse_since
from bridge.errors import DeliveryError, InvalidRequest, StoreUnavailable
from bridge.runtime import Role, build_runtime
from bridge.services.backfill import plan_backfill, run_backfill
from bridge.stripe_events.backfill import Fed, Outcome


@click.command()
@click.option("--since", required=True, metavar="WHEN", help="Events created since: 3d, 12h, 90m, an ISO date/time (UTC) or a unix time.")
@click.option(
    "--types",
    multiple=True,
    metavar="TYPE",
    help="Only these event types (repeat it, or separate with commas; `charge.*` is a group). Default: the types the mappings use.",
)
@click.option("--dry-run", is_flag=True, help="List the events that would be queued; store and send nothing.")
def backfill(since: str, types: tuple[str, ...], dry_run: bool) -> None:
    """Queue the Stripe events this bridge never accepted, listed from Stripe's Events API.

    For an outage longer than Stripe's webhook retries (3 days in live mode): lists the events
    created since WHEN (Stripe keeps 30 days), oldest first, and feeds each into the webhook's
    own dedupe and queue step. An event accepted before (by the webhook or an earlier backfill)
    is a duplicate and never queued again, even once its dedupe mark expired, while its delivery
    records remain; WHEN may not reach back further than the bridge remembers. Events of the
    other mode than the key (live/test) and of types no mapping uses are ignored; an event
    ignored when it arrived is queued if a mapping uses its type now.

    Needs STRIPE_API_KEY ([stripe] api_key), allowed to read Events. Prints one line per event
    (id, type, created, outcome) and a summary; exits 1 when Stripe or Redis fails, 2 on a usage
    mistake.
    """
    now = time.time()
    since_at = parse_since(since, now=now)
    config = load_or_exit()
    try:
        plan = plan_backfill(config, since=since_at, now=now, types=types, dry_run=dry_run)
    except InvalidRequest as exc:
        field, _, problem = str(exc).partition(": ")
        if field in ("since", "types"):
            raise click.BadParameter(problem, param_hint=f"--{field}") from None
        raise click.UsageError(str(exc)) from None
    rt = build_runtime(config, role=Role.CLI)
    counts: Counter[Outcome] = Counter()
    try:
        for fed in run_backfill(rt, plan):
            click.echo(line(fed))
            counts[fed.outcome] += 1
    except (StoreUnavailable, DeliveryError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        rt.close()
    click.echo(summary(counts, since=since_at, dry_run=dry_run))


def line(fed: Fed) -> str:
    """One event's line: id, type, created (UTC), outcome (pure)."""
    created = datetime.fromtimestamp(fed.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    why = f" ({fed.why})" if fed.why else ""
    return f"{fed.event_id}  {fed.event_type}  {created}  {fed.outcome}{why}"


def summary(counts: Counter[Outcome], *, since: float, dry_run: bool) -> str:
    """The last line: how many events were listed and what became of them (pure)."""
    listed = sum(counts.values())
    start = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = ", ".join(f"{counts[outcome]} {outcome}" for outcome in Outcome if outcome in counts) or "nothing to do"
    head = f"{listed} event{'' if listed == 1 else 's'} since {start}: {parts}"
    return f"dry run, nothing stored or sent: {head}" if dry_run else head
