"""`bridge customer erase`: remove every record naming one number, keeping only a hashed opt-out.

Removed (as found by `bridge.privacy.records.find_customer`): the customer's delivery records,
their history and every index entry (deliveries, deliveries:{status}, event-deliveries,
order:{payment}, paused-deliveries, phone-deliveries, wamid); their queued, scheduled, failed and
finished RQ jobs; dry-run outbox entries; seen-marks of their messages; user-id links; the
pair-rate limiter; consent under every identity, opt-ins included.

Emptied, not deleted: a stored Stripe event's key is its dedupe mark, so it keeps its TTL and
holds b"" (a Stripe retry of an erased event is still answered "duplicate"; `Store.get_event`
reads b"" as gone). A post from Meta not processed yet loses the customer's updates and keeps
the others' (b"" when nothing else was in it), so another customer's STOP in the same post is
still acted on.

Kept: for each scope in which any identity had opted out (or a STOP waits in an unprocessed
post), an opt-out under the HMAC of each form of the number (`OptOuts.hashed`), which the gate
checks before every send: a STOP stays honoured without the number being stored.

Safe to run twice (the second run finds nothing) and while the web and worker run: each delivery
leaves its record and its indexes in one MULTI, consent changes in one WATCHed transaction. A job
a worker is running is left alone (counted as `jobs_running`): erase again once it finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Field, Status, split_delivery_id
from bridge.delivery.store import pack_event
from bridge.keys import Keys
from bridge.privacy.records import BATCH, CONSENT_KINDS, CustomerData, find_customer, job_running
from bridge.redis_conn import unavailable_on_redis_error
from bridge.runtime import Runtime

ERASED_SOURCE = "erased customer"

# Rewrite a stored post only if it is still the one read: the worker may have processed it since.
# KEYS: the post. ARGV: the post as read, its replacement.
_REPLACE_POST = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


@dataclass(frozen=True)
class ErasureReport:
    """What one erase removed, by kind (all 0 when nothing named the number)."""

    deliveries: int = 0
    events: int = 0
    """Stored Stripe events emptied (their keys stay as dedupe marks)."""
    whatsapp_posts: int = 0
    """Posts from Meta not processed yet that lost the customer's updates."""
    seen_marks: int = 0
    jobs: int = 0
    outbox: int = 0
    consent: int = 0
    """Opt-out and opt-in entries removed, under every identity."""
    user_ids: int = 0
    other_keys: int = 0
    """phone-deliveries, pair, wamid and user-phone keys."""
    jobs_running: int = 0
    """Jobs naming the customer that a worker is running: left alone; erase again once they finished."""
    hashed_optouts: tuple[str, ...] = ()
    """Scopes whose opt-out is kept under the number's hash."""

    @property
    def removed(self) -> int:
        """How many records went, all kinds together (0: nothing named the number)."""
        kinds = (self.deliveries, self.events, self.whatsapp_posts, self.seen_marks, self.jobs, self.outbox, self.consent, self.other_keys)
        return sum(kinds)


def erase_customer(rt: Runtime, phone: str, *, now: float) -> ErasureReport:
    """Remove every record naming `phone` (E.164), keeping its opt-outs hashed; see the module docstring."""
    data = find_customer(rt, phone)
    with unavailable_on_redis_error("erasing a customer's data"):
        hashed, consent = _erase_consent(rt, data, now)
        jobs, running = _delete_jobs(rt.redis, data)
        return ErasureReport(
            deliveries=_delete_deliveries(rt.redis, rt.keys, data),
            events=_empty_events(rt.redis, rt.keys, data.events),
            whatsapp_posts=_rewrite_posts(rt.redis, data),
            seen_marks=_delete(rt.redis, data.seen_marks),
            jobs=jobs,
            outbox=_remove_outbox(rt.redis, rt.keys, data.outbox),
            consent=consent,
            user_ids=len(data.user_ids),
            other_keys=_delete(rt.redis, data.keys),
            jobs_running=running,
            hashed_optouts=hashed,
        )


def hashed_optouts(
    on_record: Mapping[str, Iterable[Mapping[str, Any]]], pending: Iterable[tuple[Scope, float]], now: float
) -> dict[Scope, float]:
    """Scope → when the customer opted out of it, for each scope in which any identity did
    (`on_record`: scope → the opt-outs under their identities) or a STOP waits unprocessed
    (`pending`): the opt-outs kept, hashed (pure). Any identity's opt-out counts: a wrongly kept
    opt-out costs a message, a wrongly dropped one sends to a customer who said STOP."""
    found: dict[Scope, float] = {}
    for scope, infos in on_record.items():
        times = [_at(info, now) for info in infos]
        if times:
            found[Scope(scope)] = max(times)
    for scope, at in pending:
        found[scope] = max(found.get(scope, at), at)
    return found


def _at(info: Mapping[str, Any], default: float) -> float:
    try:
        return float(info.get("at") or default)
    except (TypeError, ValueError):
        return default


