"""The `bridge` command: dev, worker, simulate, check-config, outbox, deliveries, replay, resume, optout."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

import click

from bridge import defaults, samples
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.formatting import mask_phone
from bridge.logging_setup import configure_logging
from bridge.optouts import Scope
from bridge.store import Status


def _load_or_exit(path: str | None = None):
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Stripe → WhatsApp notification bridge.

    Settings come from the TOML file at $BRIDGE_CONFIG (default ./config.toml), overridden by
    environment variables: REDIS_URL / REDIS_TLS_URL, STRIPE_WEBHOOK_SECRET (comma-separated),
    STRIPE_API_KEY, WHATSAPP_ACCESS_TOKEN (empty: dry run), WHATSAPP_PHONE_NUMBER_ID,
    WHATSAPP_API_BASE_URL, WHATSAPP_API_VERSION, PORT.
    """


@main.command()
@click.option("--port", type=int, default=None, help="Port for the web server (default $PORT or 5000).")
@click.option(
    "--config", "config_path", default=None, help="Config file (default $BRIDGE_CONFIG, ./config.toml, else config.example.toml)."
)
def dev(port: int | None, config_path: str | None) -> None:
    """Run web and worker together on embedded defaults (dry run, local or embedded Redis)."""
    from bridge.devserver import run_dev

    configure_logging()
    run_dev(port=port or int(os.environ.get("PORT") or defaults.DEV_PORT), config_file=config_path)


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker on the bridge's queue (SIGTERM: finish the current job, then exit)."""
    from workers.worker import run

    configure_logging()
    run(_load_or_exit(), burst=burst)


@main.command()
@click.argument("event_type", type=click.Choice(samples.event_types()), metavar="EVENT_TYPE")
@click.option("--phone", default=None, help="Customer phone to put on the event, E.164 (+14155550123).")
@click.option("--url", default=None, help="Webhook URL (default http://127.0.0.1:$PORT/stripe/webhook).")
@click.option("--secret", default=None, help="Signing secret (default STRIPE_WEBHOOK_SECRET, the config's, or bridge dev's).")
def simulate(event_type: str, phone: str | None, url: str | None, secret: str | None) -> None:
    """Post a realistic, signed sample EVENT_TYPE event to a running bridge (an offline `stripe trigger`).

    EVENT_TYPE is one of the sample types listed above.
    """
    import httpx

    from bridge.simulate import find_secret
    from bridge.simulate import simulate as post

    url = url or f"http://127.0.0.1:{os.environ.get('PORT') or defaults.DEV_PORT}/stripe/webhook"
    secret = secret or find_secret()
    if not secret:
        click.echo("no signing secret: pass --secret, set STRIPE_WEBHOOK_SECRET, or start `bridge dev` first", err=True)
        sys.exit(2)
    try:
        event, response = post(event_type, url=url, secret=secret, phone=phone)
    except httpx.HTTPError as exc:
        click.echo(f"could not reach {url}: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{event['id']} {event_type} → {url}: {response.status_code} {response.text.strip()}")
    sys.exit(0 if response.status_code == 200 else 1)


@main.command("check-config")
@click.option("--config", "config_path", default=None, help="Config file (default $BRIDGE_CONFIG or ./config.toml).")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def check_config(config_path: str | None, quiet: bool) -> None:
    """Validate the config and render every mapping against the sample events (exit 1 on errors)."""
    from bridge.checks import check

    report = check(config_path)
    for problem in report.problems:
        click.echo(str(problem), err=True)
    if not quiet:
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        for line in report.rendered:
            click.echo(f"ok: {line}")
    if not report.ok:
        sys.exit(1)
    if not quiet and report.config is not None:
        click.echo(f"{report.config.source}: {len(report.config.mappings)} mappings OK")


def _runtime():
    from bridge.runtime import build_runtime

    return build_runtime(_load_or_exit(), role="cli")


@main.command()
@click.option("--limit", default=10, show_default=True, help="How many messages to show, newest first.")
def outbox(limit: int) -> None:
    """Show the dry-run outbox: the requests the worker would have sent."""
    rt = _runtime()
    entries = rt.store.outbox(limit)
    if not entries:
        click.echo("outbox is empty")
    for entry in entries:
        click.echo(json.dumps(entry, indent=2, ensure_ascii=False))


