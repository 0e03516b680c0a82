"""Everything the bridge keeps in Redis about events and deliveries, and the atomic steps that change it.

Keys come from `bridge.keys.Keys`; record fields and statuses from `bridge.delivery.records`.
Every state change is one Lua script, so two workers never both claim a delivery, a sent
delivery is never sent again, and the status index (`deliveries:{status}`) always agrees with
the records. Redis errors become `StoreUnavailable` here (through `bridge.redis_conn`), on the
web's path and the worker's alike.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis import Redis
from redis.client import Pipeline

from bridge import defaults
from bridge.delivery.queueing import DeliveryJobs
from bridge.delivery.records import (
    ClaimMode,
    ClaimOutcome,
    Field,
    Status,
    check_names,
    decode,
    encode,
    lua_with_schema,
    split_delivery_id,
)
from bridge.keys import DRY_RUN_NUMBER, Keys, lua_with_keys
from bridge.observability import figures
from bridge.redis_conn import text, translates_redis_errors

T = TypeVar("T")

SCHEMA_VERSION = 3
"""Version 2 added the status and event indexes, version 3 the index of sent deliveries by send
time and the set of paused numbers; `Store.upgrade` builds them for older data."""

# Shared by every script: the one way to change a status, and running recorded commands. The
# record schema (F.status, S.sent, FINAL[x], ...) and the key map (key('order', okey)) are
# written into each script when it is built (`_script`). ARGV[1] is always the key base,
# ARGV[2] now, ARGV[3] the delivery TTL (for trimming indexes).
_PREAMBLE = """
local base, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

-- The workers' figures for /metrics (bridge.observability.figures): counted in the step they describe.
local function count(field, by)
  redis.call('HINCRBY', key('metrics'), field, by or 1)
end

-- Append to the delivery's history (a list kept as long as the record).
local function remember(id, entry)
  local history = key('history', id)
  redis.call('RPUSH', history, cjson.encode(entry))
  redis.call('EXPIRE', history, ttl)
end

-- Move delivery `id` (hash `d`) to `new`, keeping the status index and the history in step.
-- An index is trimmed of entries older than the records' TTL whenever something enters it.
-- `entry` is the history entry (default: the bridge changed it, now).
local function set_status(d, id, new, entry)
  local old = redis.call('HGET', d, F.status)
  redis.call('HSET', d, F.status, new, F.updated_at, now)
  if old == new then return end
  count(FIGURE_STATUS .. new)
  if old then redis.call('ZREM', key('deliveries_in', old), id) end
  local index = key('deliveries_in', new)
  redis.call('ZADD', index, redis.call('HGET', d, F.created_at) or now, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (tonumber(now) - ttl))
  remember(id, entry or {status = new, at = tonumber(now), by = 'bridge'})
end

-- A delivery that reached a final status no longer holds back later notices about its payment;
-- one whose notice went out makes older ones superseded.
local function leave_order(d, id, new, order_ttl)
  local okey = redis.call('HGET', d, F.order_key)
  if not okey or okey == '' then return end
  redis.call('ZREM', key('order', okey), id)
  if NOTICE_WENT_OUT[new] then
    local created = tonumber(redis.call('HGET', d, F.event_created) or '0')
    local sent_key = key('order_sent', okey)
    if created > tonumber(redis.call('GET', sent_key) or '-1') then
      redis.call('SET', sent_key, created, 'EX', order_ttl)
    end
  end
end

-- Index a delivery Meta accepted by when it did (its `sent_at`): the overview's messages sent per
-- hour. A delivery sent again (a forced replay) moves to its latest send. Trimmed like the status indexes.
local function index_sent(id, at)
  local sent = key('sent_deliveries')
  redis.call('ZADD', sent, at, id)
  redis.call('ZREMRANGEBYSCORE', sent, '-inf', '(' .. (tonumber(now) - ttl))
end

-- Index what a record names: the customer's number (export, erase) and Meta's message id.
local function index_record(d, id)
  local recipient = redis.call('HGET', d, F.recipient)
  if recipient and recipient ~= '' then
    redis.call('SADD', key('phone_deliveries', recipient), id)
    redis.call('EXPIRE', key('phone_deliveries', recipient), ttl)
  end
  local wamid = redis.call('HGET', d, F.wamid)
  if wamid and wamid ~= '' then redis.call('SET', key('wamid', wamid), id, 'EX', ttl) end
end

-- ARGV[i..] holds, for each recorded command, its argument count and then its arguments.
local function run_commands(i)
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
end
"""


def _script(body: str) -> str:
    """A script: the preamble and `body`, with the record schema, the key map and the figures' field
    prefixes written in."""
    source = lua_with_keys(lua_with_schema(_PREAMBLE + body))
    return source.replace("FIGURE_STATUS", repr(figures.STATUS)).replace("FIGURE_META_ERROR", repr(figures.META_ERROR))


# Set the dedupe mark (the stored event) only if absent; if it was absent, run the recorded
# commands (RQ's enqueue writes, the records' creation) in the same atomic step.
# KEYS: event. ARGV: base, now, ttl, event body, event ttl, commands...
_ACCEPT = _script(
    """
