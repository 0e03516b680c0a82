"""The merchants a process serves, each as its own Runtime, kept current from Redis.

The web process asks it which Runtime an event's `account` selects; the worker asks it which
queues to listen on and which Runtime a dequeued job belongs to (a job's merchant is the queue it
was put on). Runtimes are built once per merchant and kept: a webhook or a job never builds one.

The registry re-reads `merchants-version` at most once per `defaults.MERCHANTS_REFRESH_SECONDS`
(monotonic clock), so an install, a settings save or an uninstall reaches every process within
about a second while the webhook pays at most one GET a second, and only for events that carry
an account. On a change it reads the merchant list (one pipeline) and rebuilds only the merchants
whose record changed.

Only active merchants are served: their events queued, their queues worked. The web side also
keeps a Runtime for pending and disabled merchants, so that what Meta reports for their numbers (a
customer's STOP) is stored under their keys and processed once they are served again, never
dropped. One whose Runtime cannot be built (its stored mappings no longer
compile after an upgrade; in the worker, its token does not open under BRIDGE_ENCRYPTION_KEY, or
that key is not set) is kept as *broken*: the web answers its events 503 so Stripe keeps them
until the operator fixes it, and the worker leaves its queue alone, so its queued messages wait
instead of being lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rq import Queue

from bridge import defaults
from bridge.errors import ConfigError, StoreUnavailable
from bridge.merchants.records import Merchant, MerchantStatus
from bridge.merchants.runtime import build_merchant_runtime, merchant_store
from bridge.merchants.sealing import CredentialsUnreadable
from bridge.merchants.store import NoEncryptionKey
from bridge.runtime import Role, Runtime

logger = logging.getLogger(__name__)


class Route(StrEnum):
    """What an account's events come to."""

    SERVED = "served"
    UNKNOWN = "unknown"
    """No merchant has that account: never installed, or removed."""
    PENDING = "pending"
    """Installed, not configured yet (no number or no token)."""
    DISABLED = "disabled"
    """Uninstalled, or disabled by the operator."""
    BROKEN = "broken"
    """Active, but its Runtime cannot be built (logged): retried, never dropped."""


@dataclass(frozen=True)
class Routed:
    route: Route
    runtime: Runtime | None = None


@dataclass
class _Served:
    merchant: Merchant
    runtime: Runtime | None
    """None when broken."""


class MerchantRegistry:
    def __init__(self, base: Runtime, *, role: Role, monotonic: Callable[[], float] = time.monotonic):
        self.base = base
        self.role = Role(role)
        self.store = merchant_store(base)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._version = -1
        self._next_check = -1.0
        self._merchants: dict[str, Merchant] = {}
        self._served: dict[str, _Served] = {}
        self._by_queue: dict[str, Runtime] = {}
        self._by_phone: dict[str, str] = {}
        self._by_business: dict[str, str] = {}

    # -- asking ----------------------------------------------------------------------------------

    def route(self, account: str | None) -> Routed:
        """The Runtime `account`'s events go to (no account: the config file's merchant). A pending
        or disabled merchant is not served, but the web side still has its Runtime: what Meta
        reports for it (a customer's STOP above all) is kept under its keys until it is served."""
        if not account:
            return Routed(Route.SERVED, self.base)
        self.refresh()
        merchant = self._merchants.get(account)
        if merchant is None:
            return Routed(Route.UNKNOWN)
        served = self._served.get(account)
        runtime = served.runtime if served is not None else None
        if merchant.status is MerchantStatus.ACTIVE:
            return Routed(Route.SERVED, runtime) if runtime is not None else Routed(Route.BROKEN)
        return Routed(Route.DISABLED if merchant.status is MerchantStatus.DISABLED else Route.PENDING, runtime)

    @property
    def has_merchants(self) -> bool:
        return bool(self._merchants)

    def account_for_phone(self, phone_number_id: str) -> str | None:
        """The merchant sending from that number (None: none does; the file's merchant takes it)."""
        return self._by_phone.get(phone_number_id)

    def account_for_business(self, business_account_id: str) -> str | None:
        """The merchant whose WhatsApp Business Account that is."""
        return self._by_business.get(business_account_id)

    def for_queue(self, name: str) -> Runtime | None:
        """The Runtime whose queue is `name` (the worker's jobs), None when no served merchant has it."""
        if name == self.base.queue.name:
            return self.base
        return self._by_queue.get(name)

    def queues(self) -> list[Queue]:
        """The queues to work: the file's merchant's, then each served merchant's, by account."""
        return [rt.queue for rt in self.runtimes()]

    def runtimes(self) -> list[Runtime]:
        """The file's merchant first, then every served (active) merchant, by account."""
        self.refresh()
        return [self.base, *(rt for _, rt in sorted(self._by_queue.items(), key=lambda item: item[1].keys.account or ""))]

    # -- keeping current -------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Reload when the merchants changed (checked at most once a second); True if anything did.
        Redis being away keeps the merchants as they were: the caller's own Redis step will fail
        and answer for it."""
        now = self._monotonic()
        if not force and now < self._next_check:
            return False
        with self._lock:
            if not force and now < self._next_check:
                return False
            self._next_check = now + defaults.MERCHANTS_REFRESH_SECONDS
            try:
                version = self.store.version()
                if version == self._version and not force:
                    return False
                self._apply({m.account: m for m in self.store.list()})
            except StoreUnavailable as exc:  # nothing changed: `_apply` swaps its tables in at the end
                logger.debug("merchants not reloaded: %s", exc)
                return False
            self._version = version
            return True

    def _apply(self, merchants: dict[str, Merchant]) -> None:
        served: dict[str, _Served] = {}
        for account, merchant in merchants.items():
            if merchant.status is not MerchantStatus.ACTIVE and self.role is not Role.WEB:
                continue  # the worker sends for active merchants only; the web keeps every merchant's posts
            kept = self._served.get(account)
            if kept is not None and kept.merchant == merchant:
                served[account] = kept
                continue
            served[account] = _Served(merchant, self._build(merchant))
        for account, old in self._served.items():
            if served.get(account) is not old and old.runtime is not None:
                _retire(old.runtime)
        self._merchants = merchants
        self._served = served
        self._by_queue = {
            s.runtime.queue.name: s.runtime for s in served.values() if s.runtime is not None and s.merchant.status is MerchantStatus.ACTIVE
        }
        self._by_phone = {m.phone_number_id: m.account for m in merchants.values() if m.phone_number_id}
        self._by_business = {m.business_account_id: m.account for m in merchants.values() if m.business_account_id}

    def _build(self, merchant: Merchant) -> Runtime | None:
        try:
            # Only the worker sends: the web side never opens a token.
            credentials = self.store.credentials(merchant.account) if self.role is Role.WORKER else None
            if self.role is Role.WORKER and credentials is None:
                raise CredentialsUnreadable("its access token was erased")
            return build_merchant_runtime(self.base, merchant, credentials, role=self.role)
        except (ConfigError, CredentialsUnreadable, NoEncryptionKey) as exc:
            logger.error("merchant %s not served until fixed: %s", merchant.account, exc)
            return None

    def close(self) -> None:
        for served in self._served.values():
            if served.runtime is not None:
                _retire(served.runtime)
        self._served = {}


def _retire(runtime: Runtime) -> None:
    """Close what a merchant's Runtime owns: its HTTP client (the Redis connection is the base's)."""
    if runtime.whatsapp is not None:
        runtime.whatsapp.close()
