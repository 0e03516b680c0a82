"""The gate before every send: the opt-out check and the rate limits shared by every worker.

Two GCRA limiters (generic cell rate algorithm: one "theoretical arrival time" per key, no
burst) are checked together in one Lua script that also marks the delivery as requested:
  - per business phone number: `[whatsapp] messages_per_second` (Meta's default 80/s);
  - per recipient: one message per `[whatsapp] pair_interval_seconds` (Meta's pair limit, about
    one message every 6 s to the same user), so a receipt after a payment notice is delayed,
    never dropped.
Time comes from Redis (`TIME`), so workers on different machines share one clock.
When Meta still throttles (130429, 131056), `penalize_*` pushes the key's next slot out.
The same script first refuses recipients who opted out (`bridge.optouts`), so that check costs
no extra round trip and a suppressed message never takes a slot from the number's throughput.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from bridge.delivery.optouts import Scope
from bridge.delivery.records import lua_with_schema
from bridge.keys import Keys
from bridge.redis_conn import text, translates_redis_errors

# KEYS: number key, pair key, delivery key, opt-out (all) hash, opt-out (marketing) hash,
#       marketing templates set.
# ARGV: number interval, pair interval, key ttl ms, caller's clock (for the delivery record),
#       recipient, template.
# Returns {"0", attempts} when granted (and marks the delivery requested), {wait, -1} when the
# caller must wait, {"suppressed", scope, info} when the recipient opted out.
_ACQUIRE = lua_with_schema(
    """
local info = redis.call('HGET', KEYS[4], ARGV[5])
if info then return {'suppressed', 'all', info} end
info = redis.call('HGET', KEYS[5], ARGV[5])
if info and redis.call('SISMEMBER', KEYS[6], ARGV[6]) == 1 then return {'suppressed', 'marketing', info} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local number_tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local pair_tat = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = math.max(number_tat - now, pair_tat - now, 0)
if wait > 0 then
  return {tostring(wait), -1}
end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%.6f', math.max(number_tat, now) + tonumber(ARGV[1])), 'PX', ttl)
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[2], string.format('%.6f', now + tonumber(ARGV[2])), 'PX', ttl + math.floor(tonumber(ARGV[2]) * 1000))
end
local attempts = redis.call('HINCRBY', KEYS[3], F.attempts, 1)
redis.call('HSET', KEYS[3], F.request_at, ARGV[4])
if attempts == 1 then redis.call('HSET', KEYS[3], F.first_attempt_at, ARGV[4]) end
return {'0', attempts}
"""
)

# KEYS: limiter key. ARGV: seconds. Push the key's next slot to at least now + seconds.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ = math.max(tat, now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.floor((until_ - now) * 1000) + 60000)
return string.format('%.6f', until_ - now)
"""


SAFETY = 0.98


@dataclass(frozen=True)
class SendSlot:
    """The answer to "may this message go now?"."""

    wait: float = 0.0
    """Seconds until a slot is free; 0 when the slot was taken."""
    attempt: int = 0
    """The delivery's attempt number, when the slot was taken."""
    opted_out: Scope | None = None
    """The opt-out that forbids this send, if any (then nothing was taken)."""
    opt_out_info: dict[str, Any] | None = None

    @property
    def granted(self) -> bool:
        return self.opted_out is None and self.wait <= 0


class Gate:
    """Opt-outs and rate limits for one sending number (dry run included: it behaves like production)."""

    def __init__(self, redis: Redis, *, keys: Keys, phone_number_id: str, messages_per_second: float, pair_interval: float):
        self.keys = keys
        self._optout_keys = [keys.optout(Scope.ALL), keys.optout(Scope.MARKETING), keys.marketing_templates]
        self._acquire = redis.register_script(_ACQUIRE)
        self._penalize = redis.register_script(_PENALIZE)
        self.number_key = keys.rate(phone_number_id)
        # Aim 2% under the number's limit: requests reach Meta a few ms after their slot, and
        # that jitter must not push a second over the limit.
        self.number_interval = 1.0 / (messages_per_second * SAFETY)
        self.pair_interval = pair_interval
        self._ttl_ms = 60_000

    @translates_redis_errors
    def acquire(self, recipient: str, template: str, delivery: str, now: float) -> SendSlot:
        """Take a send slot for `template` to `recipient` (marking the delivery as requested), or
        say how long to wait, or that the recipient opted out; only a taken slot changes anything."""
        answer = self._acquire(
            keys=[self.number_key, self.keys.pair(recipient), self.keys.delivery(delivery), *self._optout_keys],
            args=[repr(self.number_interval), repr(self.pair_interval), self._ttl_ms, repr(now), recipient, template],
        )
        first, second = (text(v) for v in answer[:2])
        if first == "suppressed":
            return SendSlot(opted_out=Scope(second), opt_out_info=json.loads(answer[2]))
        if int(second) < 0:
            return SendSlot(wait=float(first))
        return SendSlot(attempt=int(second))

    @translates_redis_errors
    def penalize_number(self, seconds: float) -> float:
        """Meta said the number is over its throughput: no worker sends for `seconds`."""
        return float(self._penalize(keys=[self.number_key], args=[repr(seconds)]))

    @translates_redis_errors
    def penalize_pair(self, recipient: str, seconds: float) -> float:
        """Meta said this customer got too many messages: wait `seconds` before the next."""
        return float(self._penalize(keys=[self.keys.pair(recipient)], args=[repr(seconds)]))
