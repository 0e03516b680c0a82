"""`bridge dev`, `bridge worker` and `bridge simulate`: running the bridge and feeding it events."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import click

from bridge import defaults
from bridge.cli.common import load_or_exit
from bridge.errors import WebhookUnreachable
from bridge.observability.logs import configure_logging
from bridge.stripe_events import samples

if TYPE_CHECKING:
    from bridge.dev.simulate import Posted


@click.command()
@click.option("--port", type=int, default=None, help="Port for the web server (default $PORT or 5000).")
@click.option(
    "--config", "config_path", default=None, help="Config file (default $BRIDGE_CONFIG, ./config.toml, else config.example.toml)."
)
def dev(port: int | None, config_path: str | None) -> None:
    """Run web and worker together on embedded defaults (dry run, local or embedded Redis)."""
    from bridge.dev.devserver import run_dev

    configure_logging()
    run_dev(port=port or int(os.environ.get("PORT") or defaults.DEV_PORT), config_file=config_path)


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker on the bridge's queue (SIGTERM: finish the current job, then exit)."""
    from bridge.observability.redact import protect
    from bridge.observability.sentry import init_sentry
    from bridge.worker import run

    configure_logging()
    config = load_or_exit()
    protect(config)
    init_sentry()
    run(config, burst=burst)


def _simulate_help() -> str:
    # The EVENT_TYPE metavar hides click's list of choices, so the help lists them ("\b": keep one a line).
    types = "\n".join(f"  {event_type}" for event_type in samples.event_types())
    return (
        "Post a realistic, signed sample EVENT_TYPE event to a running bridge (an offline `stripe trigger`).\n\n"
        f"\b\nEVENT_TYPE is one of the sample types:\n{types}"
    )


@click.command(help=_simulate_help())
@click.argument("event_type", type=click.Choice(samples.event_types()), metavar="EVENT_TYPE")
@click.option("--phone", default=None, help="Customer phone to put on the event, E.164 (+14155550123).")
@click.option("--url", default=None, help="Webhook URL (default http://127.0.0.1:$PORT/stripe/webhook).")
@click.option("--secret", default=None, help="Signing secret (default STRIPE_WEBHOOK_SECRET, the config's, or bridge dev's).")
def simulate(event_type: str, phone: str | None, url: str | None, secret: str | None) -> None:
    """Post a signed sample event to a running bridge (the help text is `_simulate_help`)."""
    from bridge.dev.simulate import find_secret
    from bridge.dev.simulate import simulate as post

    url = url or _local_webhook("stripe")
    secret = _required(secret or find_secret(), "no signing secret: pass --secret, set STRIPE_WEBHOOK_SECRET")
    posted = _posted(lambda: post(event_type, url=url, secret=secret, phone=phone))
    _report(f"{posted.event['id']} {event_type} → {url}", posted)


@click.command("simulate-reply")
@click.argument("text")
@click.option("--phone", default=samples.DEFAULT_PHONE, show_default=True, help="The customer's number, E.164.")
@click.option("--url", default=None, help="Meta webhook URL (default http://127.0.0.1:$PORT/whatsapp/webhook).")
@click.option("--secret", default=None, help="Meta app secret to sign with (default WHATSAPP_APP_SECRET, the config's, or bridge dev's).")
def simulate_reply(text: str, phone: str, url: str | None, secret: str | None) -> None:
    """Post a customer's WhatsApp reply TEXT (STOP, START, a question) to a running bridge, signed as Meta signs."""
    from bridge.dev.simulate import find_app_secret
    from bridge.dev.simulate import simulate_reply as post
    from bridge.whatsapp.phones import mask_phone

    url = url or _local_webhook("whatsapp")
    secret = _required(secret or find_app_secret(), "no app secret: pass --secret, set WHATSAPP_APP_SECRET")
    posted = _posted(lambda: post(text, url=url, app_secret=secret, phone=phone))
    _report(f"{text!r} from {mask_phone(phone)} → {url}", posted)


def _local_webhook(sender: str) -> str:
    """The webhook of a bridge running here (`bridge dev`): 127.0.0.1:$PORT, else the dev port."""
    return f"http://127.0.0.1:{os.environ.get('PORT') or defaults.DEV_PORT}/{sender}/webhook"


def _required(secret: str | None, missing: str) -> str:
    if not secret:
        click.echo(f"{missing}, or start `bridge dev` first", err=True)
        sys.exit(2)
    return secret


def _posted(post: Callable[[], Posted]) -> Posted:
    try:
        return post()
    except WebhookUnreachable as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _report(what: str, posted: Posted) -> NoReturn:
    """What was posted and what the bridge answered; exit 0 only for a 200."""
    click.echo(f"{what}: {posted.status_code} {posted.body}")
    sys.exit(0 if posted.status_code == 200 else 1)
