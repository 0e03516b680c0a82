"""The mappings: list them with their findings, check them, save one (in Redis, over the file's
mapping of that name) or delete a saved one, and show what one sends for an event (a sample or
one pasted from the Dashboard) before any customer gets it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bridge.errors import ConfigProblem, DeliveryError, InvalidRequest, NotFound, PayloadError, Refusal, RenderError
from bridge.mappings.check import CheckReport, check, check_mappings, production_customer
from bridge.mappings.compile import CompiledMapping
from bridge.mappings.live import SAVED_SOURCE
from bridge.mappings.preview import Preview, preview
from bridge.runtime import Runtime
from bridge.services.templates import current_catalogue
from bridge.stripe_events import samples
from bridge.stripe_events.customers import CustomerLookup
from bridge.stripe_events.recipient import customer_id
from bridge.stripe_events.signature import check_event_shape


def list_mappings(rt: Runtime) -> list[dict[str, Any]]:
    """Each mapping as its `[[mappings]]` table is written, in the config's order."""
    return [dict(m.settings.table) or {"name": m.name} for m in rt.mappings.values()]


class MappingSource(StrEnum):
    """Where the table of a mapping in use comes from."""

    FILE = "file"
    SAVED = "saved"
    SAVED_OVER_FILE = "saved_over_file"
    """Saved, overriding the file's mapping of the same name (deleting it brings the file's back)."""


@dataclass(frozen=True)
class MappingEntry:
    """A mapping as the settings page and the admin API list it: its table and `check-config`'s findings about it."""

    name: str
    table: dict[str, Any]
    source: MappingSource
    problems: list[ConfigProblem]
    warnings: list[str]


class MappingRefused(InvalidRequest):
    """A mapping was not saved: `report` holds `check-config`'s findings (its problems are why)."""

    def __init__(self, report: CheckReport):
        self.report = report
        shown = "; ".join(f"{p.key}: {p.problem}" for p in report.problems[:3])
        more = f" (and {len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
        super().__init__(f"mapping not saved: {shown}{more}")


def mapping_entries(rt: Runtime) -> list[MappingEntry]:
    """Every mapping (the file's in its order, then those only saved, by name), each with its findings.
    A saved mapping shows as saved even when it no longer compiles (its problems say why; the file's applies meanwhile)."""
    saved = rt.live_mappings.saved.read().tables
    file_tables = {m.name: dict(m.table) or {"name": m.name} for m in rt.config.mappings}
    from_file = {name: table for name, table in file_tables.items() if name not in saved}
    findings = _checked(rt, from_file, source=rt.config.source) | _checked(rt, saved, source=SAVED_SOURCE)
    entries = []
    for name in [*file_tables, *(n for n in saved if n not in file_tables)]:
        if name in saved:
            table, source = saved[name], MappingSource.SAVED_OVER_FILE if name in file_tables else MappingSource.SAVED
        else:
            table, source = file_tables[name], MappingSource.FILE
        problems, warnings = findings.get(name, ([], []))
        entries.append(MappingEntry(name, table, source, problems, warnings))
    return entries


def _checked(rt: Runtime, tables: dict[str, dict[str, Any]], *, source: str) -> dict[str, tuple[list[ConfigProblem], list[str]]]:
    return _findings_by_name(check_mappings(rt.config, list(tables.values()), source=source), list(tables)) if tables else {}


_NAMED = re.compile(r"mappings\[([^\]]+)\]")


def _findings_by_name(report: CheckReport, names: list[str]) -> dict[str, tuple[list[ConfigProblem], list[str]]]:
    """`report`'s findings split by the mapping they name: `mappings[name]...`, or `mappings[3]...`
    (the position among `names`) for a table whose name is unusable."""

    def named(text: str) -> str | None:
        found = _NAMED.search(text)
        if found is None:
            return None
        part = found.group(1)
        return names[int(part)] if part.isdigit() and part not in names and int(part) < len(names) else part

    split: dict[str, tuple[list[ConfigProblem], list[str]]] = {name: ([], []) for name in names}
    for problem in report.problems:
        if (name := named(problem.key)) in split:
            split[name][0].append(problem)
    for warning in report.warnings:
        if (name := named(warning)) in split:
            split[name][1].append(warning)
    return split


