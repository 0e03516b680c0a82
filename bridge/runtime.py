"""The objects a bridge process shares: built once per process by `build_runtime`.

The web app, the worker and the CLI build the same Runtime from the same Config, so config is
parsed, mappings compiled, and Redis and HTTP clients created once per process, never per
request or job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

from redis import Redis
from rq import Queue

from bridge import defaults
from bridge.config import Config, ConsentMode, load_config
from bridge.consent.policy import ConsentPolicy, compile_policy
from bridge.delivery.gate import Gate
from bridge.delivery.optouts import OptOuts
from bridge.delivery.queueing import DeliveryJobs, delivery_jobs
from bridge.delivery.store import Store
from bridge.delivery.template_states import TemplateStates
from bridge.errors import ConfigError
from bridge.keys import Keys
from bridge.mappings.compile import CompiledMapping, compile_mappings
from bridge.mappings.live import LiveMappings
from bridge.mappings.saved import SavedMappings
from bridge.redis_conn import connect, unavailable_on_redis_error
from bridge.stripe_events.customers import CustomerLookup
from bridge.whatsapp.catalogue import Catalogue, load_snapshot
from bridge.whatsapp.client import WhatsAppClient

logger = logging.getLogger(__name__)


class Role(StrEnum):
    """What a process does decides what it opens: only the worker talks to Meta and Stripe."""

    WEB = "web"
    WORKER = "worker"
    CLI = "cli"


@dataclass
class Runtime:
    config: Config
    redis: Redis
    keys: Keys
    store: Store
    queue: Queue
    live_mappings: LiveMappings
    """The file's mappings with the saved ones laid over (`mappings`, `by_event_type`)."""
    whatsapp: WhatsAppClient | None
    """None in dry run, and outside the worker."""
    customers: CustomerLookup | None
    gate: Gate
    optouts: OptOuts
    templates: TemplateStates
    """Templates as Meta's webhook last reported them (paused, re-categorized, ...)."""
    consent: ConsentPolicy = field(default_factory=lambda: ConsentPolicy(ConsentMode.OPT_OUT))
    catalogue: Catalogue | None = None
    """The templates snapshot, when there is one: the languages each template has, and its own text."""
    clock: Callable[[], float] = field(default=time.time)

    _jobs: DeliveryJobs | None = None

    @property
    def jobs(self) -> DeliveryJobs:
        """How a delivery job is written (learned from RQ once per process, on first use)."""
        if self._jobs is None:
            with unavailable_on_redis_error("learning how RQ writes a job"):  # RQ asks Redis its version once
                self._jobs = delivery_jobs(self.queue, self.config.delivery)
        return self._jobs

    @property
    def mappings(self) -> dict[str, CompiledMapping]:
        """Every mapping in use by name: the file's, with the saved ones laid over (re-read at most once a second)."""
        return self.live_mappings.current().mappings

    @property
    def by_event_type(self) -> dict[str, tuple[CompiledMapping, ...]]:
        """The mappings in use for each Stripe event type."""
        return self.live_mappings.current().by_event_type

    @property
    def phone_number_id(self) -> str:
        return self.config.whatsapp.phone_number_id

    @property
    def pause_key(self) -> str:
        return self.keys.paused(self.phone_number_id)

    def close(self) -> None:
        if self.whatsapp is not None:
            self.whatsapp.close()
        self.redis.close()


