"""The customer's consent, kept in Redis so every worker honours a change at once.

Two scopes, each with its opt-outs and its opt-ins:
    all        everything: the customer replied STOP (or START), `bridge optout add` (or remove).
    marketing  templates Meta treats as MARKETING only: Meta error 131050, the `user_preferences`
               webhook (stop, resume, signup). A payment receipt is a UTILITY template and still
               reaches a customer who stopped marketing messages.

Every decision has a time (the customer's message, Meta's notice, the operator's command) and the
newest one wins: Meta delivers webhooks out of order and repeats them for days, so a STOP sent
after a START is never undone by the START arriving late.

A customer is known by several identities, and consent is written under each one the bridge has:
the E.164 number with its WhatsApp variants (Mexico's 521…, Argentina's 549…, Brazil's ninth digit:
`bridge.whatsapp.phones.whatsapp_variants`), and the business-scoped user id (BSUID) Meta may give
instead of a number. When a webhook later links a user id to a number (a status or contact that
carries both), consent recorded under the id is copied to the number, which is what sends are
checked against. An erased customer's opt-out is kept only as an HMAC of the number (`hashed`).

Keys (`bridge.keys`): `optout:{scope}` and `optin:{scope}`, hashes identity → JSON {at, source,
...} kept until changed; `marketing-templates`, the template names Meta treats as marketing;
`user-phone:{user_id}`, the number a user id stands for. The check before a send runs inside the
gate's acquire script (`bridge.delivery.gate`): one round trip per message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from redis import Redis

from bridge.keys import Keys
from bridge.redis_conn import text, translates_redis_errors
from bridge.whatsapp.phones import whatsapp_variants


class Scope(StrEnum):
    MARKETING = "marketing"
    ALL = "all"


class Decided(IntEnum):
    """What recording a decision did."""

    STALE = 0
    """A newer opposite decision stands: nothing changed."""
    RECORDED = 1
    """Recorded (or already on record)."""
    REVERSED = 2
    """Recorded, and it reversed an earlier opposite decision."""


@dataclass(frozen=True)
class OptOut:
    phone: str
    """The identity it is recorded under: an E.164 number, a user id, or an erased number's hash."""
    scope: Scope
    info: dict[str, Any]


# Record one decision under each identity. KEYS: the hash it is written to, the hash of the
# opposite decision. ARGV: its time, its details (JSON), the identities... Under each identity an
# opposite decision newer than this one wins; otherwise the opposite is removed and this one
# recorded (an earlier record of the same decision is kept: it says since when).
_DECIDE = """
local at, result = tonumber(ARGV[1]), 0
for i = 3, #ARGV do
  local opposite = redis.call('HGET', KEYS[2], ARGV[i])
  if not (opposite and tonumber(cjson.decode(opposite).at or 0) > at) then
    result = math.max(result, 1)
    if opposite then
      redis.call('HDEL', KEYS[2], ARGV[i])
      result = 2
    end
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[2])
  end
end
return result
"""

# A user id stands for a number: remember it, and copy what is recorded under the id (and not yet
# under the number) to the number. KEYS: user-phone key, then the consent hashes. ARGV: user id,
# number, ttl.
_LINK = """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = 2, #KEYS do
  local info = redis.call('HGET', KEYS[i], ARGV[1])
  if info then redis.call('HSETNX', KEYS[i], ARGV[2], info) end
end
return 1
"""


