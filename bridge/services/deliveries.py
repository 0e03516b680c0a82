"""Watching deliveries and acting on them: list, show, replay (one, some, or all failed since a time)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.delivery.control import ReplayResult, replay
from bridge.delivery.records import Field, SkipReason, Status
from bridge.delivery.store import Page
from bridge.errors import InvalidRequest, NotFound, Refusal
from bridge.runtime import Runtime
from bridge.stripe_events.amounts import Amount, event_amount
from bridge.whatsapp.phones import mask_phone

MASKED_FIELDS = (Field.RECIPIENT, Field.WA_ID)
"""Fields holding a customer's number: shown masked, everywhere outside Redis."""

REPLAY_PAGE = 500


def list_deliveries(
    rt: Runtime,
    *,
    status: Status | None = None,
    event_id: str | None = None,
    since: float | None = None,
    cursor: str | None = None,
    limit: int = 100,
    event_type: str | None = None,
) -> Page:
    """One page of delivery records, newest first, numbers masked; `next_cursor` continues it."""
    try:
        page = rt.store.query(status=status, event_id=event_id, since=since, cursor=cursor, limit=limit, event_type=event_type)
    except ValueError as exc:  # a cursor this bridge never gave
        raise InvalidRequest(f"cursor: {exc}") from None
    return Page([masked(record) for record in page.items], page.next_cursor)


def get_delivery(rt: Runtime, delivery_id: str) -> dict[str, Any]:
    """One delivery record (numbers masked) with its whole history under `history`."""
    record = rt.store.get_delivery(delivery_id)
    if record is None:
        raise NotFound(f"{delivery_id}: no such delivery (or older than [retention] delivery_days)", refusal=Refusal.NO_SUCH_DELIVERY)
    return {**masked(record), "history": rt.store.history(delivery_id)}


def event_amounts(rt: Runtime, records: list[dict[str, Any]]) -> dict[str, Amount]:
    """The amount each record's Stripe event carried, by event id (one round trip; events that
    expired or carry no amount are left out)."""
    events = rt.store.get_events([record[Field.EVENT_ID] for record in records if record.get(Field.EVENT_ID)])
    return {event_id: amount for event_id, event in events.items() if (amount := event_amount(event)) is not None}


def replay_one(rt: Runtime, delivery_id: str, *, force: bool = False) -> ReplayResult:
    """Re-queue one delivery under its own id (a sent one only with `force`)."""
    (result,) = replay(rt, [delivery_id], force=force)
    if result.outcome == "not found":
        raise NotFound(f"{delivery_id}: no such delivery (or older than [retention] delivery_days)", refusal=Refusal.NO_SUCH_DELIVERY)
    return result


def replay_many(rt: Runtime, delivery_ids: list[str], *, force: bool = False) -> list[ReplayResult]:
    """Re-queue these deliveries; each result says what happened to it."""
    return replay(rt, delivery_ids, force=force)


@dataclass(frozen=True)
class Selection:
    """Which deliveries a bulk replay takes: every one in `status` created since `since`."""

    status: Status
    since: float | None = None
    reason: SkipReason | None = None
    """With status skipped: only those skipped for this reason."""

    def __post_init__(self) -> None:
        if self.status not in (Status.FAILED, Status.SKIPPED):
            raise InvalidRequest(f"status: only failed or skipped deliveries are replayed in bulk, not {self.status}")
        if self.reason is not None and self.status is not Status.SKIPPED:
            raise InvalidRequest("reason: goes with status skipped")


def replay_selected(rt: Runtime, selection: Selection, *, force: bool = False) -> list[ReplayResult]:
    """Re-queue every delivery the selection takes (the newest first)."""
    chosen = [
        record["id"]
        for record in all_in_status(rt, selection.status, selection.since)
        if selection.reason is None or record.get(Field.REASON_CODE) == selection.reason
    ]
    return replay(rt, chosen, force=force)


def all_in_status(rt: Runtime, status: Status, since: float | None) -> Iterator[dict[str, Any]]:
    """Every delivery record in `status` (created since `since`), page by page through the index."""
    cursor = None
    while True:
        page = rt.store.query(status=status, since=since, cursor=cursor, limit=REPLAY_PAGE)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """The record as it may be shown: the customer's number masked."""
    return {name: mask_phone(str(value)) if name in MASKED_FIELDS and value else value for name, value in record.items()}


def outbox(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    """Dry run: the requests the worker would have sent, newest first, numbers masked."""
    return [masked_request_entry(entry) for entry in rt.store.outbox(limit)]


def masked_request_entry(entry: dict[str, Any]) -> dict[str, Any]:
    request = entry.get("request")
    return {**entry, "request": masked_request(request)} if isinstance(request, dict) else entry


def masked_request(request: dict[str, Any]) -> dict[str, Any]:
    """A Cloud API body as it may be shown: `to` masked."""
    return {**request, "to": mask_phone(str(request["to"]))} if request.get("to") else request
