"""What every `bridge` command shares: loading the config, the Runtime, parsing arguments."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from bridge.config import Config, load_config
from bridge.errors import ConfigError, Conflict, RecipientError, ServiceError
from bridge.merchants.records import MerchantStatus
from bridge.runtime import Role, Runtime, build_runtime
from bridge.services.merchants import get_merchant, merchant_runtime
from bridge.services.times import parse_moment
from bridge.whatsapp.phones import normalize


def load_or_exit(path: str | None = None) -> Config:
    """The config, or every problem printed as `file: key: problem` and exit 1."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


def cli_runtime(account: str | None = None, *, to_send: bool = False, config_path: str | None = None) -> Runtime:
    """The config file's merchant's Runtime, or with `account` that merchant's (its keys, number,
    mappings and queue); `to_send`: refused for a disabled merchant, which must not send."""
    rt = build_runtime(load_or_exit(config_path), role=Role.CLI)
    if account is None:
        return rt
    with service_errors():
        merchant = get_merchant(rt, account)
        if to_send and merchant.status is MerchantStatus.DISABLED:
            why = f" ({merchant.disabled_reason})" if merchant.disabled_reason else ""
            raise Conflict(f"merchant {account} is disabled{why}: enable it first (`bridge merchants enable {account}`)")
        return merchant_runtime(rt, merchant)


account_option = click.option(
    "--account",
    default=None,
    metavar="ACCOUNT",
    help="Act for this merchant (a Stripe account, acct_...) instead of the config file's.",
)
"""`--account ACCOUNT` on the commands that read or change one merchant's data."""


def phone_or_exit(rt: Runtime, phone: str) -> str:
    try:
        return normalize(phone, rt.config.whatsapp.default_country)
    except RecipientError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None


def parse_since(value: str | None, *, now: float | None = None) -> float | None:
    """An optional `--since` as a unix time (`bridge.services.times.parse_moment`), or a usage error."""
    if value is None:
        return None
    try:
        return parse_moment(value, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@contextmanager
def service_errors() -> Iterator[None]:
    """A ServiceError (no such delivery, a bad phone, not replayable...) becomes its message on
    stderr and exit status 1: the same refusal the admin API answers with a 4xx."""
    try:
        yield
    except ServiceError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
