"""`bridge mappings`: the mappings in use, and the ones saved in Redis over the file's."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import click

from bridge.cli.common import cli_runtime, service_errors
from bridge.services.mappings import delete_saved_mapping, mapping_entries, save_mapping, validate_mappings


@click.group()
def mappings() -> None:
    """Mappings saved in Redis (as the settings page and the admin API save them) override the
    config file's mapping of the same name; the file stays the default and what `check-config` checks."""


@mappings.command("list")
def mappings_list() -> None:
    """Every mapping in use, where it comes from (file, saved, saved_over_file), and check-config's findings about it."""
    for entry in mapping_entries(cli_runtime()):
        events = entry.table.get("events")
        shown = ", ".join(map(str, events)) if isinstance(events, list) else str(events or "")
        click.echo(f"{entry.name}  [{entry.source.value}]  {entry.table.get('template', '')}  {shown}")
        for problem in entry.problems:
            click.echo(f"  problem: {problem.key}: {problem.problem}")
        for warning in entry.warnings:
            click.echo(f"  warning: {warning}")


@mappings.command("save")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def mappings_save(file: Path) -> None:
    """Save each [[mappings]] table of FILE (TOML shaped as the config) in Redis; nothing is saved if any has a problem."""
    try:
        tables = tomllib.loads(file.read_text(encoding="utf-8")).get("mappings") or []
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    if not isinstance(tables, list) or not tables:
        raise click.BadParameter("no [[mappings]] tables in it", param_hint="FILE")
    rt = cli_runtime()
    report = validate_mappings(rt, tables)
    if report.problems:
        for problem in report.problems:
            click.echo(str(problem), err=True)
        click.echo("nothing saved", err=True)
        sys.exit(1)
    with service_errors():
        for table in tables:
            save_mapping(rt, table)
            click.echo(f"saved {table['name']}: every web and worker process uses it within about a second")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@mappings.command("delete")
@click.argument("name")
def mappings_delete(name: str) -> None:
    """Forget the mapping saved under NAME: the file's mapping of that name, if any, applies again."""
    rt = cli_runtime()
    if not delete_saved_mapping(rt, name):
        click.echo(f"no mapping saved under {name!r}", err=True)
        sys.exit(1)
    click.echo(f"deleted the saved {name}" + (": the file's applies again" if any(m.name == name for m in rt.config.mappings) else ""))
