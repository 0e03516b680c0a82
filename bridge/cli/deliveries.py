"""`bridge outbox`, `deliveries`, `replay` and `resume`: watching deliveries and acting on them."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from bridge.cli.common import account_option, cli_runtime, parse_since, service_errors
from bridge.delivery.records import TIME_FIELDS, Field, SkipReason, Status
from bridge.services import deliveries as services
from bridge.services.sending import resume_sending


@click.command()
@click.option("--limit", default=10, show_default=True, help="How many messages to show, newest first.")
def outbox(limit: int) -> None:
    """Show the dry-run outbox: the requests the worker would have sent."""
    rt = cli_runtime()
    entries = rt.store.outbox(limit)
    if not entries:
        click.echo("outbox is empty")
    for entry in entries:
        click.echo(json.dumps(entry, indent=2, ensure_ascii=False))


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None, help="Only deliveries in this status.")
@click.option("--event", "event_id", default=None, help="Only deliveries of this event (evt_...).")
@click.option("--since", default=None, help="Only deliveries created at or after this ISO date/time (UTC) or unix time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, numbers as numbers.")
@account_option
@click.pass_context
def deliveries(
    ctx: click.Context, status: str | None, event_id: str | None, since: str | None, limit: int, as_json: bool, account: str | None
) -> None:
    """List delivery records, newest first (phone numbers masked); `deliveries show ID` for one.

    Statuses follow Meta's webhook after the send: sent → delivered → read, or failed with Meta's
    reason. Filters are answered from Redis's indexes: only the matching records are read.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = account
        return
    rt = cli_runtime(account)
    status_filter = Status(status) if status else None
    records = services.list_deliveries(rt, status=status_filter, event_id=event_id, since=parse_since(since), limit=limit).items
    if as_json:
        for record in records:
            click.echo(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return
    if not records:
        click.echo("no deliveries")
        return
    columns = ("created", "status", "id", "template", "recipient", "attempts", "detail")
    rows = [columns] + [_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


@deliveries.command("show")
@click.argument("delivery_id")
@click.option("--json", "as_json", is_flag=True, help="The record and its whole history as one JSON object.")
@account_option
@click.pass_context
def deliveries_show(ctx: click.Context, delivery_id: str, as_json: bool, account: str | None) -> None:
    """One delivery: its record and every status it went through (queued → sent → delivered → read)."""
    rt = cli_runtime(account or ctx.obj)
    with service_errors():
        record = services.get_delivery(rt, delivery_id)
    history = record.pop("history")
    if as_json:
        click.echo(json.dumps({**record, "history": history}, sort_keys=True, ensure_ascii=False, indent=2))
        return
    click.echo(f"{record['id']}  {record.get(Field.STATUS, '')}")
    for name in sorted(k for k in record if k not in ("id", Field.STATUS)):
        click.echo(f"  {name}: {_shown_value(name, record[name])}")
    click.echo("history:")
    for entry in history:
        extra = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in ("status", "at", "by"))
        line = f"  {_time(entry.get('at'))}  {entry.get('status', ''):<10} by {entry.get('by', '?')}"
        click.echo(line + (f"  ({extra})" if extra else ""))


@click.command()
@click.argument("delivery_ids", nargs=-1, metavar="[DELIVERY_ID]...")
@click.option("--failed", "all_failed", is_flag=True, help="Replay every failed delivery (with --since: created since then).")
@click.option("--skipped", "all_skipped", is_flag=True, help="Replay every skipped delivery (with --reason: skipped for that reason).")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in SkipReason]),
    default=None,
    help="With --skipped: only deliveries skipped for this reason (template_unavailable once Meta approved the template again, "
    "opted_out after a customer opted back in, ...).",
)
@click.option("--since", default=None, help="With --failed or --skipped: only those created at or after this ISO date/time or unix time.")
@click.option("--force", is_flag=True, help="Also replay deliveries that were already sent (sends again).")
@account_option
def replay(
    delivery_ids: tuple[str, ...],
    all_failed: bool,
    all_skipped: bool,
    reason: str | None,
    since: str | None,
    force: bool,
    account: str | None,
) -> None:
    """Re-queue deliveries under their own ids (a sent one only with --force)."""
    if sum((bool(delivery_ids), all_failed, all_skipped)) != 1:
        raise click.UsageError("give DELIVERY_ID..., --failed or --skipped (one of them)")
    if reason is not None and not all_skipped:
        raise click.UsageError("--reason goes with --skipped")
    rt = cli_runtime(account, to_send=True)
    if all_failed or all_skipped:
        selection = services.Selection(
            Status.FAILED if all_failed else Status.SKIPPED, parse_since(since), SkipReason(reason) if reason else None
        )
        results = services.replay_selected(rt, selection, force=force)
    else:
        results = services.replay_many(rt, list(delivery_ids), force=force)
    for result in results:
        click.echo(f"{result.delivery}: {result.outcome}")
    if not results:
        click.echo("nothing to replay")
    sys.exit(0 if all(r.replayed for r in results) else 1)


@click.command()
@account_option
def resume(account: str | None) -> None:
    """Resume sending after an account error paused it, and re-queue every held delivery."""
    rt = cli_runtime(account, to_send=True)
    with service_errors():
        resumed = resume_sending(rt, by="bridge resume")
    info = resumed.was_paused
    if info is None:
        click.echo("sending is not paused")
    else:
        click.echo(f"was paused since {datetime.fromtimestamp(info['since'], tz=UTC):%Y-%m-%d %H:%M:%S} UTC: {info.get('reason')}")
    click.echo(f"resumed: {resumed.requeued} held deliveries re-queued")


def _time(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def _shown_value(name: str, value: Any) -> str:
    return f"{_time(value)} UTC" if name in TIME_FIELDS else str(value)


def _row(record: dict[str, Any]) -> tuple[str, ...]:
    created = datetime.fromtimestamp(float(record.get(Field.CREATED_AT, 0)), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    status = record.get(Field.STATUS, "")
    if status in (Status.FAILED, Status.PAUSED, Status.RETRYING, Status.AMBIGUOUS):
        detail = record.get(Field.ERROR_MESSAGE, "")
    elif status == Status.SKIPPED:
        detail = record.get(Field.REASON, "")
    else:
        detail = record.get(Field.WAMID, "")
    columns = (Field.TEMPLATE, Field.RECIPIENT)
    return (created, status, record["id"], *(str(record.get(c, "")) for c in columns), str(record.get(Field.ATTEMPTS, 0)), detail)