if not redis.call('SET', KEYS[1], ARGV[4], 'NX', 'EX', ARGV[5]) then
  return 0
end
run_commands(6)
return 1
"""
)

# Accept a Stripe event: note when a signed event was last verified (a duplicate too: Stripe's
# webhook works), set its dedupe mark (the stored event) only if absent and, in the same
# atomic step, create its deliveries (record, indexes, history) and their RQ jobs. The records and
# jobs come in compact form and are written here: one short argument list, not every field of
# every command, is what the webhook's process serializes.
# KEYS: event. ARGV: base, now, ttl, event body, event ttl, RQ queue key, RQ's set of queues, RQ's
#       job key prefix, now as RQ writes it, RQ's fields shared by every delivery job (JSON list
#       name, value, ...), the history entry (JSON), then per delivery: id, record (JSON object of
#       strings), job id, job data. Returns 1 when the event was new, 0 for a duplicate.
_ACCEPT_EVENT = _script(
    """
redis.call('SET', key('last_event'), now)
if not redis.call('SET', KEYS[1], ARGV[4], 'NX', 'EX', ARGV[5]) then
  return 0
end
local shared, entry, at = cjson.decode(ARGV[10]), ARGV[11], ARGV[9]
for i = 12, #ARGV, 4 do
  local id, record, job_id = ARGV[i], cjson.decode(ARGV[i + 1]), ARGV[i + 2]
  local d = key('delivery', id)
  local fields = {}
  for name, value in pairs(record) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('HSET', d, unpack(fields))
  redis.call('EXPIRE', d, ttl)
  redis.call('ZADD', key('deliveries'), now, id)
  redis.call('ZADD', key('deliveries_in', S.queued), now, id)
  local events = key('event_deliveries', record[F.event_id])
  redis.call('SADD', events, id)
  redis.call('EXPIRE', events, ttl)
  redis.call('RPUSH', key('history', id), entry)
  redis.call('EXPIRE', key('history', id), ttl)
  local recipient = record[F.recipient]
  if recipient and recipient ~= '' then
    redis.call('SADD', key('phone_deliveries', recipient), id)
    redis.call('EXPIRE', key('phone_deliveries', recipient), ttl)
  end
  local okey = record[F.order_key]
  if okey and okey ~= '' then
    redis.call('ZADD', key('order', okey), record[F.event_created] or 0, id)
    redis.call('EXPIRE', key('order', okey), ARGV[5])
  end
  local job = ARGV[8] .. job_id
  redis.call('HSET', job, 'status', 'queued', 'created_at', at, 'enqueued_at', at, 'data', ARGV[i + 3], 'description', 'deliver ' .. id)
  redis.call('HSET', job, unpack(shared))
  redis.call('RPUSH', ARGV[6], job_id)
