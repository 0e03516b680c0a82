"""`bridge preview` and `bridge send-test`: see and try a mapping's message before a customer gets it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

import click

from bridge.cli.common import cli_runtime, phone_or_exit, service_errors
from bridge.errors import PayloadError, ServiceError
from bridge.mappings.compile import CompiledMapping
from bridge.mappings.preview import Preview
from bridge.runtime import Runtime
from bridge.services.mappings import ChosenEvent, choose_event, find_mapping, preview_mapping
from bridge.services.send_test import SendRefused
from bridge.services.send_test import send_test as do_send_test
from bridge.stripe_events.signature import parse_event
from bridge.whatsapp.phones import mask_phone

EVENT_HELP = "A Stripe event as JSON (e.g. from the Dashboard or `stripe events retrieve`), instead of a sample."


@click.command("preview")
@click.argument("mapping")
@click.option("--type", "event_type", default=None, help="Render this sample event type (default: the mapping's first with a sample).")
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False), default=None, help=EVENT_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the filled-in text and the exact requests.")
def preview_command(mapping: str, event_type: str | None, event_file: str | None, as_json: bool) -> None:
    """Show MAPPING's message for an event: the template's text filled in, and the exact Cloud API request."""
    rt = cli_runtime()
    with service_errors():
        compiled = find_mapping(rt, mapping)
        shown = preview_mapping(rt, compiled, _event(compiled, event_type, event_file))
    if as_json:
        click.echo(json.dumps(asdict(shown), ensure_ascii=False, sort_keys=True))
    else:
        _print(shown, rt)
    sys.exit(0 if shown.skipped is None else 1)


@click.command("send-test")
@click.argument("mapping")
@click.option("--to", "to", required=True, help="The number to send to, E.164 (+14155550123).")
@click.option("--type", "event_type", default=None, help="Render this sample event type (default: the mapping's first with a sample).")
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False), default=None, help=EVENT_HELP)
def send_test(mapping: str, to: str, event_type: str | None, event_file: str | None) -> None:
    """Send MAPPING's message for an event to --to, for real (to the outbox in dry run); print the wamid or Meta's error."""
    rt = cli_runtime()
    try:
        compiled = find_mapping(rt, mapping)
        sent = do_send_test(rt, compiled, _event(compiled, event_type, event_file), phone_or_exit(rt, to))
    except SendRefused as exc:
        click.echo(str(exc), err=True)
        for name in ("meaning", "fix"):
            if exc.meta_error.get(name):
                click.echo(f"  {name}: {exc.meta_error[name]}", err=True)
        sys.exit(1)
    except ServiceError as exc:
        _fail(str(exc))
    if sent.dry_run:
        click.echo(f"dry run: the request to {sent.to} is in the outbox (`bridge outbox`)")
    else:
        click.echo(f"sent to {sent.to}: {sent.wamid} ({sent.message_status or 'accepted'})")


def _event(mapping: CompiledMapping, event_type: str | None, event_file: str | None) -> ChosenEvent:
    """The event of --event FILE, else a sample (see `choose_event`)."""
    if event_file is None:
        return choose_event(mapping, event_type=event_type)
    try:
        return ChosenEvent(parse_event(Path(event_file).read_bytes()), sample=False)
    except PayloadError as exc:
        _fail(f"{event_file}: {exc}")


def _print(shown: Preview, rt: Runtime) -> None:
    head = f"{shown.mapping} × {shown.event_type} ({shown.event_id})"
    if shown.skipped is not None:
        click.echo(f"{head}: nothing would be sent: {shown.skipped}")
        return
    click.echo(f"{head} [{shown.language}] → {', '.join(mask_phone(n) for n in shown.recipients)}")
    click.echo()
    if shown.text is None:
        click.echo(f"  (no templates snapshot at {rt.config.whatsapp.templates_file}: `bridge templates pull` shows the template's text)")
    else:
        for line in filter(None, [shown.text.header, shown.text.body, shown.text.footer, *(f"[{b}]" for b in shown.text.buttons)]):
            click.echo(f"  {line}")
    for note in shown.adjustments:
        click.echo(f"  note: {note}")
    click.echo()
    click.echo("request:")
    click.echo(json.dumps(shown.request, indent=2, ensure_ascii=False))


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)
