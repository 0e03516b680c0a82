"""`bridge merchants`: the Stripe accounts this deployment serves besides the config file's own."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from bridge.cli.common import cli_runtime, service_errors
from bridge.merchants.records import Merchant
from bridge.merchants.sealing import new_key
from bridge.services import merchants as service
from bridge.services.mappings import MappingRefused


@click.group()
def merchants() -> None:
    """Merchants are Stripe accounts that installed the bridge's Stripe App (or were added here),
    each with its own WhatsApp number, token and mappings; their credentials are stored encrypted
    with BRIDGE_ENCRYPTION_KEY. The config file's settings are the default merchant."""


def _shown(merchant: Merchant) -> dict[str, Any]:
    """A merchant as the CLI prints it: never a credential, only whether one is set."""
    return {
        "account": merchant.account,
        "status": merchant.status.value,
        "phone_number_id": merchant.phone_number_id,
        "business_account_id": merchant.business_account_id,
        "access_token_set": merchant.has_access_token,
        "mappings": [m.get("name") for m in merchant.mappings],
        "disabled_reason": merchant.disabled_reason or None,
        "source": merchant.source,
        "settings": merchant.settings,
    }


def _read_mappings(file: Path) -> list[dict[str, Any]]:
    try:
        tables = tomllib.loads(file.read_text(encoding="utf-8")).get("mappings")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--mappings") from None
    if not isinstance(tables, list) or not tables:
        raise click.BadParameter("no [[mappings]] tables in it", param_hint="--mappings")
    return tables


@merchants.command("add")
@click.argument("account")
@click.option("--phone-number-id", required=True, help="The merchant's WhatsApp phone number id.")
@click.option("--access-token", required=True, envvar="MERCHANT_ACCESS_TOKEN", help="Its access token (or MERCHANT_ACCESS_TOKEN).")
@click.option("--business-account-id", default=None, help="Its WhatsApp Business Account id (for its templates).")
@click.option(
    "--mappings", "mappings_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="TOML with [[mappings]] tables."
)
def merchants_add(
    account: str, phone_number_id: str, access_token: str, business_account_id: str | None, mappings_file: Path | None
) -> None:
    """Add (or reconfigure) the merchant of Stripe account ACCOUNT (acct_...)."""
    tables = _read_mappings(mappings_file) if mappings_file else None
    rt = cli_runtime()
    with service_errors():
        try:
            merchant = service.add_merchant(
                rt,
                account,
                phone_number_id=phone_number_id,
                access_token=access_token,
                business_account_id=business_account_id,
                mappings=tables,
                source="bridge merchants add",
            )
        except MappingRefused as refused:  # service_errors would print the first three; every finding is wanted here
            for problem in refused.report.problems:
                click.echo(str(problem), err=True)
            click.echo("nothing stored", err=True)
            raise SystemExit(1) from None
    click.echo(f"{merchant.account}: {merchant.status.value}, sending from {merchant.phone_number_id}, {len(merchant.mappings)} mappings")


@merchants.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def merchants_list(as_json: bool) -> None:
    """Every merchant: account, status, sending number, whether a token is set, its mappings."""
    with service_errors():
        found = service.list_merchants(cli_runtime())
    for merchant in found:
        shown = _shown(merchant)
        if as_json:
            click.echo(json.dumps(shown))
        else:
            token = "token set" if merchant.has_access_token else "no token"
            number = merchant.phone_number_id or "-"
            click.echo(f"{merchant.account}  {merchant.status.value}  {number}  {token}  {len(merchant.mappings)} mappings")


@merchants.command("show")
@click.argument("account")
def merchants_show(account: str) -> None:
    """One merchant as JSON (never its credentials)."""
    with service_errors():
        merchant = service.get_merchant(cli_runtime(), account)
    click.echo(json.dumps(_shown(merchant) | {"mappings": merchant.mappings}, indent=2))


@merchants.command("set")
@click.argument("account")
@click.option("--consent-mode", type=click.Choice(["opt_out", "opt_in"]), default=None, help="Its [consent] mode (default: the file's).")
@click.option("--messages-per-second", type=click.FloatRange(min=0, min_open=True, max=1000), default=None, help="Its number's send rate.")
def merchants_set(account: str, consent_mode: str | None, messages_per_second: float | None) -> None:
    """Lay ACCOUNT's own consent mode or send rate over the config file's."""
    if consent_mode is None and messages_per_second is None:
        raise click.UsageError("give --consent-mode or --messages-per-second")
    with service_errors():
        merchant = service.set_merchant_settings(cli_runtime(), account, consent_mode=consent_mode, messages_per_second=messages_per_second)
    click.echo(f"{account}: " + ", ".join(f"{k} {v}" for k, v in sorted(merchant.settings.items())))


@merchants.command("disable")
@click.argument("account")
def merchants_disable(account: str) -> None:
    """Stop sending for ACCOUNT: its events are ignored until `enable` (its credentials are kept)."""
    with service_errors():
        service.disable_merchant(cli_runtime(), account)
    click.echo(f"{account}: disabled")


@merchants.command("enable")
@click.argument("account")
def merchants_enable(account: str) -> None:
    """Serve ACCOUNT again (active when it has a number and a token, else pending)."""
    with service_errors():
        merchant = service.enable_merchant(cli_runtime(), account)
    click.echo(f"{account}: {merchant.status.value}")


@merchants.command("remove")
@click.argument("account")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def merchants_remove(account: str, yes: bool) -> None:
    """Forget ACCOUNT and everything kept for it (settings, credentials, deliveries)."""
    if not yes:
        click.confirm(f"Remove {account} and every record kept for it?", abort=True)
    with service_errors():
        service.remove_merchant(cli_runtime(), account)
    click.echo(f"{account}: removed")


@merchants.command("new-key")
def merchants_new_key() -> None:
    """Print a new key for BRIDGE_ENCRYPTION_KEY (to rotate: put it first, comma, the old one; then rotate-key)."""
    click.echo(new_key())


@merchants.command("rotate-key")
def merchants_rotate_key() -> None:
    """Re-encrypt every stored credential under the first key of BRIDGE_ENCRYPTION_KEY."""
    with service_errors():
        count = service.rotate_key(cli_runtime())
    click.echo(f"{count} credentials encrypted again under the first key: older keys can now be dropped")
