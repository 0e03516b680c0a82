"""The objects a bridge process shares: built once per process by `build_runtime`.

The web app and the worker build the same Runtime from the same Config, so config is parsed,
mappings compiled, and Redis and HTTP clients created once per process, never per request/job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue

from bridge import defaults
from bridge.config import Config, load_config
from bridge.delivery.gate import RateLimiter
from bridge.delivery.optouts import OptOuts
from bridge.delivery.store import Store
from bridge.mappings.compile import CompiledMapping, compile_mappings
from bridge.redis_conn import connect
from bridge.stripe_events.customers import CustomerLookup
from bridge.whatsapp.client import WhatsAppClient


@dataclass
class Runtime:
    config: Config
    redis: Redis
    store: Store
    queue: Queue
    mappings: dict[str, CompiledMapping]
    by_event_type: dict[str, tuple[CompiledMapping, ...]]
    whatsapp: WhatsAppClient | None
    customers: CustomerLookup | None
    limiter: RateLimiter
    optouts: OptOuts
    clock: Callable[[], float] = field(default=time.time)

    @property
    def pause_key(self) -> str:
        return self.store.pause_key(self.config.whatsapp.phone_number_id)

    def close(self) -> None:
        if self.whatsapp is not None:
            self.whatsapp.close()
        self.redis.close()


def build_runtime(config: Config, *, redis: Redis | None = None, role: str = "web", clock: Callable[[], float] = time.time) -> Runtime:
    """Compile mappings and open connections for one process (`role` is web or worker)."""
    mappings = compile_mappings(config)
    if redis is None:
        # The worker blocks on Redis for jobs, so only the web side gets a short socket timeout.
        timeout = defaults.REDIS_SOCKET_TIMEOUT_SECONDS if role == "web" else None
        redis = connect(config.redis.url, socket_timeout=timeout)
    by_type: dict[str, list[CompiledMapping]] = {}
    for mapping in mappings:
        for event_type in mapping.settings.events:
            by_type.setdefault(event_type, []).append(mapping)
    store = Store(
        redis,
        prefix=config.redis.key_prefix,
        event_ttl=config.redis.event_ttl_seconds,
        delivery_ttl=config.redis.delivery_ttl_seconds,
        outbox_max=defaults.OUTBOX_MAX,
    )
    queue = Queue(config.redis.queue, connection=redis, default_timeout=config.delivery.job_timeout_seconds)
    whatsapp = None
    if role == "worker" and not config.whatsapp.dry_run:
        whatsapp = WhatsAppClient(config.whatsapp)
    customers = None
    if role == "worker" and config.stripe.api_key:
        customers = CustomerLookup(config.stripe.api_key, api_base_url=config.stripe.api_base_url)
    optouts = OptOuts(redis, prefix=config.redis.key_prefix)
    limiter = RateLimiter(
        redis,
        prefix=config.redis.key_prefix,
        phone_number_id=config.whatsapp.phone_number_id,
        messages_per_second=config.whatsapp.messages_per_second,
        pair_interval=config.whatsapp.pair_interval_seconds,
        optouts=optouts,
    )
    return Runtime(
        config=config,
        redis=redis,
        store=store,
        queue=queue,
        mappings={m.name: m for m in mappings},
        by_event_type={k: tuple(v) for k, v in by_type.items()},
        whatsapp=whatsapp,
        customers=customers,
        limiter=limiter,
        optouts=optouts,
        clock=clock,
    )


# The worker process's Runtime: RQ calls job functions by name, so they find it here.
_process_runtime: Runtime | None = None
_process_lock = threading.Lock()


def install_process_runtime(runtime: Runtime | None) -> None:
    """Use `runtime` for every job this process runs (`bridge worker` and the tests call this)."""
    global _process_runtime
    _process_runtime = runtime


def process_runtime() -> Runtime:
    """The process's Runtime, built from the environment's config the first time if none was installed."""
    global _process_runtime
    if _process_runtime is None:
        with _process_lock:
            if _process_runtime is None:
                _process_runtime = build_runtime(load_config(), role="worker")
    return _process_runtime
