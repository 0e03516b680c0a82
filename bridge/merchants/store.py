"""Merchants in Redis: one hash per merchant under its account's hash tag, credentials sealed.

    bridge:{acct_…}:merchant      hash (bridge.merchants.records.MerchantField)
    bridge:merchants              sorted set of account ids, by when they were added
    bridge:merchants-version      bumped by every change: processes reload their merchants
    bridge:merchant-phone:{id}    the account a WhatsApp phone number id belongs to

A change that touches several keys (a new sending number and its index entry) is one MULTI,
under WATCH where it must not race another change. Credentials are sealed before they leave this
module and opened only by `credentials`; without `BRIDGE_ENCRYPTION_KEY` none can be stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bridge.errors import BridgeError
from bridge.keys import Keys
from bridge.merchants.records import (
    SEALED,
    Merchant,
    MerchantCredentials,
    MerchantField,
    MerchantStatus,
    check_account,
    decode_merchant,
)
from bridge.merchants.sealing import SETTING, Sealer
from bridge.redis_conn import translates_redis_errors

UNSET: Any = object()
"""A change's field left as it is (None would be ambiguous with "erase")."""


class NoEncryptionKey(BridgeError):
    """A credential was to be stored, and no key seals it."""

    def __init__(self) -> None:
        super().__init__(f"merchants' credentials are stored encrypted: set {SETTING} (`bridge merchants new-key` makes one)")


class PhoneNumberTaken(BridgeError):
    """Another merchant already sends from that WhatsApp phone number id."""

    def __init__(self, phone_number_id: str, owner: str):
        super().__init__(f"phone number id {phone_number_id} already belongs to {owner}")
        self.owner = owner


@dataclass(frozen=True)
class MerchantChanges:
    """What to change; UNSET fields stay, "" erases a text field."""

    phone_number_id: Any = UNSET
    business_account_id: Any = UNSET
    access_token: Any = UNSET
    app_secret: Any = UNSET
    mappings: Any = UNSET
    settings: Any = UNSET


