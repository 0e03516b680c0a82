"""/admin/mappings: every mapping with the check-config findings about it.

The edit form, its preview and the test send come next (issue 12's later step), on
`bridge.services.mappings.mapping_entries` / `save_mapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template

from bridge.mappings.check import CheckReport
from bridge.services import mappings as service
from bridge.web.common import runtime

pages = Blueprint("mappings", __name__)


@dataclass(frozen=True)
class Listed:
    """One mapping as the page lists it."""

    name: str
    table: Mapping[str, Any]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def findings_by_mapping(tables: list[dict[str, Any]], report: CheckReport) -> tuple[list[Listed], list[str]]:
    """Each mapping with the findings that name it (`mappings[name]`), and the findings naming none."""
    listed, claimed = [], set()
    for table in tables:
        label = f"mappings[{table.get('name')}]"
        problems = [f"{p.key}: {p.problem}" for p in report.problems if p.key.startswith(label)]
        warnings = [w for w in report.warnings if label in w]
        claimed.update(w for w in warnings)
        claimed.update(str(p) for p in report.problems if p.key.startswith(label))
        listed.append(Listed(str(table.get("name")), table, problems, warnings))
    rest = [str(p) for p in report.problems if str(p) not in claimed] + [w for w in report.warnings if w not in claimed]
    return listed, rest


@pages.get("/mappings")
def listing() -> str:
    rt = runtime()
    tables = service.list_mappings(rt)
    listed, general = findings_by_mapping(tables, service.validate_mappings(rt, tables))
    return render_template("mappings.html", mappings=listed, general=general)
