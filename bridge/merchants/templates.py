"""A merchant's templates snapshot, in Redis under its account: the same JSON document
`bridge templates pull` writes to the file's merchant's `[whatsapp] templates_file`, parsed by the
same code (`bridge.whatsapp.catalogue.parse_snapshot`). A merchant has no file of its own: one
deployment serves many merchants from one filesystem that may be read-only."""

from __future__ import annotations

import json

from redis import Redis

from bridge.errors import ConfigError, ConfigProblem
from bridge.keys import Keys
from bridge.redis_conn import translates_redis_errors
from bridge.whatsapp.catalogue import Catalogue, parse_snapshot


def where(account: str) -> str:
    """How findings and logs name the snapshot."""
    return f"merchant {account}: templates snapshot"


@translates_redis_errors
def save_merchant_snapshot(redis: Redis, keys: Keys, text: str) -> None:
    redis.set(keys.templates, text)


@translates_redis_errors
def load_merchant_snapshot(redis: Redis, keys: Keys) -> Catalogue | None:
    """The merchant's catalogue; None when none was pulled (ConfigError when it is not a snapshot)."""
    raw = redis.get(keys.templates)
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        problem = ConfigProblem(where(keys.account or ""), "(snapshot)", f"is not JSON ({exc}): pull it again")
        raise ConfigError([problem]) from None
    return parse_snapshot(document, where(keys.account or ""))
