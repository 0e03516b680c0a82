"""/admin/deliveries: the log (filtered by status, event type and time, page by page), one
delivery's history with its Replay button, and "replay every failed delivery since"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from bridge.delivery.records import REPLAYABLE, Status
from bridge.errors import InvalidRequest
from bridge.services import deliveries as service
from bridge.services.times import parse_moment
from bridge.settings_page.i18n import _, number
from bridge.settings_page.overview import STATUS_NAMES, status_name
from bridge.settings_page.refusals import word_not_replayed
from bridge.web.common import runtime

pages = Blueprint("deliveries", __name__)

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    """The log's filters as the form sends them (text, so the form shows them back as typed)."""

    status: str = ""
    event_type: str = ""
    since: str = ""

    def query(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them."""
        return {name: value for name, value in vars(self).items() if value}


def read_filters(args: Any, now: float) -> tuple[Filters, dict[str, Any]]:
    """The form's filters, and the service's arguments for them (InvalidRequest naming a bad one)."""
    filters = Filters(args.get("status", "").strip(), args.get("event_type", "").strip(), args.get("since", "").strip())
    if filters.status and filters.status not in STATUS_NAMES:
        raise InvalidRequest(_("Status: choose one from the list."))
    return filters, {
        "status": Status(filters.status) if filters.status else None,
        "event_type": filters.event_type or None,
        "since": moment_or_refusal(filters.since, now) if filters.since else None,
    }


def moment_or_refusal(text: str, now: float) -> float:
    """A time as typed (24h, 3d, 2026-05-01, ...), or InvalidRequest saying what is accepted."""
    try:
        return parse_moment(text, now=now)
    except ValueError:
        raise InvalidRequest(_("Since: write a duration back from now (24h, 3d) or a date (2026-05-01).")) from None


@pages.get("/deliveries")
def log() -> str:
    rt = runtime()
    filters, arguments = read_filters(request.args, rt.clock())
    page = service.list_deliveries(rt, cursor=request.args.get("cursor") or None, limit=PAGE_SIZE, **arguments)
    event_types = sorted({t for m in rt.mappings.values() for t in m.settings.events})
    return render_template(
        "deliveries.html",
        page=page,
        amounts=service.event_amounts(rt, page.items),
        filters=filters,
        statuses=STATUS_NAMES,
        event_types=event_types,
        status_name=status_name,
    )


@pages.get("/deliveries/<delivery_id>")
def detail(delivery_id: str) -> str:
    rt = runtime()
    record = service.get_delivery(rt, delivery_id)
    return render_template(
        "delivery.html",
        record=record,
        amount=service.event_amounts(rt, [record]).get(record.get("event_id", "")),
        replayable=record.get("status") in REPLAYABLE,
        status_name=status_name,
    )


@pages.post("/deliveries/<delivery_id>/replay")
def replay(delivery_id: str) -> Response:
    result = service.replay_one(runtime(), delivery_id)
    if result.replayed:
        flash(_("Queued again: the message will be sent in a moment."), "success")
    else:
        flash(word_not_replayed(result, status_name(result.status)), "error")
    return redirect(url_for("deliveries.detail", delivery_id=delivery_id), 303)


@pages.post("/deliveries/replay")
def replay_failed() -> Response:
    rt = runtime()
    since = moment_or_refusal(request.form.get("since", "").strip() or "24h", rt.clock())
    results = service.replay_selected(rt, service.Selection(Status.FAILED, since=since))
    replayed = sum(result.replayed for result in results)
    flash(_("%(count)s failed messages queued again.", count=number(replayed)), "success" if replayed else "info")
    return redirect(url_for("deliveries.log", status=Status.FAILED), 303)