class OptOuts:
    def __init__(self, redis: Redis, *, keys: Keys, link_ttl: int = 90 * 86400):
        self.redis = redis
        self.keys = keys
        self.link_ttl = link_ttl
        self._hash_key: bytes | None = None
        self._decide = redis.register_script(_DECIDE)
        self._link = redis.register_script(_LINK)

    @translates_redis_errors
    def hashed(self, phone: str) -> str:
        """How an erased customer's opt-out is kept: an HMAC of the number, so that a STOP stays
        honoured without the number being stored. The key is made once per deployment, in Redis."""
        if self._hash_key is None:
            self.redis.set(self.keys.hash_key, secrets.token_hex(32), nx=True)
            self._hash_key = bytes(self.redis.get(self.keys.hash_key) or b"")
        return "hmac:" + hmac.new(self._hash_key, phone.encode(), hashlib.sha256).hexdigest()

    # -- decisions -------------------------------------------------------------------------

    @translates_redis_errors
    def opt_out(
        self, identities: Iterable[str], scope: Scope, *, at: float, source: str, template: str | None = None, **details: Any
    ) -> Decided:
        """Record that the customer known by `identities` opted out of `scope` at `at`.

        With `template` (Meta answered 131050 for it), the template is also remembered as a
        marketing template.
        """
        decided = self._record(self.keys.optout(scope), self.keys.optin(scope), identities, at, source, template=template, **details)
        if template is not None and scope == Scope.MARKETING:
            self.redis.sadd(self.keys.marketing_templates, template)
        return decided

    @translates_redis_errors
    def opt_in(self, identities: Iterable[str], scope: Scope, *, at: float, source: str, **details: Any) -> Decided:
        """Record that the customer opted (back) in to `scope` at `at`: their opt-out there ends,
        and in consent mode opt_in this is the consent on record. An erased customer's opt-out,
        kept under the number's hash, ends too: their START must not be ignored for ever."""
        names = _unique(identities)
        names += [self.hashed(name) for name in names if name.startswith("+")]
        return self._record(self.keys.optin(scope), self.keys.optout(scope), names, at, source, **details)

    def _record(self, target: str, opposite: str, identities: Iterable[str], at: float, source: str, **details: Any) -> Decided:
        names = _unique(identities)
        if not names:
            return Decided.STALE
        info = json.dumps({k: v for k, v in {"at": at, "source": source, **details}.items() if v is not None}, sort_keys=True)
        return Decided(int(self._decide(keys=[target, opposite], args=[repr(float(at)), info, *names])))

    def add(self, phone: str, scope: Scope, *, at: float, source: str, template: str | None = None, **details: Any) -> Decided:
        """Opt `phone` (E.164, and its WhatsApp variants) out of `scope`."""
        return self.opt_out(whatsapp_variants(phone), scope, at=at, source=source, template=template, **details)

    def remove(self, phone: str, scopes: tuple[Scope, ...] = tuple(Scope), *, at: float, source: str) -> list[Scope]:
        """`phone` opted in (again) to `scopes`: record it; returns the scopes whose opt-out ended."""
        return [scope for scope in scopes if self.opt_in(whatsapp_variants(phone), scope, at=at, source=source) is Decided.REVERSED]

    # -- identities ------------------------------------------------------------------------

    @translates_redis_errors
    def link(self, user_id: str, phone: str) -> None:
        """Meta's business-scoped user id stands for this number: remember it, and carry consent
        recorded under the id over to the number."""
        hashes = [self.keys.optout(s) for s in Scope] + [self.keys.optin(s) for s in Scope]
        self._link(keys=[self.keys.user_phone(user_id), *hashes], args=[user_id, phone, self.link_ttl])

    @translates_redis_errors
    def carry(self, previous: str, current: str) -> None:
        """Meta replaced a user id: what was recorded under the old one holds for the new one."""
        hashes = [self.keys.optout(s) for s in Scope] + [self.keys.optin(s) for s in Scope]
        phone = self.redis.get(self.keys.user_phone(previous))
        self._link(keys=[self.keys.user_phone(previous), *hashes], args=[previous, current, self.link_ttl])
        self.redis.delete(self.keys.user_phone(previous))
        if phone is not None:
            self.redis.set(self.keys.user_phone(current), phone, ex=self.link_ttl)

    @translates_redis_errors
    def phone_for_user(self, user_id: str) -> str | None:
        found = self.redis.get(self.keys.user_phone(user_id))
        return text(found) if found else None

    # -- reading ---------------------------------------------------------------------------

    @translates_redis_errors
    def status(self, identities: Iterable[str]) -> dict[str, dict[Scope, dict[str, Any]]]:
        """What is on record for each identity: {"optout": {scope: info}, "optin": {scope: info}}."""
        names = _unique(identities)
        pipe = self.redis.pipeline(transaction=False)
        for kind in ("optout", "optin"):
            for scope in Scope:
                pipe.hmget(getattr(self.keys, kind)(scope), names)
        answers = iter(pipe.execute())
        found: dict[str, dict[Scope, dict[str, Any]]] = {"optout": {}, "optin": {}}
        for kind in ("optout", "optin"):
            for scope in Scope:
                values = [json.loads(v) for v in next(answers) if v is not None]
                if values:
                    found[kind][scope] = max(values, key=lambda info: float(info.get("at") or 0))
        return found

    @translates_redis_errors
    def list(self, scopes: tuple[Scope, ...] = tuple(Scope)) -> list[OptOut]:
        """Every opt-out in `scopes`, newest first."""
        found = []
        for scope in scopes:
            for phone, raw in self.redis.hgetall(self.keys.optout(scope)).items():
                found.append(OptOut(text(phone), scope, json.loads(raw)))
        return sorted(found, key=lambda o: float(o.info.get("at") or 0), reverse=True)

    @translates_redis_errors
    def marketing_templates(self) -> set[str]:
        return {text(t) for t in self.redis.smembers(self.keys.marketing_templates)}

    @translates_redis_errors
    def forget_marketing_template(self, template: str) -> None:
        """Meta moved `template` out of MARKETING: what 131050 taught about it no longer applies."""
        self.redis.srem(self.keys.marketing_templates, template)


def _unique(identities: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in identities if i))
