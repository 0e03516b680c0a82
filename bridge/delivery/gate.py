"""The gate before every send: consent, the template's state, and the rate limits shared by every worker.

Two GCRA limiters (generic cell rate algorithm: one "theoretical arrival time" per key) are
checked together in one Lua script that also marks the delivery as requested:
  - per business phone number: `[whatsapp] messages_per_second` (Meta's default 80/s), aimed 2%
    under, with a tolerance of one interval: a slot may be taken that much early, so workers
    waking a little late do not lose rate, and no second ever holds more than the aim plus one;
  - per recipient: one message per `[whatsapp] pair_interval_seconds` (Meta's pair limit, about
    one message every 6 s to the same user), so a receipt after a payment notice is delayed,
    never dropped.
Time comes from Redis (`TIME`), so workers on different machines share one clock.
When Meta still throttles (130429, 131056), `penalize_*` pushes the key's next slot out.
The same script first refuses what must not be sent, so those checks cost no extra round trip
and a refused message never takes a slot from the number's throughput:
  - a customer who opted out (`bridge.delivery.optouts`; an erased customer's opt-out is kept
    hashed, and checked too), of everything or of marketing templates;
  - a template Meta paused, disabled or rejected (its state from Meta's webhook);
  - in consent mode opt_in, a customer with no consent: the caller says whether `opt_in_when`
    already holds for the event, else an opt-in must be on record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from bridge.delivery.optouts import OptOuts, Scope
from bridge.delivery.records import SkipReason, lua_with_schema
from bridge.keys import Keys
from bridge.redis_conn import text, translates_redis_errors
from bridge.whatsapp.catalogue import normalize_language

# KEYS: number key, pair key, delivery key, opt-out (all) hash, opt-out (marketing) hash,
#       marketing templates set, template states hash, opt-in (all) hash, opt-in (marketing) hash.
# ARGV: number interval, pair interval, key ttl ms, caller's clock (for the delivery record),
#       recipient, template, "template|language", "1" when consent must be on record, the
#       recipient hashed, "1" when the catalogue says the template is MARKETING, the number's
#       tolerance (seconds a slot may be taken early).
# Returns {"0", attempts} when granted (and marks the delivery requested), {wait, -1} when the
# caller must wait, {"refused", reason, scope, info} when the message must not go.
_ACQUIRE = lua_with_schema(
    """
local function on_record(hash)
  local info = redis.call('HGET', hash, ARGV[5])
  if not info then info = redis.call('HGET', hash, ARGV[9]) end
  return info
end
local info = on_record(KEYS[4])
if info then return {'refused', R.opted_out, 'all', info} end
local state = redis.call('HGET', KEYS[7], ARGV[7])
local known = state and cjson.decode(state) or {}
if known.sendable == false then return {'refused', R.template_unavailable, '', state} end
-- Meta's latest word on the category wins over the catalogue; 131050 marks a template for good.
local marketing = ARGV[10] == '1'
if known.category then marketing = known.category == 'MARKETING' end
marketing = marketing or redis.call('SISMEMBER', KEYS[6], ARGV[6]) == 1
if marketing then
  info = on_record(KEYS[5])
  if info then return {'refused', R.opted_out, 'marketing', info} end
end
if ARGV[8] == '1' and not redis.call('HGET', KEYS[8], ARGV[5]) and not (marketing and redis.call('HGET', KEYS[9], ARGV[5])) then
  return {'refused', R.no_consent, '', '{}'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local number_tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local pair_tat = tonumber(redis.call('GET', KEYS[2]) or '0')
-- The number's slot may be taken up to one interval early (GCRA's tolerance): a worker that wakes
-- a little late for its slot does not push every later slot back, so the rate holds.
local wait = math.max(number_tat - tonumber(ARGV[11]) - now, pair_tat - now, 0)
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


