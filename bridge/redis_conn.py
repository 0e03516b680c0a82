"""Redis connections from a URL, including Heroku's `rediss://` with self-signed certificates."""

from __future__ import annotations

import ssl
from typing import Any

from redis import Redis


def connect(url: str, *, socket_timeout: float | None = None, connect_timeout: float = 2.0) -> Redis:
    """A Redis client for `url`; `rediss://` skips certificate verification as Heroku requires."""
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
    }
    if url.startswith("rediss://"):
        # Heroku Redis presents a self-signed certificate; Heroku documents turning off
        # verification (the connection is still encrypted).
        options["ssl_cert_reqs"] = ssl.CERT_NONE
        options["ssl_check_hostname"] = False
    return Redis.from_url(url, **options)


def text(value: Any) -> str:
    """A Redis reply as text: bytes decoded, None (and a Lua `false`) as ""."""
    if value is None or value is False:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def persistence_warnings(redis: Redis) -> list[str]:
    """What in this Redis's setup could lose accepted events or jobs (empty when none)."""
    warnings = []
    try:
        persistence = redis.info("persistence")
        memory = redis.info("memory")
    except Exception as exc:
        return [f"could not read Redis INFO ({type(exc).__name__}); check persistence and eviction yourself"]
    if not int(persistence.get("aof_enabled", 0)):
        warnings.append("Redis append-only file is off (appendonly no): a Redis restart can lose queued jobs; enable AOF")
    policy = memory.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        warnings.append(f"Redis maxmemory-policy is {policy}: under memory pressure Redis may evict jobs and dedupe marks; use noeviction")
    return warnings