def save_mapping(rt: Runtime, table: Mapping[str, Any]) -> CheckReport:
    """Save a `[[mappings]]` table in Redis, over the file's mapping of its name; every process uses it
    within about a second. Refused (`MappingRefused`, nothing stored) when `check-config` finds problems."""
    report = check_mappings(rt.config, [table], source=SAVED_SOURCE)
    if report.problems:
        raise MappingRefused(report)
    rt.live_mappings.saved.save(table)
    rt.live_mappings.expire()
    return report


def delete_saved_mapping(rt: Runtime, name: str) -> bool:
    """Forget the mapping saved under `name` (the file's of that name, if any, applies again); False if none was saved."""
    deleted = rt.live_mappings.saved.delete(name)
    rt.live_mappings.expire()
    return deleted


def find_mapping(rt: Runtime, name: str) -> CompiledMapping:
    mapping = rt.mappings.get(name)
    if mapping is None:
        raise NotFound(
            f"no mapping named {name!r}; the config has: {', '.join(sorted(rt.mappings)) or 'none'}",
            refusal=Refusal.NO_SUCH_MAPPING,
            name=name,
        )
    return mapping


@dataclass(frozen=True)
class ChosenEvent:
    event: dict[str, Any]
    sample: bool
    """A sample event stands in for a real one (and the sample Customer for its Customer)."""


def choose_event(mapping: CompiledMapping, *, event_type: str | None = None, event: Any = None) -> ChosenEvent:
    """The event to render: the one given (a Stripe event object), else the sample of `event_type`,
    else of the mapping's first event type that has a sample."""
    if event is not None:
        try:
            return ChosenEvent(check_event_shape(event), sample=False)
        except PayloadError as exc:
            raise InvalidRequest(f"event: {exc}") from None
    available = [t for t in mapping.settings.events if t in samples.event_types()]
    chosen = event_type or (available[0] if available else None)
    if chosen is None or chosen not in samples.event_types():
        types = ", ".join(available or samples.event_types())
        raise InvalidRequest(
            f"no sample {chosen or 'event'} to render: give an event, or a type among {types}", refusal=Refusal.NO_SAMPLE, types=types
        )
    return ChosenEvent(samples.sample_event(chosen), sample=True)


def preview_mapping(rt: Runtime, mapping: CompiledMapping, chosen: ChosenEvent, *, to: str | None = None) -> Preview:
    """What the worker would send for the event (to `to` instead of the customer, for a test send)."""
    try:
        return preview(rt.config, mapping, chosen.event, _customer(rt, chosen), current_catalogue(rt), to=to)
    except RenderError as exc:
        raise InvalidRequest(f"{mapping.label()}.{exc.key}: {str(exc).removeprefix(f'{exc.key}: ')}") from None
    except DeliveryError as exc:  # the Customer lookup
        raise InvalidRequest(str(exc)) from None


def _customer(rt: Runtime, chosen: ChosenEvent) -> dict[str, Any] | None:
    """The Customer the worker would render with: looked up with STRIPE_API_KEY (for a sample
    event, the sample Customer stands in), else none."""
    api_key, obj = rt.config.stripe.api_key, chosen.event["data"]["object"]
    if chosen.sample or isinstance(obj.get("customer"), dict):
        return production_customer(chosen.event, api_key_set=bool(api_key))[0]
    cid = customer_id(obj)
    if not api_key or cid is None:
        return None
    found = CustomerLookup(api_key, api_base_url=rt.config.stripe.api_base_url).get(cid)
    return dict(found) if found is not None else None


def validate_mappings(rt: Runtime, tables: list[Mapping[str, Any]] | None = None) -> CheckReport:
    """`bridge check-config`'s findings: for the config file as it is now, or for these mapping
    tables against the rest of the running config (what a form is about to save)."""
    if tables is None:
        return check(rt.config.source)
    return check_mappings(rt.config, tables)
