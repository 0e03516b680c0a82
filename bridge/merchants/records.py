"""A merchant as the bridge keeps it: one Stripe account that installed the app. Pure.

What may be shown (status, ids, mappings, settings) is `Merchant`; the credentials are never
part of it: `has_access_token` says whether one is set, and `MerchantStore.credentials` opens
them only for the process that sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")


class MerchantStatus(StrEnum):
    PENDING = "pending"
    """Installed (or added), not configured yet: its events are ignored until it has a number and a token."""
    ACTIVE = "active"
    DISABLED = "disabled"
    """Uninstalled, or disabled by the operator: its events are ignored, its credentials erased on uninstall."""


class MerchantField(StrEnum):
    """The fields of the merchant hash."""

    STATUS = "status"
    PHONE_NUMBER_ID = "phone_number_id"
    BUSINESS_ACCOUNT_ID = "business_account_id"
    ACCESS_TOKEN = "access_token"
    """Sealed (bridge.merchants.sealing); never in a `Merchant`."""
    APP_SECRET = "app_secret"
    """Sealed; the merchant's own Meta app, when it has one."""
    MAPPINGS = "mappings"
    """JSON: a list of `[[mappings]]` tables."""
    SETTINGS = "settings"
    """JSON: per-merchant settings laid over the file's (consent mode, messages_per_second, ...)."""
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    DISABLED_REASON = "disabled_reason"
    SOURCE = "source"
    """Who added it: the install event, `bridge merchants add`, ..."""
    INSTALL_EVENT_AT = "install_event_at"
    """`created` of the latest install or uninstall event applied: an older one, retried late by
    Stripe, must not undo a newer one (`MerchantStore.apply_install`)."""


SEALED = frozenset({MerchantField.ACCESS_TOKEN, MerchantField.APP_SECRET})


@dataclass(frozen=True)
class Merchant:
    account: str
    status: MerchantStatus
    phone_number_id: str = ""
    business_account_id: str = ""
    has_access_token: bool = False
    has_app_secret: bool = False
    mappings: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    disabled_reason: str = ""
    source: str = ""

    @property
    def configured(self) -> bool:
        """Enough to send: a sending number and a token."""
        return bool(self.phone_number_id and self.has_access_token)


@dataclass(frozen=True)
class MerchantCredentials:
    """Opened credentials: held in memory by the process that uses them, never stored or shown."""

    access_token: str
    app_secret: str = ""

    def __repr__(self) -> str:  # never in a log line or a traceback's locals
        return "MerchantCredentials(<hidden>)"


def check_account(account: str) -> str:
    """`account` if it is a Stripe account id, else ValueError."""
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        raise ValueError(f"not a Stripe account id (acct_...): {account!r}"[:120])
    return account


def decode_merchant(account: str, raw: Mapping[bytes, bytes]) -> Merchant:
    """The merchant hash as a `Merchant` (credentials reduced to whether they are set)."""
    values = {key.decode(): value.decode() for key, value in raw.items()}
    return Merchant(
        account=account,
        status=MerchantStatus(values.get(MerchantField.STATUS, MerchantStatus.PENDING)),
        phone_number_id=values.get(MerchantField.PHONE_NUMBER_ID, ""),
        business_account_id=values.get(MerchantField.BUSINESS_ACCOUNT_ID, ""),
        has_access_token=bool(values.get(MerchantField.ACCESS_TOKEN)),
        has_app_secret=bool(values.get(MerchantField.APP_SECRET)),
        mappings=json.loads(values.get(MerchantField.MAPPINGS) or "[]"),
        settings=json.loads(values.get(MerchantField.SETTINGS) or "{}"),
        created_at=float(values.get(MerchantField.CREATED_AT) or 0),
        updated_at=float(values.get(MerchantField.UPDATED_AT) or 0),
        disabled_reason=values.get(MerchantField.DISABLED_REASON, ""),
        source=values.get(MerchantField.SOURCE, ""),
    )
