"""Everything the bridge keeps in Redis, and the atomic steps that change it.

Keys (all under `[redis] key_prefix`, default `bridge`):

    {p}:event:{evt_id}          the event body as received, zlib-compressed (about a third of
                                its size); its existence is the dedupe mark
    {p}:delivery:{delivery_id}  hash: one record per (event, mapping), the delivery's state
    {p}:deliveries              sorted set of delivery ids by creation time (listing, replay)
    {p}:outbox                  list of dry-run messages, newest first

    {p}:order:{payment}         sorted set of pending deliveries about one payment, by event time
    {p}:order-sent:{payment}    `created` of the latest event whose notice was sent
    {p}:paused:{number id}      set while the sending number is paused (account errors)
    {p}:paused-deliveries       deliveries held while paused, re-queued by resume

A delivery id is `{evt_id}:{mapping name}`. Status moves queued → sending → sent | failed |
skipped | dry_run; sending → retrying | paused | ambiguous → sending. Every transition is one
Lua script, so two workers never both claim a delivery and a sent delivery is never sent again.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from bridge.errors import StoreUnavailable
from bridge.redis_conn import text


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    AMBIGUOUS = "ambiguous"
    PAUSED = "paused"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"


ERROR_FIELDS = (
    "error_code",
    "error_subcode",
    "error_title",
    "error_details",
    "error_message",
    "error_meaning",
    "error_class",
    "http_status",
)
"""Fields describing a delivery's last error; cleared whenever a new outcome is recorded."""

# Appended to scripts that end by replaying recorded commands: ARGV[i..] holds, for each
# command, its argument count and then its arguments (RQ's enqueue writes, record writes).
_RUN_COMMANDS = """
local function run_commands(i)
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
end
"""

