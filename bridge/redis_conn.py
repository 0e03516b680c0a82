"""Redis connections from a URL (including Heroku's `rediss://`), and the one place that
translates redis-py's errors into the bridge's own (`StoreUnavailable`)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bridge.errors import StoreUnavailable

OUTAGES: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
"""Errors meaning "Redis is not there right now": the worker process waits and starts again."""

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def unavailable_on_redis_error(action: str) -> Iterator[None]:
    """Any redis-py error inside becomes StoreUnavailable(action): the web answers 503, a job is re-run."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"Redis unavailable while {action}: {type(exc).__name__}") from exc


def translates_redis_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `unavailable_on_redis_error`, for the methods of the Redis-backed stores."""
    action = method.__name__.strip("_").replace("_", " ")

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with unavailable_on_redis_error(action):
            return method(*args, **kwargs)

    return wrapper


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
    except (RedisError, OSError) as exc:  # hosted Redis may hide INFO; an absent one cannot answer
        return [f"could not read Redis INFO ({type(exc).__name__}); check persistence and eviction yourself"]
    if not int(persistence.get("aof_enabled", 0)):
        warnings.append("Redis append-only file is off (appendonly no): a Redis restart can lose queued jobs; enable AOF")
    policy = memory.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        warnings.append(f"Redis maxmemory-policy is {policy}: under memory pressure Redis may evict jobs and dedupe marks; use noeviction")
    return warnings


def persistence_warnings_at(url: str) -> list[str]:
    """`persistence_warnings` for the Redis at `url` (check-config: a Redis not attached yet is a warning)."""
    client = connect(url, socket_timeout=2.0)
    try:
        return persistence_warnings(client)
    finally:
        client.close()
