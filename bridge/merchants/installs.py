"""Installs and uninstalls of the Stripe App, as Stripe announces them on the webhook.

`account.application.authorized` / `apps.install.created` make the account a pending merchant
(configured later from the app's settings view or `bridge merchants`); `account.application.
deauthorized` / `apps.install.deleted` disable it and erase its credentials. The event's `account`
is the merchant. Stripe retries for days in any order, so each is applied only if no newer one was
(`MerchantStore.apply_install`, by the event's `created`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bridge.merchants.records import ACCOUNT_ID
from bridge.merchants.store import MerchantStore

INSTALLED = frozenset({"account.application.authorized", "apps.install.created"})
UNINSTALLED = frozenset({"account.application.deauthorized", "apps.install.deleted"})
INSTALL_EVENTS = INSTALLED | UNINSTALLED


class InstallOutcome(StrEnum):
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"
    STALE = "stale"
    """Older than the install or uninstall already applied: a late retry, ignored."""
    NO_ACCOUNT = "no account"
    """Sent to an account endpoint, not a Connect one: there is no merchant to name."""


def install_account(event: dict[str, Any]) -> str | None:
    """The installing account: the event's `account`, else (Install API objects) the object's."""
    account = event.get("account")
    if not account:
        obj = event.get("data", {}).get("object", {})
        account = obj.get("account") if isinstance(obj, dict) else None
    return account if isinstance(account, str) and ACCOUNT_ID.match(account) else None


def apply_install_event(store: MerchantStore, event: dict[str, Any]) -> InstallOutcome:
    """Apply one verified install or uninstall event to the merchants."""
    account = install_account(event)
    if account is None:
        return InstallOutcome.NO_ACCOUNT
    installed = event["type"] in INSTALLED
    source = f"{'installed' if installed else 'uninstalled'} ({event['id']})"
    if not store.apply_install(account, installed=installed, at=int(event.get("created") or 0), source=source):
        return InstallOutcome.STALE
    return InstallOutcome.INSTALLED if installed else InstallOutcome.UNINSTALLED
