"""What every `bridge` command shares: loading the config, the Runtime, parsing arguments."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

import click

from bridge.config import Config, load_config
from bridge.errors import ConfigError, RecipientError
from bridge.runtime import Role, Runtime, build_runtime
from bridge.whatsapp.phones import normalize


def load_or_exit(path: str | None = None) -> Config:
    """The config, or every problem printed as `file: key: problem` and exit 1."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


def cli_runtime() -> Runtime:
    return build_runtime(load_or_exit(), role=Role.CLI)


def phone_or_exit(rt: Runtime, phone: str) -> str:
    try:
        return normalize(phone, rt.config.whatsapp.default_country)
    except RecipientError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None


_DURATION = re.compile(r"^(?=\d)(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_since(value: str | None, *, now: float | None = None) -> float | None:
    """`parse_moment` for an optional `--since`."""
    return None if value is None else parse_moment(value, now=datetime.now(UTC).timestamp() if now is None else now)


def parse_moment(value: str, *, now: float) -> float:
    """A moment as a unix time: a duration back from `now` (`3d`, `12h`, `90m`, `1d12h`), an ISO
    date/time (UTC unless it says otherwise) or a unix timestamp."""
    if duration := _DURATION.match(value.strip()):
        return now - sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in duration.groupdict().items() if amount)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (3d, 12h, 90m), an ISO date/time nor a unix timestamp", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
