"""`bridge check-config`: validate the config and render every mapping before a deploy."""

from __future__ import annotations

import sys

import click


@click.command("check-config")
@click.option("--config", "config_path", default=None, help="Config file (default $BRIDGE_CONFIG or ./config.toml).")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def check_config(config_path: str | None, quiet: bool) -> None:
    """Validate the config and render every mapping against the sample events (exit 1 on errors)."""
    from bridge.mappings.check import check

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