# Set the dedupe mark (the stored event) only if absent; if it was absent, run the recorded
# commands in the same atomic step. ARGV: event body, ttl, commands...
_ACCEPT = (
    _RUN_COMMANDS
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 0
end
run_commands(3)
return 1
"""
)

# Claim a delivery for sending. KEYS: delivery, event, pause flag.
# ARGV: now, key prefix, order wait seconds, mode (normal | probe | resend_ambiguous), delivery id
# Returns {outcome, previous status, event body or false}; outcomes: claimed, missing, terminal,
# in_flight (a request may be at Meta), ambiguous, paused, superseded, wait_order.
_CLAIM = """
local d, now, prefix, mode, id = KEYS[1], ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local status = redis.call('HGET', d, 'status')
if not status then return {'missing', '', false} end
if status == 'sending' then
  if redis.call('HEXISTS', d, 'request_at') == 1 then return {'in_flight', status, false} end
elseif status == 'ambiguous' then
  if mode ~= 'resend_ambiguous' then return {'ambiguous', status, false} end
elseif status ~= 'queued' and status ~= 'retrying' and status ~= 'paused' then
  return {'terminal', status, false}
end
if mode ~= 'probe' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', d, 'status', 'paused', 'updated_at', now)
  redis.call('SADD', prefix .. ':paused-deliveries', id)
  return {'paused', status, false}
end
local okey = redis.call('HGET', d, 'order_key')
if okey and okey ~= '' then
  local created = tonumber(redis.call('HGET', d, 'event_created') or '0')
  local last = tonumber(redis.call('GET', prefix .. ':order-sent:' .. okey) or '-1')
  if created < last then
    redis.call('HSET', d, 'status', 'skipped', 'updated_at', now,
      'reason', 'superseded: a notice about a later event for this payment was already sent')
    redis.call('ZREM', prefix .. ':order:' .. okey, id)
    redis.call('SREM', prefix .. ':paused-deliveries', id)
    return {'superseded', status, false}
  end
  local queued_at = tonumber(redis.call('HGET', d, 'created_at') or now)
  if tonumber(now) - queued_at < tonumber(ARGV[3]) then
    local earlier = redis.call('ZRANGEBYSCORE', prefix .. ':order:' .. okey, '-inf', '(' .. created, 'LIMIT', 0, 1)
    if #earlier > 0 then return {'wait_order', status, false} end
  end
end
redis.call('HSET', d, 'status', 'sending', 'claimed_at', now, 'updated_at', now)
redis.call('HDEL', d, 'request_at')
if status == 'ambiguous' then redis.call('HSET', d, 'ambiguous_resent', '1') end
redis.call('SREM', prefix .. ':paused-deliveries', id)
return {'claimed', status, redis.call('GET', KEYS[2])}
"""

# Move a delivery from one of the expected statuses to a new one: clear fields, set fields
# (a field named "+x" increments x), keep the ordering and paused indexes in step, then run
# recorded commands (e.g. the retry job's enqueue), all or nothing. KEYS: delivery.
# ARGV: expected statuses (comma-separated), fields to clear, new status, now, key prefix,
#       delivery id, order ttl, number of field/value arguments, field, value, ..., commands...
_TRANSITION = (
    _RUN_COMMANDS
    + """
local d, new, prefix, id = KEYS[1], ARGV[3], ARGV[5], ARGV[6]
local status = redis.call('HGET', d, 'status')
if not status then return false end
local ok = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == status then ok = true end
end
if not ok then return status end
for f in string.gmatch(ARGV[2], '[^,]+') do
  redis.call('HDEL', d, f)
end
redis.call('HSET', d, 'status', new, 'updated_at', ARGV[4])
local nfields = tonumber(ARGV[8])
for i = 9, 8 + nfields, 2 do
  if string.sub(ARGV[i], 1, 1) == '+' then
    redis.call('HINCRBY', d, string.sub(ARGV[i], 2), ARGV[i + 1])
  else
    redis.call('HSET', d, ARGV[i], ARGV[i + 1])
  end
end
if new == 'paused' then
  redis.call('SADD', prefix .. ':paused-deliveries', id)
else
  redis.call('SREM', prefix .. ':paused-deliveries', id)
end
if new == 'sent' or new == 'failed' or new == 'skipped' or new == 'dry_run' then
  local okey = redis.call('HGET', d, 'order_key')
  if okey and okey ~= '' then
    redis.call('ZREM', prefix .. ':order:' .. okey, id)
    if new == 'sent' or new == 'dry_run' then
      local created = tonumber(redis.call('HGET', d, 'event_created') or '0')
      local sent_key = prefix .. ':order-sent:' .. okey
      if created > tonumber(redis.call('GET', sent_key) or '-1') then
        redis.call('SET', sent_key, created, 'EX', ARGV[7])
      end
    end
  end
end
run_commands(9 + nfields)
return 'ok'
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
class Claim:
    outcome: str
    """claimed | missing | terminal | in_flight | ambiguous | paused | superseded | wait_order"""
    status: str
    """The status before the claim."""
    event: dict[str, Any] | None


def delivery_id(event_id: str, mapping: str) -> str:
    return f"{event_id}:{mapping}"


def split_delivery_id(value: str) -> tuple[str, str]:
    event_id, _, mapping = value.partition(":")
    return event_id, mapping


class Store:
    """The bridge's Redis state; one instance per process, sharing the process's connection."""

    def __init__(self, redis: Redis, *, prefix: str, event_ttl: int, delivery_ttl: int, outbox_max: int = 1000):
        self.redis = redis
        self.prefix = prefix
        self.event_ttl = event_ttl
        self.delivery_ttl = delivery_ttl
        self.outbox_max = outbox_max
        self._accept = redis.register_script(_ACCEPT)
        self._claim = redis.register_script(_CLAIM)
        self._transition = redis.register_script(_TRANSITION)

    # keys
    def event_key(self, event_id: str) -> str:
        return f"{self.prefix}:event:{event_id}"

    def delivery_key(self, delivery: str) -> str:
        return f"{self.prefix}:delivery:{delivery}"

    @property
    def deliveries_key(self) -> str:
        return f"{self.prefix}:deliveries"

    def order_key(self, key: str) -> str:
        return f"{self.prefix}:order:{key}"

    @property
    def paused_deliveries_key(self) -> str:
        return f"{self.prefix}:paused-deliveries"

    def pause_key(self, phone_number_id: str) -> str:
        return f"{self.prefix}:paused:{phone_number_id or 'dry-run'}"

    def paused_numbers(self) -> list[str]:
        """Phone number ids whose sending is paused right now."""
        head = self.pause_key("x")[:-1]
        return sorted(text(key).removeprefix(head) for key in self.redis.scan_iter(match=head + "*"))

    @property
    def outbox_key(self) -> str:
        return f"{self.prefix}:outbox"

    # ingest
    def record_commands(self, pipe: Pipeline, deliveries: Mapping[str, Mapping[str, Any]], now: float) -> None:
        """Queue the writes that create delivery records (status queued) on `pipe`."""
        for delivery, fields in deliveries.items():
            key = self.delivery_key(delivery)
            pipe.hset(key, mapping={"status": Status.QUEUED, "created_at": repr(now), "updated_at": repr(now), "attempts": 0, **fields})
            pipe.expire(key, self.delivery_ttl)
            pipe.zadd(self.deliveries_key, {delivery: now})
            if fields.get("order_key"):
                order = self.order_key(str(fields["order_key"]))
                pipe.zadd(order, {delivery: float(fields.get("event_created") or 0)})
                pipe.expire(order, self.event_ttl)
        pipe.zremrangebyscore(self.deliveries_key, "-inf", now - self.delivery_ttl)

    def accept_event(self, event_id: str, body: bytes, commands: Sequence[Sequence[Any]]) -> bool:
        """Atomically: if the event is new, store it and run `commands`; return whether it was new.

        One round trip. Either everything happens or nothing does, so a Redis failure leaves the
        event unmarked and Stripe's retry gets through.
        """
        args: list[Any] = [pack_event(body), self.event_ttl, *self._flatten(commands)]
        try:
            return bool(self._accept(keys=[self.event_key(event_id)], args=args))
        except RedisError as exc:
            raise StoreUnavailable(f"Redis refused the event: {type(exc).__name__}") from exc

    # worker side
    def claim(self, delivery: str, *, pause_key: str, order_wait: float, mode: str = "normal", now: float | None = None) -> Claim:
        """Take a delivery into `sending` (one atomic step), returning the stored event with it.

        Refuses while the sending number is paused (unless probing), while an earlier notice for
        the same payment is pending (for up to `order_wait` seconds), and never claims a delivery
        whose request may already be at Meta (`in_flight`) or whose outcome is ambiguous.
        """
        event_id, _ = split_delivery_id(delivery)
        outcome, status, body = self._claim(
            keys=[self.delivery_key(delivery), self.event_key(event_id), pause_key],
            args=[repr(now or time.time()), self.prefix, order_wait, mode, delivery],
        )
        event = unpack_event(body) if body else None
        return Claim(outcome=text(outcome), status=text(status), event=event)

    def transition(
        self,
        delivery: str,
        expected: Iterable[str],
        new: Status,
        *,
        clear: Iterable[str] = (),
        now: float | None = None,
        then: Sequence[Sequence[Any]] = (),
        **fields: Any,
    ) -> bool:
        """Move `delivery` to `new` if its status is one of `expected`; False if it was not.

        `then` are recorded Redis commands (see `recorded`) run in the same atomic step, only
        if the transition happened: a retry is scheduled exactly when the state says so.
        """
        pairs: list[Any] = []
        for key, value in fields.items():
            if value is not None:
                pairs.extend([key, value])
        args: list[Any] = [
            ",".join(expected),
            ",".join(clear),
            str(new),
            repr(now or time.time()),
            self.prefix,
            delivery,
            self.event_ttl,
            len(pairs),
            *pairs,
        ]
        args.extend(self._flatten(then))
        result = self._transition(keys=[self.delivery_key(delivery)], args=args)
        return text(result) == "ok"

    def recorder(self) -> Pipeline:
        """A pipeline that is never executed: RQ writes its enqueue commands onto it."""
        return self.redis.pipeline(transaction=False)

    @staticmethod
    def recorded(pipe: Pipeline) -> list[Sequence[Any]]:
        """The commands written on a recorder pipeline, which is then emptied."""
        commands = [args for args, _options in pipe.command_stack]
        pipe.reset()
        return commands

    @staticmethod
    def _flatten(commands: Sequence[Sequence[Any]]) -> list[Any]:
        # The parts are already valid Redis arguments (they were written as commands), and
        # redis-py encodes them once when the script is called: no second encoding pass here.
        args: list[Any] = []
        for command in commands:
            args.append(len(command))
            args.extend(command)
        return args

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The stored event, or None once it has expired."""
        stored = self.redis.get(self.event_key(event_id))
        return unpack_event(stored) if stored else None

    def get_delivery(self, delivery: str) -> dict[str, str] | None:
        raw = self.redis.hgetall(self.delivery_key(delivery))
        if not raw:
            return None
        record = {text(k): text(v) for k, v in raw.items()}
        record["id"] = delivery
        return record

    def list_deliveries(self, *, since: float | None = None, limit: int = 1000) -> list[dict[str, str]]:
        """Delivery records, newest first, optionally only those created at or after `since`."""
        ids = self.redis.zrevrangebyscore(self.deliveries_key, "+inf", since if since is not None else "-inf", start=0, num=limit)
        pipe = self.redis.pipeline(transaction=False)
        for delivery in ids:
            pipe.hgetall(self.delivery_key(text(delivery)))
        records = []
        for delivery, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                record = {text(k): text(v) for k, v in raw.items()}
                record["id"] = text(delivery)
                records.append(record)
        return records

    # dry run
    def push_outbox(self, entry: Mapping[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.outbox_key, json.dumps(entry, sort_keys=True))
        pipe.ltrim(self.outbox_key, 0, self.outbox_max - 1)
        pipe.execute()

    def outbox(self, limit: int = 20) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(self.outbox_key, 0, limit - 1)]
