"""`bridge optout`: customers who must not be messaged."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from bridge.cli.common import account_option, cli_runtime, phone_or_exit, service_errors
from bridge.delivery.optouts import Scope
from bridge.services.optouts import add_optout, check_optout, list_optouts, remove_optout
from bridge.whatsapp.phones import mask_phone


@click.group()
def optout() -> None:
    """Customers who must not be messaged: list, add, remove (an explicit opt-in), check.

    Scope `all`: nothing is sent to the customer (they replied STOP, or an operator added them).
    Scope `marketing`: templates Meta treats as marketing are not sent (payment receipts still
    are); Meta error 131050 and Meta's marketing preference webhook add it by themselves.
    """


@optout.command("list")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None, help="Only this scope.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@account_option
def optout_list(scope: str | None, as_json: bool, account: str | None) -> None:
    """List opt-outs, newest first (phone numbers masked)."""
    rt = cli_runtime(account)
    entries = list_optouts(rt, Scope(scope) if scope else None)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry, sort_keys=True))
        return
    if not entries:
        click.echo("no opt-outs")
    for entry in entries:
        at = datetime.fromtimestamp(float(entry.get("at") or 0), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        detail = entry.get("source", "")
        if entry.get("template"):
            detail += f" (template {entry['template']})"
        click.echo(f"{at}  {entry['scope']:<9}  {entry['phone']:<16}  {detail}")
    templates = rt.optouts.marketing_templates()
    if templates and scope != Scope.ALL:
        click.echo(f"marketing templates (learned from Meta): {', '.join(sorted(templates))}")


@optout.command("add")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=Scope.ALL.value, show_default=True)
@click.option("--note", default=None, help="Why (kept with the opt-out).")
@account_option
def optout_add(phone: str, scope: str, note: str | None, account: str | None) -> None:
    """Stop messaging PHONE (E.164, or national with [whatsapp] default_country)."""
    rt = cli_runtime(account)
    with service_errors():
        change = add_optout(rt, phone_or_exit(rt, phone), Scope(scope), source="bridge optout add", note=note)
    click.echo(f"{change.phone}: opted out ({scope})")


@optout.command("remove")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None, help="Only this scope (default: every scope).")
@account_option
def optout_remove(phone: str, scope: str | None, account: str | None) -> None:
    """Message PHONE again: record that the customer opted in (again).

    In [consent] mode = "opt_in" this is also the consent on record that lets messages go.
    """
    rt = cli_runtime(account)
    with service_errors():
        change = remove_optout(rt, phone_or_exit(rt, phone), Scope(scope) if scope else None, source="bridge optout remove")
    if change.changed:
        click.echo(f"{change.phone}: opt-out removed ({', '.join(change.changed)}); opt-in recorded")
    else:
        click.echo(f"{change.phone}: no opt-out was on record; opt-in recorded ({', '.join(change.scopes)})")


@optout.command("check")
@click.argument("phone")
@click.option("--json", "as_json", is_flag=True, help="The answer as one JSON object.")
@account_option
def optout_check(phone: str, as_json: bool, account: str | None) -> None:
    """Would PHONE be messaged? Exit 0 when payment notices may go, 1 when they may not."""
    rt = cli_runtime(account)
    with service_errors():
        found = check_optout(rt, phone_or_exit(rt, phone))
    if as_json:
        click.echo(json.dumps(found.json(), sort_keys=True))
    else:
        click.echo(f"{mask_phone(found.phone)}: consent mode {found.mode}")
        click.echo(f"  payment notices (utility templates): {'sent' if found.receipts else 'not sent'}")
        click.echo(f"  marketing templates: {'sent' if found.marketing else 'not sent'}")
        for kind, records in (("opted out", found.opted_out), ("opted in", found.opted_in)):
            for scope, info in records.items():
                click.echo(f"  {kind} ({scope}) at {_when(info.get('at'))}: {info.get('source', 'unknown source')}")
        if found.erased:
            click.echo("  this number's data was erased; its opt-out is kept as a hash")
        if found.mode == "opt_in" and not found.opted_in and rt.config.consent.opt_in_when:
            click.echo("  consent may still come from [consent] opt_in_when, decided for each event")
    sys.exit(0 if found.receipts else 1)


def _when(value: object) -> str:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"