def _erase_consent(rt: Runtime, data: CustomerData, now: float) -> tuple[tuple[str, ...], int]:
    """Write the hashed opt-outs, then remove every identity from every consent hash, in one
    transaction. Returns (the scopes kept hashed, the entries removed)."""
    pending = [stop for post in data.posts for stop in post.stops]
    if not pending and not any(data.consent.get(kind) for kind in CONSENT_KINDS):
        return (), 0
    identities = data.identities
    hashes = [getattr(rt.keys, kind)(scope) for kind in CONSENT_KINDS for scope in Scope]
    hashed = [rt.optouts.hashed(form) for form in data.forms]
    kept: dict[Scope, float] = {}

    def erase(pipe: Pipeline) -> None:
        # Read under WATCH: a STOP recorded after `find_customer` read consent is kept too, and one
        # arriving during this step makes the transaction run again instead of being lost.
        on_record = {scope: pipe.hmget(rt.keys.optout(scope), identities) for scope in Scope}
        kept.clear()
        kept.update(hashed_optouts({s: [json.loads(v) for v in values if v] for s, values in on_record.items()}, pending, now))
        pipe.multi()
        for scope, at in kept.items():
            info = json.dumps({"at": at, "source": ERASED_SOURCE}, sort_keys=True)
            for field in hashed:
                pipe.hsetnx(rt.keys.optout(scope), field, info)
        for key in hashes:
            pipe.hdel(key, *identities)

    results = rt.redis.transaction(erase, *hashes)
    return tuple(str(scope) for scope in kept), sum(int(n) for n in results[-len(hashes) :])


def _delete_jobs(r: Redis, data: CustomerData) -> tuple[int, int]:
    """Delete the customer's jobs (RQ takes them out of their queue and registries); (deleted, running)."""
    deleted = running = 0
    for found in data.jobs:
        if job_running(found):
            running += 1
            continue
        try:
            Job.fetch(found.id, connection=r).delete()
        except NoSuchJobError:
            continue
        deleted += 1
    return deleted, running


def _delete_deliveries(r: Redis, keys: Keys, data: CustomerData) -> int:
    """Each delivery leaves its record and every index in one MULTI: no index names a missing record."""
    ids = sorted(data.delivery_ids)
    for start in range(0, len(ids), BATCH):
        pipe = r.pipeline(transaction=True)
        for delivery in ids[start : start + BATCH]:
            _forget_delivery(pipe, keys, delivery, data.deliveries.get(delivery, {}))
        pipe.execute()
    return len(ids)


def _forget_delivery(pipe: Pipeline, keys: Keys, delivery: str, record: Mapping[str, object]) -> None:
    """The record, its history and every index entry of one delivery."""
    event_id, _ = split_delivery_id(delivery)
    pipe.delete(keys.delivery(delivery), keys.history(delivery))
    pipe.zrem(keys.deliveries, delivery)
    pipe.zrem(keys.sent_deliveries, delivery)
    for status in Status:
        pipe.zrem(keys.deliveries_in(status), delivery)
    pipe.srem(keys.event_deliveries(event_id), delivery)
    pipe.srem(keys.paused_deliveries, delivery)
    if record.get(Field.ORDER_KEY):
        pipe.zrem(keys.order(str(record[Field.ORDER_KEY])), delivery)
    if record.get(Field.WAMID):
        pipe.delete(keys.wamid(str(record[Field.WAMID])))


def _empty_events(r: Redis, keys: Keys, events: Iterable[str]) -> int:
    """Empty each stored event, keeping its key and TTL: the key is the dedupe mark Stripe's retries meet."""
    pipe = r.pipeline(transaction=False)
    for event_id in events:
        pipe.set(keys.event(event_id), b"", xx=True, keepttl=True)
    return sum(1 for done in pipe.execute() if done)


def _rewrite_posts(r: Redis, data: CustomerData) -> int:
    """Store each unprocessed post without the customer's updates (b"" when nothing else is in it)."""
    replace = r.register_script(_REPLACE_POST)
    done = 0
    for post in data.posts:
        kept = pack_event(json.dumps(post.kept).encode()) if post.kept is not None else b""
        done += int(replace(keys=[post.key], args=[post.stored, kept]))
    return done


def _remove_outbox(r: Redis, keys: Keys, entries: Iterable[bytes]) -> int:
    """Remove the customer's dry-run entries (LREM by value: the list shifts as the worker pushes)."""
    pipe = r.pipeline(transaction=False)
    for entry in entries:
        pipe.lrem(keys.outbox, 0, entry)
    return sum(int(n) for n in pipe.execute())


def _delete(r: Redis, names: list[str]) -> int:
    """Delete keys, a batch a round trip; how many existed."""
    removed = 0
    for start in range(0, len(names), BATCH):
        removed += int(r.delete(*names[start : start + BATCH]))
    return removed
