"""The `bridge` command; each group of subcommands lives in its own module of this package."""

from __future__ import annotations

import click

from bridge.cli import check, customers, deliveries, mappings, merchants, optouts, preview, run, templates
from bridge.cli.backfill import backfill


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Stripe → WhatsApp notification bridge.

    Settings come from the TOML file at $BRIDGE_CONFIG (default ./config.toml), overridden by
    environment variables: REDIS_URL / REDIS_TLS_URL, STRIPE_WEBHOOK_SECRET (comma-separated),
    STRIPE_API_KEY, STRIPE_API_BASE_URL, WHATSAPP_ACCESS_TOKEN (empty: dry run), WHATSAPP_PHONE_NUMBER_ID,
    WHATSAPP_BUSINESS_ACCOUNT_ID, WHATSAPP_API_BASE_URL, WHATSAPP_API_VERSION, WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN, ADMIN_TOKEN (the admin API under /api/v1 and the settings page at /admin), METRICS_TOKEN (/metrics),
    STRIPE_APP_SECRET (the Stripe App's /apps/v1), BRIDGE_ENCRYPTION_KEY (merchants' credentials), PORT.
    Logs: LOG_LEVEL (default INFO), LOG_FORMAT (text or json); SENTRY_DSN reports errors to Sentry when set.
    """


for command in (
    run.dev,
    run.worker,
    run.simulate,
    run.simulate_reply,
    check.check_config,
    deliveries.outbox,
    deliveries.deliveries,
    deliveries.replay,
    deliveries.resume,
    optouts.optout,
    customers.customer,
    backfill,
    templates.templates,
    preview.preview_command,
    preview.send_test,
    mappings.mappings,
    merchants.merchants,
):
    main.add_command(command)