end
redis.call('SADD', ARGV[7], ARGV[6])
count(FIGURE_STATUS .. S.queued, (#ARGV - 11) / 4)
local horizon = '(' .. (tonumber(now) - ttl)
redis.call('ZREMRANGEBYSCORE', key('deliveries'), '-inf', horizon)
redis.call('ZREMRANGEBYSCORE', key('deliveries_in', S.queued), '-inf', horizon)
return 1
"""
)

# Claim a delivery for sending. KEYS: delivery, event, pause flag.
# ARGV: base, now, ttl, order wait seconds, mode, delivery id.
# Returns {outcome, previous status, event body or false}.
_CLAIM = _script(
    """
local d, mode, id = KEYS[1], ARGV[5], ARGV[6]
local status = redis.call('HGET', d, F.status)
if not status then return {C.missing, '', false} end
if status == S.sending then
  if redis.call('HEXISTS', d, F.request_at) == 1 then return {C.in_flight, status, false} end
elseif status == S.ambiguous then
  if mode ~= M.resend_ambiguous then return {C.ambiguous, status, false} end
elseif not CLAIMABLE[status] then
  return {C.terminal, status, false}
end
if mode ~= M.probe and redis.call('EXISTS', KEYS[3]) == 1 then
  set_status(d, id, S.paused)
  redis.call('SADD', key('paused_deliveries'), id)
  return {C.paused, status, false}
end
local okey = redis.call('HGET', d, F.order_key)
if okey and okey ~= '' then
  local created = tonumber(redis.call('HGET', d, F.event_created) or '0')
  local last = tonumber(redis.call('GET', key('order_sent', okey)) or '-1')
  if created < last then
    set_status(d, id, S.skipped)
    local why = 'superseded: a notice about a later event for this payment was already sent'
    redis.call('HSET', d, F.reason, why, F.reason_code, R.superseded)
    redis.call('ZREM', key('order', okey), id)
    redis.call('SREM', key('paused_deliveries'), id)
    return {C.superseded, status, false}
  end
  local queued_at = tonumber(redis.call('HGET', d, F.created_at) or now)
  if tonumber(now) - queued_at < tonumber(ARGV[4]) then
    local earlier = redis.call('ZRANGEBYSCORE', key('order', okey), '-inf', '(' .. created, 'LIMIT', 0, 1)
    if #earlier > 0 then return {C.wait_order, status, false} end
  end
end
set_status(d, id, S.sending)
redis.call('HSET', d, F.claimed_at, now)
redis.call('HDEL', d, F.request_at)
if status == S.ambiguous then redis.call('HSET', d, F.ambiguous_resent, '1') end
redis.call('SREM', key('paused_deliveries'), id)
return {C.claimed, status, redis.call('GET', KEYS[2])}
"""
)

# Move a delivery from one of the expected statuses to a new one: clear fields, set fields (a
# field named "+x" increments x), keep the ordering and paused indexes in step, then run
# recorded commands (e.g. the retry job's enqueue), all or nothing. The process's pending
# figures (a `Tally`) are added first, whether or not the transition happens; a Meta error code
# recorded on the delivery is counted. KEYS: delivery.
# ARGV: base, now, ttl, expected statuses (comma-separated), fields to clear, new status,
#       delivery id, order ttl, number of field/value arguments, field, value, ...,
#       number of figure arguments, figure, amount, ..., commands...
_TRANSITION = _script(
    """
local d, new, id = KEYS[1], ARGV[6], ARGV[7]
local nfields = tonumber(ARGV[9])
local at_figures = 10 + nfields
local nfigures = tonumber(ARGV[at_figures])
for i = at_figures + 1, at_figures + nfigures, 2 do
  redis.call('HINCRBYFLOAT', key('metrics'), ARGV[i], ARGV[i + 1])
end
local status = redis.call('HGET', d, F.status)
if not status then return false end
local ok = false
for s in string.gmatch(ARGV[4], '[^,]+') do
  if s == status then ok = true end
end
if not ok then return status end
for f in string.gmatch(ARGV[5], '[^,]+') do
  redis.call('HDEL', d, f)
end
set_status(d, id, new)
local indexed = false
for i = 10, 9 + nfields, 2 do
  if string.sub(ARGV[i], 1, 1) == '+' then
    redis.call('HINCRBY', d, string.sub(ARGV[i], 2), ARGV[i + 1])
  else
    redis.call('HSET', d, ARGV[i], ARGV[i + 1])
    if ARGV[i] == F.recipient or ARGV[i] == F.wamid then indexed = true end
    if ARGV[i] == F.error_code then count(FIGURE_META_ERROR .. ARGV[i + 1]) end
    if ARGV[i] == F.sent_at then index_sent(id, ARGV[i + 1]) end
  end
end
if indexed then index_record(d, id) end
if new == S.paused then
  redis.call('SADD', key('paused_deliveries'), id)
else
  redis.call('SREM', key('paused_deliveries'), id)
end
if FINAL[new] then leave_order(d, id, new, ARGV[8]) end
run_commands(at_figures + 1 + nfigures)
return 'ok'
"""
)

# Meta's webhook reports a message's fate. KEYS: delivery, the (wamid, status) seen-mark.
# ARGV: base, now, ttl, delivery id, Meta's status, seen-mark ttl, order ttl, history entry (JSON),
#       number of field/value arguments always set, ..., number set only when it fails, ...
# Meta repeats notifications for days: the seen-mark is set in the same step, so a repeat (or a
# job re-run after a crash) is answered 'duplicate' and changes nothing.
# A status only moves forward (sent → delivered → read); `failed` ends a delivery Meta had not
# delivered, and is history only after that. A delivery still being sent (sending, ambiguous,
# retrying, paused, queued after a crash) that Meta reports on is reconciled: it went out, with
# that wamid, and is never sent again; unless the bridge knows when it went out, Meta's time for
# the status it reports is taken as its `sent_at`, the closest known. A `failed` with Meta's code
# is counted (figures), once.
# Returns the status the delivery is left in.
_META_STATUS = _script(
    """
local d, id, reported, order_ttl = KEYS[1], ARGV[4], ARGV[5], ARGV[7]
local status = redis.call('HGET', d, F.status)
if not status then return false end
if not redis.call('SET', KEYS[2], '', 'NX', 'EX', ARGV[6]) then return 'duplicate' end
local nalways = tonumber(ARGV[9])
local at_failed = 10 + nalways
local nfailed = tonumber(ARGV[at_failed])
if reported == S.failed then
  for i = at_failed + 1, at_failed + nfailed, 2 do
    if ARGV[i] == F.error_code then count(FIGURE_META_ERROR .. ARGV[i + 1]) end
  end
end
local entry = cjson.decode(ARGV[8])
local rank = {[S.sent] = 1, [S.delivered] = 2, [S.read] = 3}
local pending = not FINAL[status]
local gave_up = status == S.failed and redis.call('HGET', d, F.error_class) == 'AmbiguousError'
local new = nil
if rank[reported] then
  if pending or gave_up or (rank[status] and rank[reported] > rank[status]) then new = reported end
elseif reported == S.failed and (pending or status == S.sent) then
  new = S.failed
end
for i = 10, 9 + nalways, 2 do redis.call('HSET', d, ARGV[i], ARGV[i + 1]) end
if new == S.failed then
  for i = at_failed + 1, at_failed + nfailed, 2 do redis.call('HSET', d, ARGV[i], ARGV[i + 1]) end
end
if not new then
  remember(id, entry)
  return status
end
if pending or gave_up then
  redis.call('HDEL', d, F.next_attempt_at, F.ambiguous_at, F.request_at)
  if new ~= S.failed then
    redis.call('HDEL', d, F.error_class, F.error_code, F.error_subcode, F.error_title, F.error_details)
    redis.call('HDEL', d, F.error_message, F.error_meaning, F.error_fix, F.http_status)
  end
  redis.call('SREM', key('paused_deliveries'), id)
  if not redis.call('HGET', d, F.sent_at) then
    redis.call('HSET', d, F.sent_at, entry.at)
    index_sent(id, entry.at)
  end
end
set_status(d, id, new, entry)
index_record(d, id)
leave_order(d, id, new, order_ttl)
return new
"""
)

# Index records written before the status and event indexes (SCHEMA_VERSION 1) or the index of
# sent deliveries (2) existed.
# ARGV: base, now, ttl, delivery ids... Atomic per batch, so a record cannot change status
# between being read and being indexed.
_INDEX = _script(
    """
for i = 4, #ARGV do
  local id = ARGV[i]
  local d = key('delivery', id)
  local status = redis.call('HGET', d, F.status)
  if status then
    redis.call('ZADD', key('deliveries_in', status), redis.call('HGET', d, F.created_at) or now, id)
    local event_id = redis.call('HGET', d, F.event_id) or ''
    local events = key('event_deliveries', event_id)
    redis.call('SADD', events, id)
    redis.call('EXPIRE', events, ttl)
    local sent_at = redis.call('HGET', d, F.sent_at)
    if sent_at then redis.call('ZADD', key('sent_deliveries'), sent_at, id) end
  end
end
return #ARGV - 3
"""
)

EVENT_COMPRESSION_LEVEL = 1
"""zlib level for stored events: a 5 KB event becomes about 1.8 KB in ~30 µs (level 6 saves
another 200 bytes for twice the time, on the webhook's path)."""


def pack_event(body: bytes) -> bytes:
    """An event body as stored: events are kept 30 days, so their size sets Redis's size."""
    return zlib.compress(body, EVENT_COMPRESSION_LEVEL)


def unpack_event(stored: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(stored))


@dataclass(frozen=True)
class NewDelivery:
    """A delivery an accepted event creates: its id, its record's first fields, and its RQ job."""

    id: str
    fields: Mapping[str, Any]
    job_id: str
    job_data: bytes


@functools.lru_cache(maxsize=8)
def _shared_fields(jobs: DeliveryJobs) -> str:
    return json.dumps(list(jobs.constant))


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    status: str
    """The status before the claim."""
    event: dict[str, Any] | None


@dataclass(frozen=True)
class Page:
    """One page of a delivery query, newest first; `next_cursor` continues it (None: the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class Store:
    """The bridge's Redis state for one merchant; one instance per process and merchant."""

    def __init__(self, redis: Redis, *, keys: Keys, event_ttl: int, delivery_ttl: int, outbox_max: int = 1000):
        self.redis = redis
        self.keys = keys
        self.event_ttl = event_ttl
        self.delivery_ttl = delivery_ttl
        self.outbox_max = outbox_max
        self._accept = redis.register_script(_ACCEPT)
        self._accept_event = redis.register_script(_ACCEPT_EVENT)
        self._claim = redis.register_script(_CLAIM)
        self._transition = redis.register_script(_TRANSITION)
        self._index = redis.register_script(_INDEX)
        self._meta_status = redis.register_script(_META_STATUS)
        self._last_event_written = -math.inf
        self.tally = figures.Tally()
        """What this process observed for /metrics and has not written yet (see `transition`)."""

    def _common(self, now: float) -> list[Any]:
        return [self.keys.base, repr(now), self.delivery_ttl]

    # -- ingest ------------------------------------------------------------------------------

    @translates_redis_errors
    def record_enqueues(self, enqueue: Callable[[Pipeline], T]) -> tuple[T, list[Sequence[Any]]]:
        """What `enqueue` returns, and the Redis commands it writes on a pipeline that is never executed.

        RQ writes its enqueue onto the pipeline; the commands then run inside a Lua script, in
        the same atomic step as the state change they belong to. (RQ asks Redis for its version
        once per process, hence the translation.)
        """
        pipe = self.redis.pipeline(transaction=False)
        result = enqueue(pipe)
        commands = [args for args, _options in pipe.command_stack]
        pipe.reset()
        return result, commands

    @translates_redis_errors
    def accept_event(self, event_id: str, body: bytes, deliveries: Sequence[NewDelivery], jobs: DeliveryJobs, *, now: float) -> bool:
        """Atomically: if the event is new, store it, create its deliveries (status queued) and
        queue their jobs; return whether it was new.

        One round trip. Either everything happens or nothing does, so a Redis failure leaves the
        event unmarked and Stripe's retry gets through.
        """
        args: list[Any] = [*self._common(now), pack_event(body), self.event_ttl, jobs.queue_key, jobs.queues_key, jobs.job_prefix]
        args += [jobs.timestamp(now), _shared_fields(jobs), json.dumps({"status": Status.QUEUED, "at": now, "by": "bridge"})]
        stamp = repr(now)
        for new in deliveries:
            check_names(new.fields)
            record = {Field.STATUS: Status.QUEUED, Field.CREATED_AT: stamp, Field.UPDATED_AT: stamp, Field.ATTEMPTS: "0"}
            record |= {str(name): str(encode(value)) for name, value in new.fields.items() if value is not None}
            record[Field.JOB_ID] = new.job_id
            args += [new.id, json.dumps(record), new.job_id, new.job_data]
        return bool(self._accept_event(keys=[self.keys.event(event_id)], args=args))

    @translates_redis_errors
    def event_verified(self, *, now: float) -> None:
        """Note a verified event that made no Redis call of its own (no mapping wants its type): at
        most one write a `LAST_EVENT_WRITE_SECONDS` per process (`accept_event` notes the others)."""
        if 0 <= now - self._last_event_written < defaults.LAST_EVENT_WRITE_SECONDS:
            return
        self._last_event_written = now
        self.redis.set(self.keys.last_event, repr(now))

    @translates_redis_errors
    def last_event_at(self) -> float | None:
        """When a signed Stripe event was last verified (unix time), or None if never."""
        stored = text(self.redis.get(self.keys.last_event))
        return float(stored) if stored else None

    @translates_redis_errors
    def accept_meta_post(self, digest: str, body: bytes, commands: Sequence[Sequence[Any]], *, now: float, ttl: int) -> bool:
        """Like `accept_event`, for a post from Meta's webhook: stored (until processed, at most
        `ttl`) with the job that processes it, in one step. The same post twice is one job."""
        args = [*self._common(now), pack_event(body), ttl, *_flatten(commands)]
        return bool(self._accept(keys=[self.keys.meta_post(digest)], args=args))

    @translates_redis_errors
    def meta_post(self, key: str) -> dict[str, Any] | None:
        """A stored post, parsed; None once processed (or expired)."""
        stored = self.redis.get(key)
        return unpack_event(stored) if stored else None

    @translates_redis_errors
    def unprocessed_meta_posts(self) -> list[str]:
        """The keys of stored posts not processed yet (a processed one keeps an empty mark)."""
        found = [text(key) for key in self.redis.scan_iter(match=self.keys.meta_post("*"), count=500)]
        pipe = self.redis.pipeline(transaction=False)
        for key in found:
            pipe.strlen(key)
        return [key for key, size in zip(found, pipe.execute(), strict=True) if size]

    @translates_redis_errors
    def forget_meta_post(self, key: str) -> None:
        """Processed: keep only the 1-byte mark, so that Meta repeating the post is known until `ttl`."""
        self.redis.set(key, b"", xx=True, keepttl=True)

    # -- the worker's steps ------------------------------------------------------------------

    @translates_redis_errors
    def claim(self, delivery: str, *, pause_key: str, order_wait: float, mode: ClaimMode, now: float) -> Claim:
        """Take a delivery into `sending` (one atomic step), returning the stored event with it.

        Refuses while the sending number is paused (unless probing), while an earlier notice for
        the same payment is pending (for up to `order_wait` seconds), and never claims a delivery
        whose request may already be at Meta (`in_flight`) or whose outcome is ambiguous.
        """
        event_id, _ = split_delivery_id(delivery)
        outcome, status, body = self._claim(
            keys=[self.keys.delivery(delivery), self.keys.event(event_id), pause_key],
            args=[*self._common(now), order_wait, str(mode), delivery],
        )
        return Claim(outcome=ClaimOutcome(text(outcome)), status=text(status), event=unpack_event(body) if body else None)

    @translates_redis_errors
    def transition(
        self,
        delivery: str,
        expected: Iterable[str],
        new: Status,
        *,
        now: float,
        clear: Iterable[str] = (),
        increment: Mapping[str, int] | None = None,
        then: Sequence[Sequence[Any]] = (),
        **fields: Any,
    ) -> bool:
        """Move `delivery` to `new` if its status is one of `expected`; False if it was not.

        `fields` are set (None values skipped), `increment` added to, `clear` deleted; `then`
        are recorded Redis commands (see `record_enqueues`) run in the same atomic step, only if
        the transition happened: a retry is scheduled exactly when the state says so. The
        process's pending figures (`self.tally`) are written in the same step, whatever happens.
        """
        increment = increment or {}
        check_names([*fields, *increment, *clear])
        pairs: list[Any] = [part for name, value in fields.items() if value is not None for part in (name, encode(value))]
        pairs += [part for name, by in increment.items() for part in (f"+{name}", by)]
        args = [*self._common(now), ",".join(expected), ",".join(clear), str(new), delivery, self.event_ttl, len(pairs), *pairs]
        tallied = self.tally.drain()
        args += [len(tallied), *tallied]
        result = self._transition(keys=[self.keys.delivery(delivery)], args=[*args, *_flatten(then)])
        return text(result) == "ok"

    # -- what Meta's webhook reports ----------------------------------------------------------

    @translates_redis_errors
    def apply_meta_status(
        self,
        delivery: str,
        reported: str,
        *,
        entry: Mapping[str, Any],
        fields: Mapping[str, Any],
        on_failure: Mapping[str, Any],
        seen: str,
        seen_ttl: int,
        now: float,
    ) -> str | None:
        """Record Meta's status for a delivery (see _META_STATUS): the status it is left in,
        "duplicate" when `seen` was already marked, None when the delivery is unknown."""
        check_names([*fields, *on_failure])
        always = [part for name, value in fields.items() if value is not None for part in (name, encode(value))]
        failing = [part for name, value in on_failure.items() if value is not None for part in (name, encode(value))]
        args = [*self._common(now), delivery, reported, seen_ttl, self.event_ttl, json.dumps(entry)]
        args += [len(always), *always, len(failing), *failing]
        keys = [self.keys.delivery(delivery), self.keys.meta_seen(seen)]
        return text(self._meta_status(keys=keys, args=args)) or None

    @translates_redis_errors
    def delivery_for_wamid(self, wamid: str) -> str | None:
        found = self.redis.get(self.keys.wamid(wamid))
        return text(found) if found else None

    @translates_redis_errors
    def once(self, marker: str, commands: Sequence[Sequence[Any]], *, ttl: int, now: float) -> bool:
        """Run `commands` (recorded, see `record_enqueues`) unless `marker` was seen within `ttl`
        seconds, and mark it, in one atomic step: what a repeated notification would do twice
        (queue a forward, a reply) happens once. False when it was already seen."""
        args = [*self._common(now), b"", ttl, *_flatten(commands)]
        return bool(self._accept(keys=[self.keys.meta_seen(marker)], args=args))

    @translates_redis_errors
    def seen(self, marker: str) -> bool:
        return bool(self.redis.exists(self.keys.meta_seen(marker)))

    @translates_redis_errors
    def first_time(self, marker: str, ttl: int) -> bool:
        """True the first time `marker` is seen within `ttl` seconds (Meta repeats notifications)."""
        return bool(self.redis.set(self.keys.meta_seen(marker), b"", nx=True, ex=ttl))

    @translates_redis_errors
    def count(self, what: str, by: int = 1) -> None:
        """Count something the bridge otherwise ignores (unknown wamids, fields it does not act on)."""
        self.redis.hincrby(self.keys.counters, what, by)

    @translates_redis_errors
    def counters(self) -> dict[str, int]:
        return {text(k): int(v) for k, v in self.redis.hgetall(self.keys.counters).items()}

    @translates_redis_errors
    def history(self, delivery: str) -> list[dict[str, Any]]:
        """Every status the delivery had, oldest first, with when and from whom (bridge or meta)."""
        return [json.loads(entry) for entry in self.redis.lrange(self.keys.history(delivery), 0, -1)]

    # -- reading -----------------------------------------------------------------------------

    @translates_redis_errors
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The stored event, or None once it has expired."""
        stored = self.redis.get(self.keys.event(event_id))
        return unpack_event(stored) if stored else None

    @translates_redis_errors
    def get_events(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored events among `event_ids` (one round trip); expired ones are left out."""
        unique = list(dict.fromkeys(event_ids))
        if not unique:
            return {}
        stored = self.redis.mget([self.keys.event(event_id) for event_id in unique])
        return {event_id: unpack_event(body) for event_id, body in zip(unique, stored, strict=True) if body}

    @translates_redis_errors
    def has_event(self, event_id: str) -> bool:
        return bool(self.redis.exists(self.keys.event(event_id)))

    @translates_redis_errors
    def accepted_events(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these events were accepted before (one round trip): those with a dedupe mark,
        and those whose mark expired ([redis] event_ttl_seconds) while delivery records remain."""
        pipe = self.redis.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.exists(self.keys.event(event_id), self.keys.event_deliveries(event_id))
        return {event_id for event_id, found in zip(event_ids, pipe.execute(), strict=True) if found}

    @translates_redis_errors
    def get_delivery(self, delivery: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(self.keys.delivery(delivery))
        return decode(raw, delivery) if raw else None

    @translates_redis_errors
    def get_fields(self, delivery: str, *names: Field) -> dict[Field, str]:
        """Some fields of a record, as stored (missing fields are absent)."""
        values = self.redis.hmget(self.keys.delivery(delivery), list(names))
        return {name: text(value) for name, value in zip(names, values, strict=True) if value is not None}

    @translates_redis_errors
    def query(
        self,
        *,
        status: Status | None = None,
        event_id: str | None = None,
        since: float | None = None,
        cursor: str | None = None,
        limit: int = 100,
        event_type: str | None = None,
    ) -> Page:
        """Delivery records, newest first, read through the indexes: only matching records are loaded.

        By event: that event's few deliveries. By status: that status's index. Otherwise the
        index of every delivery. `since` is a creation time; `cursor` is a page's `next_cursor`.
        `event_type` has no index: the records read are filtered by it (the settings page's filter).
        """
        self._upgrade_if_needed()
        if event_id is not None:
            page = self._query_event(event_id, status, since, limit)
            return Page([r for r in page.items if event_type is None or r.get(Field.EVENT_TYPE) == event_type], None)
        index = self.keys.deliveries_in(status) if status is not None else self.keys.deliveries
        items: list[dict[str, Any]] = []
        after = _parse_cursor(cursor)
        while len(items) < limit:
            batch = self._index_page(index, after, since, limit - len(items))
            if not batch:
                return Page(items, None)
            records = self._load([delivery for delivery, _ in batch])
            items += [
                r
                for r in records
                if (status is None or r.get(Field.STATUS) == status) and (event_type is None or r.get(Field.EVENT_TYPE) == event_type)
            ]
            after = batch[-1]
        return Page(items, _cursor(after))

    @translates_redis_errors
    def count_sent(self, ranges: Sequence[tuple[float, float]]) -> list[int]:
        """How many deliveries Meta accepted in each [start, end) range, by their `sent_at` (a sent
        message counts at its send time whatever Meta reported since: delivered, read, failed):
        one ZCOUNT per range on the index of sent deliveries, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for start, end in ranges:
            pipe.zcount(self.keys.sent_deliveries, start, f"({end}")
        return [int(n) for n in pipe.execute()]

    @translates_redis_errors
    def count_created_by_status(self, since: float) -> dict[Status, int]:
        """How many deliveries created since `since` are in each status now (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for status in Status:
            pipe.zcount(self.keys.deliveries_in(status), since, "+inf")
        return dict(zip(Status, (int(n) for n in pipe.execute()), strict=True))

    def list_deliveries(self, *, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Delivery records, newest first (one page of `query`)."""
        return self.query(since=since, limit=limit).items

    def _query_event(self, event_id: str, status: Status | None, since: float | None, limit: int) -> Page:
        ids = sorted(text(d) for d in self.redis.smembers(self.keys.event_deliveries(event_id)))
        records = [r for r in self._load(ids) if status is None or r.get(Field.STATUS) == status]
        records = [r for r in records if since is None or r.get(Field.CREATED_AT, 0) >= since]
        records.sort(key=lambda r: (r.get(Field.CREATED_AT, 0), r["id"]), reverse=True)
        return Page(records[:limit], None)

    def _index_page(self, index: str, after: tuple[str, float] | None, since: float | None, count: int) -> list[tuple[str, float]]:
        """Up to `count` (id, created) entries of `index` older than `after`, newest first.

        Deliveries of one event share their creation time; among equal times Redis orders by
        id, so the cursor carries both and equal-time entries already shown are skipped.
        """
        top = after[1] if after else "+inf"
        bottom = since if since is not None else "-inf"
        offset = 0
        while True:
            rows = self.redis.zrevrangebyscore(index, top, bottom, start=offset, num=count + 8, withscores=True)
            entries = [(text(member), score) for member, score in rows]
            fresh = [e for e in entries if after is None or e[1] < after[1] or e[0] < after[0]]
            if fresh or len(entries) < count + 8:
                return fresh[:count]
            offset += len(entries)

    def _load(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        pipe = self.redis.pipeline(transaction=False)
        for delivery in ids:
            pipe.hgetall(self.keys.delivery(delivery))
        return [decode(raw, delivery) for delivery, raw in zip(ids, pipe.execute(), strict=True) if raw]

    # -- layout upgrades ---------------------------------------------------------------------

    @translates_redis_errors
    def upgrade(self, *, now: float, batch: int = 500) -> int:
        """Build the status, event and sent indexes for records written before they existed.

        Idempotent, and safe while the bridge runs: each batch is indexed in one atomic step
        (records created meanwhile are indexed as they are written). Returns how many records
        were indexed. The worker runs it at start; queries run it when it never ran.
        """
        if text(self.redis.get(self.keys.schema)) == str(SCHEMA_VERSION):
            return 0
        done, ids = 0, []
        # ZSCAN returns every member present for the whole scan, even while others are added
        # or trimmed; records added meanwhile were indexed when they were written.
        for member, _score in self.redis.zscan_iter(self.keys.deliveries, count=batch):
            ids.append(text(member))
            if len(ids) == batch:
                done += int(self._index(args=[*self._common(now), *ids]))
                ids = []
        if ids:
            done += int(self._index(args=[*self._common(now), *ids]))
        # Pauses an older version set are not in the set of paused numbers yet: one SCAN, here only.
        head = self.keys.paused_pattern.removesuffix("*")
        paused = [text(key).removeprefix(head) for key in self.redis.scan_iter(match=self.keys.paused_pattern, count=1000)]
        if paused:
            self.redis.sadd(self.keys.paused_numbers, *paused)
        self.redis.set(self.keys.schema, SCHEMA_VERSION)
        return done

    def _upgrade_if_needed(self) -> None:
        if self.redis.get(self.keys.schema) is None and self.redis.exists(self.keys.deliveries):
            self.upgrade(now=_redis_now(self.redis))

    @translates_redis_errors
    def mark_schema_current(self) -> None:
        """A merchant with no data yet starts at the current layout (nothing to upgrade)."""
        self.redis.set(self.keys.schema, SCHEMA_VERSION, nx=True)

    # -- pausing a sending number -----------------------------------------------------------

    @translates_redis_errors
    def pause(self, phone_number_id: str, info: Mapping[str, Any]) -> bool:
        """Pause the number unless it already is; True if this call paused it. The number joins the
        set of paused numbers in the same step."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.paused(phone_number_id), json.dumps(info), nx=True)
        pipe.sadd(self.keys.paused_numbers, phone_number_id or DRY_RUN_NUMBER)
        return bool(pipe.execute()[0])

    @translates_redis_errors
    def pause_info(self, phone_number_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.paused(phone_number_id))
        return json.loads(raw) if raw else None

    @translates_redis_errors
    def update_pause(self, phone_number_id: str, info: Mapping[str, Any]) -> None:
        """Rewrite the pause's details, only while it lasts."""
        self.redis.set(self.keys.paused(phone_number_id), json.dumps(info), xx=True)

    @translates_redis_errors
    def lift_pause(self, phone_number_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.keys.paused(phone_number_id), self.keys.probe_scheduled)
        pipe.srem(self.keys.paused_numbers, phone_number_id or DRY_RUN_NUMBER)
        pipe.execute()

    @translates_redis_errors
    def paused_numbers(self) -> list[str]:
        """Phone number ids whose sending is paused right now: two round trips whatever the size of
        the keyspace (a SCAN for the flags took one per ten keys: thousands on every overview)."""
        numbers = sorted(text(number) for number in self.redis.smembers(self.keys.paused_numbers))
        pipe = self.redis.pipeline(transaction=False)
        for number in numbers:
            pipe.exists(self.keys.paused(number))
        return [number for number, flagged in zip(numbers, pipe.execute(), strict=True) if flagged]

    @translates_redis_errors
    def held(self) -> list[str]:
        """Deliveries held while sending is paused."""
        return [text(d) for d in self.redis.smembers(self.keys.paused_deliveries)]

    @translates_redis_errors
    def any_held(self) -> str | None:
        """One held delivery, chosen at random (the probe's candidate)."""
        held = self.redis.srandmember(self.keys.paused_deliveries)
        return text(held) if held is not None else None

    @translates_redis_errors
    def forget_held(self, delivery: str) -> None:
        self.redis.srem(self.keys.paused_deliveries, delivery)

    @translates_redis_errors
    def take_probe_slot(self, ttl: int) -> bool:
        """True for the one caller that may schedule the next probe (the slot expires after `ttl`)."""
        return bool(self.redis.set(self.keys.probe_scheduled, "1", nx=True, ex=ttl))

    @translates_redis_errors
    def free_probe_slot(self) -> None:
        self.redis.delete(self.keys.probe_scheduled)

    @translates_redis_errors
    def run_commands(self, commands: Sequence[Sequence[Any]]) -> None:
        """Run recorded commands (a probe's enqueue) in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        pipe.execute()

    # -- dry run -----------------------------------------------------------------------------

    @translates_redis_errors
    def push_outbox(self, entry: Mapping[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.keys.outbox, json.dumps(entry, sort_keys=True))
        pipe.ltrim(self.keys.outbox, 0, self.outbox_max - 1)
        pipe.execute()

    @translates_redis_errors
    def outbox(self, limit: int = 20) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(self.keys.outbox, 0, limit - 1)]


def _flatten(commands: Sequence[Sequence[Any]]) -> list[Any]:
    # The parts are already valid Redis arguments (they were written as commands), and
    # redis-py encodes them once when the script is called: no second encoding pass here.
    args: list[Any] = []
    for command in commands:
        args.append(len(command))
        args.extend(command)
    return args


def _cursor(entry: tuple[str, float]) -> str:
    return f"{entry[1]!r}:{entry[0]}"


def _parse_cursor(cursor: str | None) -> tuple[str, float] | None:
    """A cursor is `created:delivery_id`; a malformed one is a ValueError for the caller to report."""
    if cursor is None:
        return None
    score, sep, delivery = cursor.partition(":")
    try:
        created = float(score)
    except ValueError:
        created = math.nan
    if not sep or not delivery or not math.isfinite(created):
        raise ValueError("not a cursor given by this bridge")
    return delivery, created


def _redis_now(redis: Redis) -> float:
    seconds, micros = redis.time()
    return seconds + micros / 1_000_000
