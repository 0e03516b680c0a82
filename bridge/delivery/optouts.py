"""Customers who must not be messaged, kept in Redis so every worker honours them at once.

Two scopes:
    marketing  the customer stopped marketing messages from the business (Meta error 131050; the
               WhatsApp `user_preferences` webhook later). Only templates known to be MARKETING
               are suppressed: a payment receipt is a UTILITY template and still reaches them.
               A template is known to be marketing once Meta has answered 131050 for it (Meta
               sends that code for marketing templates only).
    all        the customer asked not to be contacted on WhatsApp at all (`bridge optout add`).

Keys (`bridge.keys`): `optout:{scope}`, a hash of E.164 number → JSON {at, source, ...} kept
until removed, and `marketing-templates`, the template names Meta treats as marketing.

The check itself runs inside the gate's acquire script (`bridge.delivery.gate`): one round
trip per message, and a suppressed message never takes a send slot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis

from bridge.keys import Keys
from bridge.redis_conn import text, translates_redis_errors


class Scope(StrEnum):
    MARKETING = "marketing"
    ALL = "all"


@dataclass(frozen=True)
class OptOut:
    phone: str
    scope: Scope
    info: dict[str, Any]


class OptOuts:
    def __init__(self, redis: Redis, *, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._hash_key: bytes | None = None

    @translates_redis_errors
    def hashed(self, phone: str) -> str:
        """How an erased customer's opt-out is kept: an HMAC of the number, so that a STOP stays
        honoured without the number being stored. The key is made once per deployment, in Redis."""
        if self._hash_key is None:
            self.redis.set(self.keys.hash_key, secrets.token_hex(32), nx=True)
            self._hash_key = bytes(self.redis.get(self.keys.hash_key) or b"")
        return "hmac:" + hmac.new(self._hash_key, phone.encode(), hashlib.sha256).hexdigest()

    @translates_redis_errors
    def add(self, phone: str, scope: Scope, *, at: float, source: str, template: str | None = None, **details: Any) -> None:
        """Record that `phone` (E.164) opted out of `scope`; the first record is kept.

        With `template` (Meta answered 131050 for it), the template is also remembered as a
        marketing template, in the same step.
        """
        info = {"at": at, "source": source, "template": template, **details}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(self.keys.optout(scope), phone, json.dumps({k: v for k, v in info.items() if v is not None}, sort_keys=True))
        if template is not None and scope == Scope.MARKETING:
            pipe.sadd(self.keys.marketing_templates, template)
        pipe.execute()

    @translates_redis_errors
    def remove(self, phone: str, scopes: tuple[Scope, ...] = tuple(Scope)) -> list[Scope]:
        """Forget `phone`'s opt-outs in `scopes` (an explicit opt-in); returns the scopes removed."""
        pipe = self.redis.pipeline(transaction=True)
        for scope in scopes:
            pipe.hdel(self.keys.optout(scope), phone)
        return [scope for scope, removed in zip(scopes, pipe.execute(), strict=True) if removed]

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
