"""Merchants (Stripe App installs): add, list, show, change, disable, enable, remove, and the
encryption key's rotation. Called by `bridge merchants` and the Stripe App's backend (/apps/v1).

A merchant's mappings are checked exactly as `check-config` checks the file's (the same findings,
refused with `MappingRefused`, nothing stored); its credentials are sealed by the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.config import ConsentMode
from bridge.delivery.template_states import TemplateStates
from bridge.errors import ConfigError, Conflict, InvalidRequest, NotFound
from bridge.mappings.check import CheckReport, KnownTemplates, check_mappings
from bridge.merchants.records import Merchant, check_account
from bridge.merchants.runtime import SETTING_CONSENT_MODE, SETTING_MESSAGES_PER_SECOND, build_merchant_runtime, merchant_store
from bridge.merchants.sealing import CredentialsUnreadable
from bridge.merchants.store import UNSET, MerchantChanges, NoEncryptionKey, PhoneNumberTaken
from bridge.merchants.templates import load_merchant_snapshot
from bridge.runtime import Role, Runtime
from bridge.services.mappings import MappingRefused


def merchant_source(account: str) -> str:
    """Where findings about a merchant's mappings say they are."""
    return f"merchant {account}"


def check_merchant_mappings(rt: Runtime, account: str, tables: Sequence[Mapping[str, Any]]) -> CheckReport:
    """`check-config`'s findings about a merchant's `[[mappings]]` tables."""
    if not isinstance(tables, Sequence) or isinstance(tables, str) or not all(isinstance(t, Mapping) for t in tables):
        raise InvalidRequest("mappings: a list of tables shaped as the config's [[mappings]]")
    keys = rt.keys.for_account(_account(account))
    try:
        catalogue = load_merchant_snapshot(rt.redis, keys)
    except ConfigError as exc:
        raise Conflict("; ".join(str(p) for p in exc.problems)) from None
    known = KnownTemplates(
        catalogue,
        TemplateStates(rt.redis, keys=keys).all(),
        missing=f"template checks skipped: no templates snapshot for merchant {account} (`bridge templates pull --account {account}`)",
    )
    return check_mappings(rt.config, [dict(t) for t in tables], source=merchant_source(account), templates=known)


def _account(account: str) -> str:
    try:
        return check_account(account)
    except ValueError as exc:
        raise InvalidRequest(f"account: {exc}") from None


def list_merchants(rt: Runtime) -> list[Merchant]:
    return merchant_store(rt).list()


def get_merchant(rt: Runtime, account: str) -> Merchant:
    merchant = merchant_store(rt).get(_account(account))
    if merchant is None:
        raise NotFound(f"no merchant {account}: add it with `bridge merchants add`, or install the Stripe App on that account")
    return merchant


def add_merchant(
    rt: Runtime,
    account: str,
    *,
    phone_number_id: str,
    access_token: str,
    business_account_id: str | None = None,
    mappings: Sequence[Mapping[str, Any]] | None = None,
    source: str,
) -> Merchant:
    """A merchant configured in one go (`bridge merchants add`): refused whole if any part is
    wrong, so a refused add leaves no half-made merchant behind (the store would refuse a missing
    key or a taken number too, but only after the record was added)."""
    store = merchant_store(rt)
    if store.sealer is None:
        raise Conflict(str(NoEncryptionKey()))
    if not phone_number_id or not access_token:
        raise InvalidRequest("a merchant needs its phone number id and its access token")
    owner = store.account_for_phone(phone_number_id)
    if owner is not None and owner != account:
        raise Conflict(str(PhoneNumberTaken(phone_number_id, owner)))
    changes = MerchantChanges(
        phone_number_id=phone_number_id,
        access_token=access_token,
        business_account_id=business_account_id if business_account_id is not None else UNSET,
        mappings=list(mappings) if mappings is not None else UNSET,
    )
    return update_merchant(rt, account, changes, create_as=source)


def update_merchant(rt: Runtime, account: str, changes: MerchantChanges, *, create_as: str | None = None) -> Merchant:
    """Apply `changes` (mappings checked first: refused whole, nothing stored, on any problem).
    `create_as`: add the merchant first when there is none (the source it is recorded with)."""
    if changes.mappings is not UNSET:
        report = check_merchant_mappings(rt, account, changes.mappings or [])
        if report.problems:
            raise MappingRefused(report)
    store = merchant_store(rt)
    if create_as is not None:
        store.add(_account(account), source=create_as)
    try:
        merchant = store.update(_account(account), changes)
    except NoEncryptionKey as exc:
        raise Conflict(str(exc)) from None
    except PhoneNumberTaken as exc:
        raise Conflict(str(exc)) from None
    if merchant is None:
        raise NotFound(f"no merchant {account}")
    return merchant


def set_merchant_settings(
    rt: Runtime, account: str, *, consent_mode: str | None = None, messages_per_second: float | None = None
) -> Merchant:
    """Lay a consent mode or a send rate over the deployment's for one merchant (None: as it is)."""
    merchant = get_merchant(rt, account)
    settings = dict(merchant.settings)
    if consent_mode is not None:
        try:
            settings[SETTING_CONSENT_MODE] = ConsentMode(consent_mode).value
        except ValueError:
            raise InvalidRequest(f"consent mode: one of {', '.join(m.value for m in ConsentMode)}, not {consent_mode!r}") from None
    if messages_per_second is not None:
        if not 0 < messages_per_second <= MAX_MESSAGES_PER_SECOND:
            raise InvalidRequest(f"messages per second: more than 0, at most {MAX_MESSAGES_PER_SECOND:g} (Meta's highest throughput)")
        settings[SETTING_MESSAGES_PER_SECOND] = messages_per_second
    return update_merchant(rt, account, MerchantChanges(settings=settings))


MAX_MESSAGES_PER_SECOND = 1000.0


def disable_merchant(rt: Runtime, account: str, *, reason: str = "disabled by the operator", erase_credentials: bool = False) -> Merchant:
    merchant = merchant_store(rt).disable(_account(account), reason=reason, erase_credentials=erase_credentials)
    if merchant is None:
        raise NotFound(f"no merchant {account}")
    return merchant


def enable_merchant(rt: Runtime, account: str) -> Merchant:
    merchant = merchant_store(rt).enable(_account(account))
    if merchant is None:
        raise NotFound(f"no merchant {account}")
    return merchant


def remove_merchant(rt: Runtime, account: str) -> None:
    if not merchant_store(rt).remove(_account(account)):
        raise NotFound(f"no merchant {account}")


def merchant_runtime(rt: Runtime, merchant: Merchant) -> Runtime:
    """`merchant`'s own Runtime (its number, token, mappings, keys), sharing `rt`'s Redis; the
    deliveries, previews and test sends of the service layer then act for that merchant alone."""
    store = merchant_store(rt)
    try:
        credentials = store.credentials(merchant.account) if merchant.has_access_token else None
    except CredentialsUnreadable as exc:
        raise Conflict(f"{exc}: enter the access token again") from None
    try:
        return build_merchant_runtime(rt, merchant, credentials, role=Role.CLI)
    except ConfigError as exc:
        raise Conflict("; ".join(str(p) for p in exc.problems)) from None


def rotate_key(rt: Runtime) -> int:
    """Reseal every stored credential under the newest key of BRIDGE_ENCRYPTION_KEY; how many."""
    store = merchant_store(rt)
    if store.sealer is None:
        raise Conflict(str(NoEncryptionKey()))
    return store.reseal_all()