class MerchantStore:
    def __init__(self, redis: Redis, *, keys: Keys, sealer: Sealer | None, clock: Callable[[], float] = time.time):
        self.redis = redis
        self.keys = keys.for_account(None)
        self.sealer = sealer
        self.clock = clock

    def _key(self, account: str) -> str:
        return self.keys.for_account(check_account(account)).merchant

    @property
    def _index(self) -> str:
        return self.keys.global_key("merchants")

    @property
    def _version(self) -> str:
        return self.keys.global_key("merchants_version")

    def _phone_key(self, phone_number_id: str) -> str:
        return self.keys.global_key("merchant_phone", phone_number_id)

    # -- reading ---------------------------------------------------------------------------

    @translates_redis_errors
    def get(self, account: str) -> Merchant | None:
        raw = self.redis.hgetall(self._key(account))
        return decode_merchant(account, raw) if raw else None

    @translates_redis_errors
    def list(self) -> list[Merchant]:
        accounts = [a.decode() for a in self.redis.zrange(self._index, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for account in accounts:
            pipe.hgetall(self._key(account))
        return [decode_merchant(a, raw) for a, raw in zip(accounts, pipe.execute(), strict=True) if raw]

    @translates_redis_errors
    def version(self) -> int:
        return int(self.redis.get(self._version) or 0)

    @translates_redis_errors
    def account_for_phone(self, phone_number_id: str) -> str | None:
        found = self.redis.get(self._phone_key(phone_number_id))
        return found.decode() if found else None

    @translates_redis_errors
    def credentials(self, account: str) -> MerchantCredentials | None:
        """The merchant's opened credentials, None without a token (CredentialsUnreadable if no key opens it)."""
        token, secret = self.redis.hmget(self._key(account), [MerchantField.ACCESS_TOKEN, MerchantField.APP_SECRET])
        if not token:
            return None
        sealer = self._sealer()
        return MerchantCredentials(sealer.open(token.decode()), sealer.open(secret.decode()) if secret else "")

    # -- changing ------------------------------------------------------------------------------

    @translates_redis_errors
    def add(self, account: str, *, source: str) -> tuple[Merchant, bool]:
        """A pending merchant for a new install (True), or the existing one, enabled again if it was disabled."""
        created = self._create(account, source=source)
        if not created:
            merchant = self.get(account)
            if merchant is not None and merchant.status is MerchantStatus.DISABLED:
                self._set_status(account, enabled=True, reason="")
        merchant = self.get(account)
        assert merchant is not None
        return merchant, created

    @translates_redis_errors
    def _create(self, account: str, *, source: str) -> bool:
        """The merchant's record, pending, unless it has one (False)."""
        key, now = self._key(account), self.clock()
        if not self.redis.hsetnx(key, MerchantField.CREATED_AT, repr(now)):
            return False
        pipe = self.redis.pipeline()
        pipe.hset(
            key,
            mapping={MerchantField.STATUS: MerchantStatus.PENDING, MerchantField.UPDATED_AT: repr(now), MerchantField.SOURCE: source},
        )
        pipe.zadd(self._index, {account: now}, nx=True)
        pipe.incr(self._version)
        pipe.execute()
        return True

    def update(self, account: str, changes: MerchantChanges) -> Merchant | None:
        """Apply `changes` (None: no such merchant); the status follows: active once it has a number and a token."""
        values: dict[str, str] = {}
        erased: list[str] = []
        for name in (
            MerchantField.PHONE_NUMBER_ID,
            MerchantField.BUSINESS_ACCOUNT_ID,
            MerchantField.ACCESS_TOKEN,
            MerchantField.APP_SECRET,
        ):
            value = getattr(changes, name.value)
            if value is UNSET:
                continue
            if value in ("", None):
                erased.append(name)
            else:
                values[name] = self._sealer().seal(str(value)) if name in SEALED else str(value)
        if changes.mappings is not UNSET:
            values[MerchantField.MAPPINGS] = json.dumps(list(changes.mappings or []), separators=(",", ":"))
        if changes.settings is not UNSET:
            values[MerchantField.SETTINGS] = json.dumps(dict(changes.settings or {}), separators=(",", ":"))
        return self._write(account, values, erased)

    @translates_redis_errors
    def _write(self, account: str, values: Mapping[str, str], erased: list[str]) -> Merchant | None:
        key = self._key(account)
        new_phone = values.get(MerchantField.PHONE_NUMBER_ID)
        watched = [key, *([self._phone_key(new_phone)] if new_phone else [])]

        def change(pipe: Pipeline) -> bool:
            """Under WATCH (redis-py's `transaction` runs it again if a watched key changed meanwhile)."""
            if not pipe.exists(key):
                return False
            old_phone = (pipe.hget(key, MerchantField.PHONE_NUMBER_ID) or b"").decode()
            if new_phone and new_phone != old_phone:
                owner = pipe.get(self._phone_key(new_phone))
                if owner and owner.decode() != account:
                    raise PhoneNumberTaken(new_phone, owner.decode())
            pipe.multi()
            if values:
                pipe.hset(key, mapping=dict(values))
            if erased:
                pipe.hdel(key, *erased)
            phone_changed = (new_phone and new_phone != old_phone) or MerchantField.PHONE_NUMBER_ID in erased
            if old_phone and phone_changed:
                pipe.delete(self._phone_key(old_phone))
            if new_phone:
                pipe.set(self._phone_key(new_phone), account)
            pipe.hset(key, MerchantField.UPDATED_AT, repr(self.clock()))
            pipe.incr(self._version)
            return True

        if not self.redis.transaction(change, *watched, value_from_callable=True):
            return None
        self._settle_status(account)
        return self.get(account)

    @translates_redis_errors
    def touch(self, account: str) -> None:
        """Something kept beside the record changed (its templates snapshot): processes rebuild the merchant."""
        pipe = self.redis.pipeline()
        pipe.hset(self._key(account), MerchantField.UPDATED_AT, repr(self.clock()))
        pipe.incr(self._version)
        pipe.execute()

    def disable(self, account: str, *, reason: str, erase_credentials: bool) -> Merchant | None:
        """Disable (its events are ignored from now on); on uninstall its credentials are erased too."""
        if self.get(account) is None:
            return None
        if erase_credentials:
            self._write(account, {}, [MerchantField.ACCESS_TOKEN, MerchantField.APP_SECRET])
        self._set_status(account, enabled=False, reason=reason)
        return self.get(account)

    def enable(self, account: str) -> Merchant | None:
        if self.get(account) is None:
            return None
        self._set_status(account, enabled=True, reason="")
        return self.get(account)

    @translates_redis_errors
    def remove(self, account: str) -> bool:
        """Forget the merchant and everything kept under its account (its deliveries too)."""
        merchant = self.get(account)
        if merchant is None:
            return False
        base = self.keys.for_account(account).base
        pipe = self.redis.pipeline()
        for found in self.redis.scan_iter(match=f"{_glob_escape(base)}:*", count=1000):
            pipe.delete(found)
        if merchant.phone_number_id and self.account_for_phone(merchant.phone_number_id) == account:
            pipe.delete(self._phone_key(merchant.phone_number_id))
        pipe.zrem(self._index, account)
        pipe.incr(self._version)
        pipe.execute()
        return True

    def apply_install(self, account: str, *, installed: bool, at: int, source: str) -> bool:
        """An install (pending merchant, or a disabled one enabled again) or an uninstall (disabled,
        credentials erased) announced by a Stripe event created at `at`; False when a newer one was
        applied already (Stripe retries for days, in any order). An uninstall of a merchant never
        seen is recorded too, disabled, so a late retry of its install is known to be older."""
        if not self._newer_install_event(account, at):
            return False
        if installed:
            self.add(account, source=source)
        else:
            self._create(account, source=source)
            self.disable(account, reason=source, erase_credentials=True)
        return True

    @translates_redis_errors
    def _newer_install_event(self, account: str, at: int) -> bool:
        key = self._key(account)

        def claim(pipe: Pipeline) -> bool:
            seen = pipe.hget(key, MerchantField.INSTALL_EVENT_AT)
            if seen is not None and int(seen) > at:
                return False
            pipe.multi()
            pipe.hset(key, MerchantField.INSTALL_EVENT_AT, str(at))
            return True

        return bool(self.redis.transaction(claim, key, value_from_callable=True))

    @translates_redis_errors
    def reseal_all(self) -> int:
        """Every stored credential sealed again under the newest key (after a key rotation)."""
        sealer, count = self._sealer(), 0
        for merchant in self.list():
            key = self._key(merchant.account)
            stored = self.redis.hmget(key, list(SEALED))
            resealed = {name: sealer.reseal(value.decode()) for name, value in zip(SEALED, stored, strict=True) if value}
            if resealed:
                self.redis.hset(key, mapping=resealed)
                count += len(resealed)
        return count

    # -- helpers ---------------------------------------------------------------------------------

    def _sealer(self) -> Sealer:
        if self.sealer is None:
            raise NoEncryptionKey()
        return self.sealer

    @translates_redis_errors
    def _set_status(self, account: str, *, enabled: bool, reason: str) -> None:
        key = self._key(account)
        pipe = self.redis.pipeline()
        if enabled:
            pipe.hset(key, MerchantField.STATUS, MerchantStatus.PENDING)
            pipe.hdel(key, MerchantField.DISABLED_REASON)
        else:
            pipe.hset(key, mapping={MerchantField.STATUS: MerchantStatus.DISABLED, MerchantField.DISABLED_REASON: reason})
        pipe.hset(key, MerchantField.UPDATED_AT, repr(self.clock()))
        pipe.incr(self._version)
        pipe.execute()
        if enabled:
            self._settle_status(account)

    @translates_redis_errors
    def _settle_status(self, account: str) -> None:
        """Pending ⇄ active by whether it can send; a disabled merchant stays disabled."""
        merchant = self.get(account)
        if merchant is None or merchant.status is MerchantStatus.DISABLED:
            return
        wanted = MerchantStatus.ACTIVE if merchant.configured else MerchantStatus.PENDING
        if merchant.status is not wanted:
            pipe = self.redis.pipeline()
            pipe.hset(self._key(account), MerchantField.STATUS, wanted)
            pipe.incr(self._version)
            pipe.execute()


def _glob_escape(text: str) -> str:
    """`text` as a literal in a SCAN MATCH pattern: [ ] * ? and backslash are glob characters (braces are not)."""
    return "".join(f"\\{c}" if c in "[]*?\\" else c for c in text)
