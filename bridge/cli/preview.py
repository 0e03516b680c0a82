"""`bridge preview` and `bridge send-test`: see and try a mapping's message before a customer gets it."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

import click

from bridge.cli.common import cli_runtime, phone_or_exit
from bridge.delivery.optouts import Scope
from bridge.errors import DeliveryError, PayloadError, RenderError
from bridge.mappings.check import production_customer
from bridge.mappings.compile import CompiledMapping
from bridge.mappings.preview import Preview, preview
from bridge.runtime import Runtime
from bridge.stripe_events import samples
from bridge.stripe_events.customers import CustomerLookup
from bridge.stripe_events.recipient import customer_id
from bridge.stripe_events.signature import parse_event
from bridge.whatsapp.client import WhatsAppClient
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
    compiled = _mapping_or_exit(rt, mapping)
    shown = _preview_or_exit(rt, compiled, *_event_or_exit(compiled, event_type, event_file))
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
    compiled = _mapping_or_exit(rt, mapping)
    number = phone_or_exit(rt, to)
    shown = _preview_or_exit(rt, compiled, *_event_or_exit(compiled, event_type, event_file), to=number)
    if shown.skipped is not None or shown.request is None:
        _fail(f"nothing to send: {shown.skipped}")
    if any(o.phone == number and o.scope == Scope.ALL for o in rt.optouts.list((Scope.ALL,))):
        _fail(f"{mask_phone(number)} opted out of WhatsApp messages; `bridge optout remove` first if they opted in again")
    if rt.config.whatsapp.dry_run:
        rt.store.push_outbox({"delivery_id": f"send-test:{compiled.name}", "at": time.time(), "request": shown.request})
        click.echo(f"dry run: the request to {mask_phone(number)} is in the outbox (`bridge outbox`)")
        return
    _send(rt, shown.request, number)


def _send(rt: Runtime, request: dict[str, Any], number: str) -> None:
    client = WhatsAppClient(rt.config.whatsapp)
    try:
        result = client.send(request)
    except DeliveryError as exc:
        click.echo(f"Meta refused the send to {mask_phone(number)}: {exc}", err=True)
        if exc.meaning:
            click.echo(f"  meaning: {exc.meaning}", err=True)
        if exc.fix:
            click.echo(f"  fix: {exc.fix}", err=True)
        sys.exit(1)
    finally:
        client.close()
    click.echo(f"sent to {mask_phone(number)}: {result.wamid} ({result.message_status or 'accepted'})")


def _mapping_or_exit(rt: Runtime, name: str) -> CompiledMapping:
    mapping = rt.mappings.get(name)
    if mapping is None:
        _fail(f"no mapping named {name!r}; the config has: {', '.join(sorted(rt.mappings)) or 'none'}")
    return mapping


def _event_or_exit(mapping: CompiledMapping, event_type: str | None, event_file: str | None) -> tuple[dict[str, Any], bool]:
    """(the event, whether it is a sample)."""
    if event_file is not None:
        try:
            return parse_event(Path(event_file).read_bytes()), False
        except PayloadError as exc:
            _fail(f"{event_file}: {exc}")
    available = [t for t in mapping.settings.events if t in samples.event_types()]
    chosen = event_type or (available[0] if available else None)
    if chosen is None or chosen not in samples.event_types():
        types = ", ".join(available or samples.event_types())
        _fail(f"no sample {chosen or 'event'} to render: pass --event FILE, or --type one of {types}")
    return samples.sample_event(chosen), True


def _preview_or_exit(rt: Runtime, mapping: CompiledMapping, event: dict[str, Any], sample: bool, *, to: str | None = None) -> Preview:
    try:
        return preview(rt.config, mapping, event, _customer(rt, event, sample), rt.catalogue, to=to)
    except RenderError as exc:
        _fail(f"{mapping.label()}.{exc.key}: {str(exc).removeprefix(f'{exc.key}: ')}")
    except DeliveryError as exc:  # the Customer lookup
        _fail(str(exc))


def _customer(rt: Runtime, event: dict[str, Any], sample: bool) -> dict[str, Any] | None:
    """The Customer the worker would render with: looked up with STRIPE_API_KEY (for a sample
    event, the sample Customer stands in), else none."""
    api_key, obj = rt.config.stripe.api_key, event["data"]["object"]
    if sample or isinstance(obj.get("customer"), dict):
        return production_customer(event, api_key_set=bool(api_key))[0]
    cid = customer_id(obj)
    if not api_key or cid is None:
        return None
    found = CustomerLookup(api_key, api_base_url=rt.config.stripe.api_base_url).get(cid)
    return dict(found) if found is not None else None


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
