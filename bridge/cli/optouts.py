"""`bridge optout`: customers who must not be messaged."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from bridge.cli.common import cli_runtime, phone_or_exit
from bridge.delivery.optouts import Scope
from bridge.whatsapp.phones import mask_phone


@click.group()
def optout() -> None:
    """Customers who must not be messaged: list, add, remove (an explicit opt-in).

    Scope `all`: nothing is sent to the customer. Scope `marketing`: templates Meta treats as
    marketing are not sent (payment receipts still are); Meta error 131050 adds it by itself.
    """


@optout.command("list")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None, help="Only this scope.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def optout_list(scope: str | None, as_json: bool) -> None:
    """List opt-outs, newest first (phone numbers masked)."""
    rt = cli_runtime()
    entries = rt.optouts.list((Scope(scope),) if scope else tuple(Scope))
    if as_json:
        for entry in entries:
            click.echo(json.dumps({"phone": mask_phone(entry.phone), "scope": entry.scope, **entry.info}, sort_keys=True))
        return
    if not entries:
        click.echo("no opt-outs")
    for entry in entries:
        at = datetime.fromtimestamp(float(entry.info.get("at") or 0), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        detail = entry.info.get("source", "")
        if entry.info.get("template"):
            detail += f" (template {entry.info['template']})"
        click.echo(f"{at}  {entry.scope:<9}  {mask_phone(entry.phone):<16}  {detail}")
    templates = rt.optouts.marketing_templates()
    if templates and scope != Scope.ALL:
        click.echo(f"marketing templates (learned from Meta): {', '.join(sorted(templates))}")


@optout.command("add")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=Scope.ALL.value, show_default=True)
@click.option("--note", default=None, help="Why (kept with the opt-out).")
def optout_add(phone: str, scope: str, note: str | None) -> None:
    """Stop messaging PHONE (E.164, or national with [whatsapp] default_country)."""
    rt = cli_runtime()
    number = phone_or_exit(rt, phone)
    rt.optouts.add(number, Scope(scope), at=rt.clock(), source="bridge optout add", note=note)
    click.echo(f"{mask_phone(number)}: opted out ({scope})")


@optout.command("remove")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None, help="Only this scope (default: every scope).")
def optout_remove(phone: str, scope: str | None) -> None:
    """Message PHONE again: the customer opted in (again)."""
    rt = cli_runtime()
    number = phone_or_exit(rt, phone)
    removed = rt.optouts.remove(number, (Scope(scope),) if scope else tuple(Scope))
    if not removed:
        click.echo(f"{mask_phone(number)}: no opt-out to remove")
        sys.exit(1)
    click.echo(f"{mask_phone(number)}: opt-out removed ({', '.join(removed)})")