@main.command()
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--event", "event_id", default=None, help="Only deliveries of this event (evt_...).")
@click.option("--since", default=None, help="Only deliveries created at or after this ISO date/time (UTC) or unix time.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries(status: str | None, event_id: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """List delivery records (phone numbers masked)."""
    rt = _runtime()
    records = rt.store.list_deliveries(since=_parse_since(since), limit=100_000 if (status or event_id) else limit)
    records = [r for r in records if (status is None or r.get("status") == status) and (event_id is None or r.get("event_id") == event_id)][
        :limit
    ]
    for record in records:
        if "recipient" in record:
            record["recipient"] = mask_phone(record["recipient"])
    if as_json:
        for record in records:
            click.echo(json.dumps(record, sort_keys=True))
        return
    if not records:
        click.echo("no deliveries")
        return
    columns = ("created", "status", "id", "template", "recipient", "attempts", "detail")
    rows = [columns] + [_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


@main.command()
@click.argument("delivery_ids", nargs=-1, metavar="[DELIVERY_ID]...")
@click.option("--failed", "all_failed", is_flag=True, help="Replay every failed delivery (with --since: created since then).")
@click.option("--since", default=None, help="With --failed: only deliveries created at or after this ISO date/time or unix time.")
@click.option("--force", is_flag=True, help="Also replay deliveries that were already sent (sends again).")
def replay(delivery_ids: tuple[str, ...], all_failed: bool, since: str | None, force: bool) -> None:
    """Re-queue deliveries under their own ids (a sent one only with --force)."""
    from bridge.control import replay as do_replay

    if bool(delivery_ids) == all_failed:
        raise click.UsageError("give DELIVERY_ID... or --failed, not both")
    rt = _runtime()
    if all_failed:
        records = rt.store.list_deliveries(since=_parse_since(since), limit=1_000_000)
        delivery_ids = tuple(r["id"] for r in records if r.get("status") == Status.FAILED)
    results = do_replay(rt, delivery_ids, force=force)
    for result in results:
        click.echo(f"{result.delivery}: {result.outcome}")
    if not results:
        click.echo("nothing to replay")
    sys.exit(0 if all(r.outcome.startswith("replayed") for r in results) else 1)


@main.command()
def resume() -> None:
    """Resume sending after an account error paused it, and re-queue every held delivery."""
    from bridge.control import pause_info
    from bridge.control import resume as do_resume

    rt = _runtime()
    info = pause_info(rt)
    number = rt.config.whatsapp.phone_number_id
    others = [n for n in rt.store.paused_numbers() if n != (number or "dry-run")]
    if info is None and others:
        # Resuming with another number's config would re-queue held messages into a pause.
        click.echo(
            f"sending is paused for phone number id {', '.join(others)}, not for the configured "
            f"{number or '(none: dry run)'}: run this with the worker's WHATSAPP_PHONE_NUMBER_ID",
            err=True,
        )
        sys.exit(1)
    if info is None:
        click.echo("sending is not paused")
    else:
        click.echo(f"was paused since {datetime.fromtimestamp(info['since'], tz=UTC):%Y-%m-%d %H:%M:%S} UTC: {info.get('reason')}")
    count = do_resume(rt)
    click.echo(f"resumed: {count} held deliveries re-queued")


@main.group()
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
    rt = _runtime()
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


def _phone_or_exit(rt, phone: str) -> str:
    from bridge.errors import RecipientError
    from bridge.phones import normalize

    try:
        return normalize(phone, rt.config.whatsapp.default_country)
    except RecipientError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None


@optout.command("add")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=Scope.ALL.value, show_default=True)
@click.option("--note", default=None, help="Why (kept with the opt-out).")
def optout_add(phone: str, scope: str, note: str | None) -> None:
    """Stop messaging PHONE (E.164, or national with [whatsapp] default_country)."""
    rt = _runtime()
    number = _phone_or_exit(rt, phone)
    rt.optouts.add(number, Scope(scope), at=rt.clock(), source="bridge optout add", note=note)
    click.echo(f"{mask_phone(number)}: opted out ({scope})")


@optout.command("remove")
@click.argument("phone")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None, help="Only this scope (default: every scope).")
def optout_remove(phone: str, scope: str | None) -> None:
    """Message PHONE again: the customer opted in (again)."""
    rt = _runtime()
    number = _phone_or_exit(rt, phone)
    removed = rt.optouts.remove(number, (Scope(scope),) if scope else tuple(Scope))
    if not removed:
        click.echo(f"{mask_phone(number)}: no opt-out to remove")
        sys.exit(1)
    click.echo(f"{mask_phone(number)}: opt-out removed ({', '.join(removed)})")


def _row(record: dict[str, str]) -> tuple[str, ...]:
    created = datetime.fromtimestamp(float(record.get("created_at", 0)), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if record.get("status") in ("failed", "paused", "retrying", "ambiguous"):
        detail = record.get("error_message", "")
    elif record.get("status") == "skipped":
        detail = record.get("reason", "")
    else:
        detail = record.get("wamid", "")
    return (
        created,
        record.get("status", ""),
        record["id"],
        record.get("template", ""),
        record.get("recipient", ""),
        record.get("attempts", "0"),
        detail,
    )


def _parse_since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither an ISO date/time nor a unix timestamp", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


if __name__ == "__main__":
    main()
