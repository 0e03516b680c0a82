"""Templates as Meta's webhook last reported them: status (APPROVED, PAUSED, ...) and category.

The snapshot `bridge templates pull` writes is a file read at start; Meta pauses, disables or
re-categorizes a template at any time and says so on its webhook (`message_template_status_update`,
`template_category_update`). What it says is kept here, in Redis, by name and language (whether or
not a snapshot was ever pulled), so every worker stops sending a paused template at once: the
gate reads the state in the same Lua step that takes the send slot. `check-config` and
`bridge templates list` lay these states over the snapshot.

Key `template-state` (`bridge.keys`): a hash `name|language` → JSON {status, reason,
status_at, category, previous_category, category_at, sendable, template_id}. Each part keeps its
own time: an older notice (Meta retries for days) never overwrites a newer one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from bridge.delivery.gate import template_state_field
from bridge.errors import StoreUnavailable
from bridge.keys import Keys
from bridge.redis_conn import connect, text, translates_redis_errors
from bridge.whatsapp.catalogue import Reported, blocks_sending

# KEYS: the template-state hash. ARGV: field, part ("status" or "category"), time, changes (JSON).
# Returns the state as stored afterwards, or false when a newer notice for that part is on record.
_MERGE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local state = raw and cjson.decode(raw) or {}
local stamp = ARGV[2] .. '_at'
if state[stamp] and tonumber(state[stamp]) > tonumber(ARGV[3]) then return false end
for name, value in pairs(cjson.decode(ARGV[4])) do state[name] = value end
state[stamp] = tonumber(ARGV[3])
local encoded = cjson.encode(state)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""


@dataclass(frozen=True)
class TemplateState:
    name: str
    language: str
    status: str | None = None
    reason: str | None = None
    status_at: float | None = None
    category: str | None = None
    previous_category: str | None = None
    category_at: float | None = None
    sendable: bool = True
    template_id: str | None = None

    def reported(self) -> Reported:
        latest = max((t for t in (self.status_at, self.category_at) if t is not None), default=None)
        return Reported(status=self.status, category=self.category, at=latest)

    @classmethod
    def decode(cls, field: str, raw: str | bytes) -> TemplateState:
        name, _, language = field.partition("|")
        fields = cls.__dataclass_fields__.keys() - {"name", "language"}
        known = {k: (None if v == "" else v) for k, v in json.loads(raw).items() if k in fields}
        return cls(name=name, language=language, **known)


class TemplateStates:
    def __init__(self, redis: Redis, *, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._merge = redis.register_script(_MERGE)

    @translates_redis_errors
    def record_status(
        self, name: str, language: str, status: str, *, at: float, reason: str | None = None, template_id: str | None = None
    ) -> TemplateState | None:
        """Meta reports `status` for the template; None when a newer status is already on record."""
        changes = {"status": status, "reason": reason or "", "sendable": not blocks_sending(status), "template_id": template_id or ""}
        return self._record(name, language, "status", at, changes)

    @translates_redis_errors
    def record_category(
        self, name: str, language: str, category: str, *, at: float, previous: str | None = None, template_id: str | None = None
    ) -> TemplateState | None:
        """Meta moved the template to `category`; None when a newer change is already on record."""
        changes = {"category": category, "previous_category": previous or "", "template_id": template_id or ""}
        return self._record(name, language, "category", at, changes)

    def _record(self, name: str, language: str, part: str, at: float, changes: dict[str, Any]) -> TemplateState | None:
        field = template_state_field(name, language)
        stored = self._merge(keys=[self.keys.template_state], args=[field, part, repr(float(at)), json.dumps(changes)])
        return TemplateState.decode(field, stored) if stored else None

    @translates_redis_errors
    def reported(self) -> dict[tuple[str, str], Reported]:
        """Every reported state as the catalogue lays it over the snapshot."""
        return {key: state.reported() for key, state in self.all().items()}

    @translates_redis_errors
    def all(self) -> dict[tuple[str, str], TemplateState]:
        """Every template Meta has reported on, by (name, language)."""
        states = (TemplateState.decode(text(f), raw) for f, raw in self.redis.hgetall(self.keys.template_state).items())
        return {(s.name, s.language): s for s in states}


def reported_states(redis_url: str, key_prefix: str) -> dict[tuple[str, str], TemplateState]:
    """What Meta's webhook reported, read by a command (check-config, templates list) that has no
    Runtime; empty when Redis cannot be reached (those commands work without it)."""
    client = connect(redis_url, socket_timeout=2.0)
    try:
        return TemplateStates(client, keys=Keys(key_prefix)).all()
    except StoreUnavailable:
        return {}
    finally:
        client.close()
