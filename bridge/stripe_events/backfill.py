"""Backfill: list the events Stripe kept through its Events API and feed those this bridge never
accepted into the webhook's own dedupe + queue step (`bridge.delivery.ingest.accept`), so an
outage longer than Stripe's retries (3 days in live mode) loses nothing.

- Stripe lists newest first; events are fed oldest first (listed a day at a time), so the notices
  about one payment are queued in the order they happened (`bridge.stripe_events.ordering`).
- "Accepted before" is the dedupe mark, or, once the mark expired ([redis] event_ttl_seconds),
  the event's delivery records ([retention] delivery_days): an event with either is a duplicate
  and never queued again. A `since` reaching back past both is refused (`window_problem`): the
  bridge could no longer tell what it had sent.
- Only events of the key's mode (live or test) and of types some mapping uses are queued; the
  others are ignored, as the webhook ignores types no mapping uses.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any

import stripe

from bridge.config import Config
from bridge.delivery import ingest
from bridge.runtime import Runtime
from bridge.stripe_events.api import translate
from bridge.stripe_events.event_types import KNOWN_EVENT_TYPES

STRIPE_RETENTION_SECONDS = 30 * 86400
"""Stripe's Events API returns the events of the last 30 days."""

TYPES_PER_REQUEST = 20
"""Stripe takes at most 20 exact names in `types[]`; more are listed in several requests."""

PAGE_SIZE = 100
"""Stripe's largest page (`limit`); the SDK pages on with `starting_after`."""

WINDOW_SECONDS = 86400
"""Events are listed a day at a time: enough to feed each day oldest first, while memory holds
only that day (Stripe's 30 days of a busy account would not fit a small dyno)."""

FEED_BATCH = 100
"""Events checked against Redis for "accepted before" in one round trip."""

_KEY_MODE = re.compile(r"^(?:sk|rk)_(live|test)_")


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    WOULD_QUEUE = "would queue"
    """Dry run: queued by a real run."""


@dataclass(frozen=True)
class Fed:
    """What became of one listed event."""

    event_id: str
    event_type: str
    created: int
    outcome: Outcome
    why: str = ""


def key_livemode(api_key: str) -> bool | None:
    """Whether the key is a live one (sk_live_, rk_live_) or a test one; None when its prefix says neither."""
    match = _KEY_MODE.match(api_key)
    return None if match is None else match.group(1) == "live"


def remembered_seconds(config: Config) -> int:
    """How far back this bridge can tell an accepted event: its dedupe mark or its delivery records."""
    return max(config.redis.event_ttl_seconds, config.delivery_ttl_seconds)


def window_problem(since: float, *, now: float, config: Config) -> str | None:
    """Why events created since `since` cannot be backfilled, or None."""
    back = now - since
    if back < 0:
        return "is in the future"
    if back > STRIPE_RETENTION_SECONDS:
        return f"reaches back {back / 86400:.1f} days; Stripe keeps events for {STRIPE_RETENTION_SECONDS // 86400} days"
    remembered = remembered_seconds(config)
    if back > remembered:
        return (
            f"reaches back {back / 86400:.1f} days, but this bridge remembers accepted events for {remembered / 86400:g} days "
            "(the longer of [redis] event_ttl_seconds and [retention] delivery_days): older events could be sent twice"
        )
    return None


def type_problems(types: Iterable[str]) -> list[str]:
    """What is wrong with each `--types` value: an exact Stripe event type, or a group with `*`."""
    problems = []
    for name in types:
        if "*" in name:
            if KNOWN_EVENT_TYPES and not any(fnmatch.fnmatchcase(known, name) for known in KNOWN_EVENT_TYPES):
                problems.append(f"{name!r} matches no Stripe event type")
        elif KNOWN_EVENT_TYPES and name not in KNOWN_EVENT_TYPES:
            problems.append(f"{name!r} is not a Stripe event type")
    return problems


def listing_params(types: Sequence[str]) -> list[dict[str, Any]]:
    """The type filter of each listing: a group with `*` goes alone in `type` (Stripe documents
    `types[]` as exact names), exact names go 20 at a time in `types[]`."""
    groups = [{"type": name} for name in types if "*" in name]
    exact = sorted({name for name in types if "*" not in name})
    return groups + [{"types": exact[i : i + TYPES_PER_REQUEST]} for i in range(0, len(exact), TYPES_PER_REQUEST)]


def list_events(client: stripe.StripeClient, *, since: int, until: int, types: Sequence[str], at: str) -> Iterator[dict[str, Any]]:
    """Every event of `types` created since `since`, oldest first, each once. Stripe lists newest
    first, so a day's events are listed whole before they are yielded: memory holds one day."""
    for start in range(since, until + 1, WINDOW_SECONDS):
        end = start + WINDOW_SECONDS
        created = {"gte": start} if end > until else {"gte": start, "lt": end}  # the last day: up to now
        yield from oldest_first([_listing(client, {**params, "created": created}, at) for params in listing_params(types)])


def _listing(client: stripe.StripeClient, params: dict[str, Any], at: str) -> list[dict[str, Any]]:
    """One listing, all its pages (newest first, as Stripe lists)."""
    try:
        page = client.v1.events.list({**params, "limit": PAGE_SIZE})
        # for_json: the SDK reads `*_decimal` strings as Decimal; back to the strings Stripe sent.
        return [event.to_dict(for_json=True) for event in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise translate(exc, "event listing", then="fix the key, then run `bridge backfill` again", at=at) from None


def oldest_first(listings: Iterable[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Stripe's newest-first listings as one list, oldest first, each event once. Within one
    second the listing's own order is kept (reversed): Stripe's order is the only one there is."""
    by_id: dict[str, dict[str, Any]] = {}
    for listing in listings:
        for event in reversed(listing):
            by_id.setdefault(event["id"], event)
    return sorted(by_id.values(), key=lambda event: event["created"])


def feed(rt: Runtime, events: Iterable[dict[str, Any]], *, livemode: bool | None, dry_run: bool) -> Iterator[Fed]:
    """Feed events (oldest first) into the webhook's dedupe + queue step; in a dry run, only say
    which would be queued (Redis is read, never written)."""
    iterator = iter(events)
    while batch := list(islice(iterator, FEED_BATCH)):
        accepted = rt.store.accepted_events([event["id"] for event in batch])
        for event in batch:
            yield _feed_one(rt, event, accepted=event["id"] in accepted, livemode=livemode, dry_run=dry_run)


def _feed_one(rt: Runtime, event: dict[str, Any], *, accepted: bool, livemode: bool | None, dry_run: bool) -> Fed:
    def fed(outcome: Outcome, why: str = "") -> Fed:
        return Fed(event["id"], event["type"], int(event.get("created") or 0), outcome, why)

    if livemode is not None and bool(event.get("livemode")) is not livemode:
        return fed(Outcome.IGNORED, f"a {_mode(not livemode)}-mode event, the key is a {_mode(livemode)} key")
    if event["type"] not in rt.by_event_type:
        return fed(Outcome.IGNORED, "no mapping uses this type")
    if accepted:
        return fed(Outcome.DUPLICATE)
    if dry_run:
        return fed(Outcome.WOULD_QUEUE)
    outcome = ingest.accept(rt, event, json.dumps(event, separators=(",", ":")).encode())
    return fed(Outcome(outcome.value))


def _mode(live: bool) -> str:
    return "live" if live else "test"
