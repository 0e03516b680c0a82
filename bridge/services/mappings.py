"""The config's mappings: list them, check them, and show what one sends for an event (a sample
or one pasted from the Dashboard) before any customer gets it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import DeliveryError, InvalidRequest, NotFound, PayloadError, RenderError
from bridge.mappings.check import CheckReport, check, check_mappings, production_customer
from bridge.mappings.compile import CompiledMapping
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


def find_mapping(rt: Runtime, name: str) -> CompiledMapping:
    mapping = rt.mappings.get(name)
    if mapping is None:
        raise NotFound(f"no mapping named {name!r}; the config has: {', '.join(sorted(rt.mappings)) or 'none'}")
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
        raise InvalidRequest(f"no sample {chosen or 'event'} to render: give an event, or a type among {types}")
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