def build_runtime(
    config: Config,
    *,
    redis: Redis | None = None,
    role: Role = Role.WEB,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    account: str | None = None,
) -> Runtime:
    """Compile mappings and open connections for one process (`monotonic` paces re-reading the saved
    mappings); `account` puts every key under that merchant's (bridge.merchants.runtime)."""
    role = Role(role)
    mappings = compile_mappings(config)
    if redis is None:
        # The worker blocks on Redis for jobs, so only the web side gets a short socket timeout.
        timeout = defaults.REDIS_SOCKET_TIMEOUT_SECONDS if role is Role.WEB else None
        redis = connect(config.redis.url, socket_timeout=timeout)
    keys = Keys(config.redis.key_prefix, account)
    optouts = OptOuts(redis, keys=keys, link_ttl=config.delivery_ttl_seconds)
    worker = role is Role.WORKER
    whatsapp = config.whatsapp
    return Runtime(
        config=config,
        redis=redis,
        keys=keys,
        store=Store(
            redis,
            keys=keys,
            event_ttl=config.redis.event_ttl_seconds,
            delivery_ttl=config.delivery_ttl_seconds,
            outbox_max=defaults.OUTBOX_MAX,
        ),
        queue=Queue(config.redis.queue, connection=redis, default_timeout=config.delivery.job_timeout_seconds),
        live_mappings=LiveMappings(config, mappings, SavedMappings(redis, keys=keys), monotonic=monotonic),
        whatsapp=WhatsAppClient(whatsapp) if worker and not whatsapp.dry_run else None,
        customers=CustomerLookup(config.stripe.api_key, api_base_url=config.stripe.api_base_url)
        if worker and config.stripe.api_key
        else None,
        gate=Gate(
            redis,
            keys=keys,
            optouts=optouts,
            phone_number_id=whatsapp.phone_number_id,
            messages_per_second=whatsapp.messages_per_second,
            pair_interval=whatsapp.pair_interval_seconds,
        ),
        optouts=optouts,
        templates=TemplateStates(redis, keys=keys),
        consent=compile_policy(config),
        catalogue=_catalogue(config) if role is not Role.WEB else None,
        clock=clock,
    )


def _catalogue(config: Config) -> Catalogue | None:
    """The snapshot, or None; an unreadable one is logged, not fatal: the worker keeps sending
    (with Meta's whole limits and the default language) while check-config names the problem."""
    try:
        return load_snapshot(config.whatsapp.templates_file)
    except ConfigError as exc:
        logger.warning("templates snapshot not used: %s", exc)
        return None


# The worker process's Runtime: RQ calls job functions by name, so they find it here.
_process_runtime: Runtime | None = None
_process_lock = threading.Lock()
_job_runtime: ContextVar[Runtime | None] = ContextVar("job_runtime", default=None)
"""The Runtime of the merchant whose job runs now (the worker sets it from the job's queue)."""
_inline_wait: ContextVar[float] = ContextVar("inline_wait", default=defaults.INLINE_WAIT_MAX_SECONDS)


def install_process_runtime(runtime: Runtime | None) -> None:
    """Use `runtime` for every job this process runs (`bridge worker` and the tests call this)."""
    global _process_runtime
    _process_runtime = runtime


@contextmanager
def running_for(runtime: Runtime, *, inline_wait: float = defaults.INLINE_WAIT_MAX_SECONDS) -> Iterator[None]:
    """Run the jobs inside with `runtime` as theirs (the merchant whose queue they came from),
    sleeping at most `inline_wait` for a rate limit before rescheduling instead."""
    token, wait_token = _job_runtime.set(runtime), _inline_wait.set(inline_wait)
    try:
        yield
    finally:
        _job_runtime.reset(token)
        _inline_wait.reset(wait_token)


def inline_wait_max() -> float:
    """How long the running job may sleep for a rate-limit slot (longer: rescheduled). A worker
    serving several merchants keeps it short: its sleep would hold up every other merchant."""
    return _inline_wait.get()


def process_runtime() -> Runtime:
    """The Runtime of the job running now: its merchant's (`running_for`), else the process's,
    built from the environment's config the first time if none was installed."""
    current = _job_runtime.get()
    if current is not None:
        return current
    global _process_runtime
    if _process_runtime is None:
        with _process_lock:
            if _process_runtime is None:
                _process_runtime = build_runtime(load_config(), role=Role.WORKER)
    return _process_runtime