# KEYS: number key. ARGV: number interval, key ttl ms, tolerance. The number's limiter alone: "0"
# when a slot was taken, else the seconds until one is free.
_NUMBER_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat - tonumber(ARGV[3]) > now then return string.format('%.6f', tat - tonumber(ARGV[3]) - now) end
redis.call('SET', KEYS[1], string.format('%.6f', now + tonumber(ARGV[1])), 'PX', ARGV[2])
return '0'
"""


SAFETY = 0.98
"""The number's rate is aimed this far under Meta's limit."""
TOLERANCE_MAX = (1 / SAFETY - 1) * 0.99
"""The most a slot may be taken early, in seconds. Any one second then holds at most
ceil(rate × SAFETY × (1 + tolerance)) messages, which is never above the rate: one interval at
80/s and above, 20 ms below (at 20/s a whole interval, 51 ms, would let a 21st message in)."""


@dataclass(frozen=True)
class Refusal:
    """Why a message must not go: opted_out (with the scope), template_unavailable, no_consent."""

    reason: SkipReason
    scope: Scope | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """The opt-out's or the template state's details."""


@dataclass(frozen=True)
class SendSlot:
    """The answer to "may this message go now?"."""

    wait: float = 0.0
    """Seconds until a slot is free; 0 when the slot was taken."""
    attempt: int = 0
    """The delivery's attempt number, when the slot was taken."""
    refused: Refusal | None = None
    """Why the message must not go at all (then nothing was taken)."""

    @property
    def granted(self) -> bool:
        return self.refused is None and self.wait <= 0


class Gate:
    """Opt-outs and rate limits for one sending number (dry run included: it behaves like production)."""

    def __init__(
        self, redis: Redis, *, keys: Keys, optouts: OptOuts, phone_number_id: str, messages_per_second: float, pair_interval: float
    ):
        self.keys = keys
        self.optouts = optouts
        self._check_keys = [
            keys.optout(Scope.ALL),
            keys.optout(Scope.MARKETING),
            keys.marketing_templates,
            keys.template_state,
            keys.optin(Scope.ALL),
            keys.optin(Scope.MARKETING),
        ]
        self._acquire = redis.register_script(_ACQUIRE)
        self._penalize = redis.register_script(_PENALIZE)
        self._number_slot = redis.register_script(_NUMBER_SLOT)
        self.number_key = keys.rate(phone_number_id)
        # Aim 2% under the number's limit: requests reach Meta a few ms after their slot, and
        # that jitter must not push a second over the limit.
        self.number_interval = 1.0 / (messages_per_second * SAFETY)
        self.tolerance = min(self.number_interval, TOLERANCE_MAX)
        self.pair_interval = pair_interval
        self._ttl_ms = 60_000

    @translates_redis_errors
    def acquire(
        self,
        recipient: str,
        template: str,
        language: str,
        delivery: str,
        now: float,
        *,
        consent_on_record: bool = False,
        marketing: bool = False,
    ) -> SendSlot:
        """Take a send slot for `template` to `recipient` (marking the delivery as requested), or
        say how long to wait, or why the message must not go; only a taken slot changes anything.
        `consent_on_record`: consent mode opt_in, and `opt_in_when` did not already consent.
        `marketing`: the catalogue says the template is MARKETING (Meta's webhook may say otherwise)."""
        args = [repr(self.number_interval), repr(self.pair_interval), self._ttl_ms, repr(now), recipient, template]
        args += [template_state_field(template, language), "1" if consent_on_record else "0", self.optouts.hashed(recipient)]
        args += ["1" if marketing else "0", repr(self.tolerance)]
        keys = [self.number_key, self.keys.pair(recipient), self.keys.delivery(delivery), *self._check_keys]
        answer = self._acquire(keys=keys, args=args)
        first, second = (text(v) for v in answer[:2])
        if first == "refused":
            scope = text(answer[2])
            return SendSlot(refused=Refusal(SkipReason(second), Scope(scope) if scope else None, json.loads(answer[3] or b"{}")))
        if int(second) < 0:
            return SendSlot(wait=float(first))
        return SendSlot(attempt=int(second))

    @translates_redis_errors
    def penalize_number(self, seconds: float) -> float:
        """Meta said the number is over its throughput: no worker sends for `seconds`."""
        return float(self._penalize(keys=[self.number_key], args=[repr(seconds)]))

    @translates_redis_errors
    def number_slot(self) -> float:
        """Take a slot of the number's throughput for a message outside any delivery (a STOP
        confirmation); 0 when taken, else the seconds to wait."""
        return float(self._number_slot(keys=[self.number_key], args=[repr(self.number_interval), self._ttl_ms, repr(self.tolerance)]))

    @translates_redis_errors
    def penalize_pair(self, recipient: str, seconds: float) -> float:
        """Meta said this customer got too many messages: wait `seconds` before the next."""
        return float(self._penalize(keys=[self.keys.pair(recipient)], args=[repr(seconds)]))


def template_state_field(template: str, language: str) -> str:
    """A template's field in the template-state hash: `name|en_US` (Meta's webhook writes en-US)."""
    return f"{template}|{normalize_language(language)}"
