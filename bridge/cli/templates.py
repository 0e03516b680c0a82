"""`bridge templates pull` and `bridge templates list`: the business account's template catalogue."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import NoReturn

import click

from bridge.cli.common import cli_runtime, load_or_exit
from bridge.config import Config, load_config
from bridge.delivery.template_states import TemplateState, reported_states
from bridge.errors import ConfigError, ConfigProblem, ServiceError
from bridge.services.templates import PullRefused, pull_merchant_templates, pull_problems, pull_templates, template_json
from bridge.whatsapp.catalogue import (
    Catalogue,
    Category,
    Template,
    load_snapshot,
    normalize_language,
)

CONFIG_HELP = "Config file (default $BRIDGE_CONFIG or ./config.toml)."


@click.group()
def templates() -> None:
    """The WhatsApp Business Account's message templates: pull them from Meta, list them.

    `pull` asks Meta (Meta allows about 200 template requests an hour, so nothing else does) and
    writes [whatsapp] templates_file; `list` and the rest of the bridge read that file.
    """


@templates.command("pull")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option(
    "--account",
    default=None,
    metavar="ACCOUNT",
    help="Pull a merchant's templates (acct_...: its business account and token) into its snapshot in Redis.",
)
def templates_pull(config_path: str | None, account: str | None) -> None:
    """Read every template of the business account from Meta and write the snapshot file (a
    merchant's, with --account: its snapshot in Redis)."""
    if account is not None:
        rt = cli_runtime(account, config_path=config_path)
    else:
        config = load_or_exit(config_path)
        exit_on_problems(pull_problems(config))
    try:
        pulled = pull_merchant_templates(rt) if account is not None else pull_templates(config)
    except PullRefused as exc:
        click.echo(f"templates pull: {exc.refusal}", err=True)
        click.echo(f"templates pull: {exc.hint}", err=True)
        sys.exit(1)
    except ServiceError as exc:
        click.echo(f"templates pull: {exc}", err=True)
        sys.exit(1)
    languages = pulled.languages
    click.echo(
        f"{len(pulled.templates)} templates in {len(languages)} languages ({', '.join(languages) or 'none'}), {pulled.approved} approved, "
        f"pulled from business account {pulled.business_account_id} in {pulled.requests} requests"
    )
    click.echo(f"written to {pulled.path}")


def exit_on_problems(problems: list[ConfigProblem]) -> None:
    if problems:
        fail(problems)


def fail(problems: list[ConfigProblem]) -> NoReturn:
    """Print every problem as `file: key: problem` and exit 1."""
    for problem in problems:
        click.echo(str(problem), err=True)
    sys.exit(1)


@templates.command("list")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--file", "snapshot_file", default=None, help="Snapshot to read (default: the config's [whatsapp] templates_file).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def templates_list(config_path: str | None, snapshot_file: str | None, as_json: bool) -> None:
    """List the pulled templates: status, category and the parameters each component takes.

    What Meta's webhook reported since the pull (a paused template, a new category) is shown over
    the snapshot, marked with when Meta said it.
    """
    config = load_or_exit(config_path) if snapshot_file is None else _config_or_none(config_path)
    path = snapshot_file or config.whatsapp.templates_file  # type: ignore[union-attr]
    try:
        catalogue = load_snapshot(path)
    except ConfigError as exc:
        fail(exc.problems)
    if catalogue is None:
        click.echo(f"no template snapshot at {path}: run `bridge templates pull` first", err=True)
        sys.exit(1)
    states = reported_states(config.redis.url, config.redis.key_prefix) if config is not None else {}
    catalogue = catalogue.overlaid({key: state.reported() for key, state in states.items()})
    ordered = sorted(catalogue.templates, key=lambda t: (t.name, t.language))
    if as_json:
        for template in ordered:
            click.echo(json.dumps(template_json(template), ensure_ascii=False))
        return
    pulled = datetime.fromtimestamp(catalogue.pulled_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"{len(ordered)} templates of business account {catalogue.business_account_id}, pulled {pulled} UTC ({path})")
    rows = [("name", "language", "status", "category", "parameters")] + [_row(t) for t in ordered]
    unknown = sorted(key for key in states if catalogue.find(*key) is None)
    rows += [(name, language, *_reported_only(states[(name, language)])) for name, language in unknown]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]).rstrip())
    for warning in _marketing_warnings(config, catalogue, states):
        click.echo(f"warning: {warning}")


def _config_or_none(config_path: str | None) -> Config | None:
    """With --file, the config only adds what Meta's webhook reported: it may be absent."""
    try:
        return load_config(config_path)
    except ConfigError:
        return None


def _reported_only(state: TemplateState) -> tuple[str, str, str]:
    return (f"{state.status or '?'} (Meta{_at(state.status_at)})", state.category or "?", "not in the snapshot: pull again")


def _at(moment: float | None) -> str:
    return f", {datetime.fromtimestamp(moment, tz=UTC):%Y-%m-%d %H:%M}" if moment else ""


def _marketing_warnings(config: Config | None, catalogue: Catalogue, states: dict[tuple[str, str], TemplateState]) -> list[str]:
    """A template a mapping sends that Meta now counts as MARKETING: billed, capped, refused by 131050."""
    if config is None:
        return []
    warnings = []
    for mapping in config.mappings:
        for language in mapping.languages:
            key = (mapping.template, normalize_language(language))
            template, state = catalogue.find(*key), states.get(key)
            category = (state.category if state and state.category else None) or (template.category if template else None)
            if category == Category.MARKETING:
                moved = ""
                if state and state.previous_category:
                    moved = f" (Meta moved it from {state.previous_category}{_at(state.category_at)})"
                warnings.append(
                    f"mapping {mapping.name} sends {mapping.template} [{key[1]}], a MARKETING template{moved}: Meta bills it as "
                    "marketing and customers who stopped marketing messages do not get it"
                )
    return warnings


def _row(template: Template) -> tuple[str, ...]:
    status = f"{template.status} (Meta{_at(template.reported_at)})" if template.reported_at else template.status
    return (template.name, template.language, status, template.category, parameters_text(template))


def parameters_text(template: Template) -> str:
    """What each component takes at send time: `header DOCUMENT; body {{1}} {{2}}; button 0 URL {{1}}`."""
    parts = []
    if template.header_format and template.header_format != "TEXT":
        parts.append(f"header {template.header_format}")
    elif template.header_placeholders:
        parts.append("header " + _braced(template.header_placeholders))
    if template.body_placeholders:
        parts.append("body " + _braced(template.body_placeholders))
    parts.extend(f"button {b.index} {b.type} {_braced(b.placeholders)}".rstrip() for b in template.buttons)
    return "; ".join(parts) or "-"


def _braced(names: tuple[str, ...]) -> str:
    return " ".join(f"{{{{{name}}}}}" for name in names)
