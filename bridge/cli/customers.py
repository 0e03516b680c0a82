"""`bridge customer`: one customer's data, exported or erased (data-subject requests)."""

from __future__ import annotations

import json
import sys

import click

from bridge.cli.common import cli_runtime, phone_or_exit
from bridge.errors import StoreUnavailable
from bridge.privacy.erase import ErasureReport
from bridge.services import customers
from bridge.whatsapp.phones import mask_phone


@click.group()
def customer() -> None:
    """One customer's data: export everything the bridge holds about a number, or erase it."""


@customer.command("export")
@click.argument("phone")
def customer_export(phone: str) -> None:
    """Every record the bridge holds about PHONE, as JSON.

    Deliveries with their history, the stored Stripe events, consent, linked WhatsApp user ids,
    Meta's updates not processed yet, dry-run outbox entries and jobs. Numbers are not masked: it
    is the customer's own data.
    """
    rt = cli_runtime()
    number = phone_or_exit(rt, phone)
    try:
        document = customers.export(rt, number)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@customer.command("erase")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Confirm: the erase cannot be undone.")
def customer_erase(phone: str, yes: bool) -> None:
    """Remove every record naming PHONE, keeping only a hashed opt-out. Irreversible: needs --yes.

    Deliveries with their history and indexes, the stored Stripe events (their ids stay, so
    Stripe's retries are still answered "duplicate"), queued jobs, outbox entries, consent and
    linked user ids. An opt-out stays as a hash of the number, so a STOP is still honoured. Never
    asks for confirmation (it runs without a terminal): pass --yes.
    """
    if not yes:
        click.echo("bridge customer erase is irreversible: it removes every record naming the number. Run it again with --yes.", err=True)
        sys.exit(2)
    rt = cli_runtime()
    number = phone_or_exit(rt, phone)
    try:
        report = customers.erase(rt, number, confirm=yes)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary(mask_phone(number), report):
        click.echo(line)


def summary(who: str, report: ErasureReport) -> list[str]:
    """What an erase removed, one line a kind (pure)."""
    counts = [
        (report.deliveries, "delivery record", "delivery records (with their history and index entries)"),
        (report.events, "Stripe event emptied", "Stripe events emptied (their ids stay: Stripe's retries are answered duplicate)"),
        (report.whatsapp_posts, "unprocessed post from Meta cleaned", "unprocessed posts from Meta cleaned"),
        (report.seen_marks, "WhatsApp message seen-mark", "WhatsApp message seen-marks"),
        (report.jobs, "queued or finished job", "queued or finished jobs"),
        (report.outbox, "dry-run outbox entry", "dry-run outbox entries"),
        (report.consent, "opt-out or opt-in entry", "opt-out and opt-in entries"),
        (report.other_keys, "other key (user-id link, index, rate limiter)", "other keys (user-id links, indexes, rate limiters)"),
    ]
    removed = [f"  {n} {one if n == 1 else many}" for n, one, many in counts if n]
    lines = [f"{who}: erased" if removed else f"{who}: nothing to erase, no record names this number", *removed]
    if report.hashed_optouts:
        lines.append(f"  opt-out kept as a hash of the number: {', '.join(report.hashed_optouts)}")
    if report.jobs_running:
        lines.append(f"  {report.jobs_running} job(s) naming the number are running now: run the erase again once they finished")
    return lines
