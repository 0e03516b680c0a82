"""A merchant's Runtime: the deployment's config with the merchant's WhatsApp number, credentials
and mappings laid over it, every key under the merchant's account (`Keys(prefix, account)`).

Everything that works for the file's merchant (the store, the gate and its rate limits, pauses,
opt-outs, the service layer) then works for an install unchanged, and keeps to its own keys:
one merchant's pause, limiter or data is never another's.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bridge.config import Config, ConsentMode, validate_config
from bridge.errors import ConfigError
from bridge.merchants.records import Merchant, MerchantCredentials
from bridge.merchants.sealing import Sealer
from bridge.merchants.store import MerchantStore
from bridge.merchants.templates import load_merchant_snapshot
from bridge.runtime import Role, Runtime, build_runtime

logger = logging.getLogger(__name__)


def merchant_config(base: Config, merchant: Merchant, credentials: MerchantCredentials | None) -> Config:
    """`base` as `merchant` sends: its number and token (none: dry run), its mappings, its rate and
    consent mode (`bridge merchants set`), and nothing of the file's merchant's own: no templates
    file (that snapshot is another business account's), no `opt_in_when` (an expression about
    another business's events), no forward_url (another business's helpdesk must never receive
    this merchant's customers' messages)."""
    reading = validate_config({"mappings": merchant.mappings}, source=f"merchant {merchant.account}", env={})
    if reading.problems:  # stored mappings were checked when saved; an upgrade may still break one
        raise ConfigError(list(reading.problems))
    whatsapp = replace(
        base.whatsapp,
        phone_number_id=merchant.phone_number_id,
        business_account_id=merchant.business_account_id,
        access_token=credentials.access_token if credentials else "",
        app_secret=(credentials.app_secret if credentials and credentials.app_secret else base.whatsapp.app_secret),
        templates_file="",
        messages_per_second=float(merchant.settings.get(SETTING_MESSAGES_PER_SECOND, base.whatsapp.messages_per_second)),
    )
    consent = replace(
        base.consent,
        mode=ConsentMode(merchant.settings.get(SETTING_CONSENT_MODE, base.consent.mode)),
        opt_in_when=None,
        forward_url=None,
        forward_secret=None,
    )
    redis = replace(base.redis, queue=merchant_queue(base.redis.queue, merchant.account))
    return replace(
        base, whatsapp=whatsapp, consent=consent, redis=redis, mappings=reading.config.mappings, source=f"merchant {merchant.account}"
    )


SETTING_CONSENT_MODE = "consent_mode"
SETTING_MESSAGES_PER_SECOND = "messages_per_second"
"""The merchant settings (`Merchant.settings`) laid over the deployment's."""


def merchant_queue(queue: str, account: str) -> str:
    """The merchant's own RQ queue: `{queue}:{acct_…}` (`bridge:{acct_…}` by default). Its own, so the worker can take
    merchants in turn (one merchant's backlog never stands in front of another's messages); its
    account in a hash tag, as in every key of the merchant's (RQ's own keys then share a slot)."""
    return f"{queue}:{{{account}}}"


def merchant_store(base: Runtime) -> MerchantStore:
    """The deployment's merchant records, sealed with BRIDGE_ENCRYPTION_KEY when it is set."""
    key = base.config.merchants.encryption_key
    return MerchantStore(base.redis, keys=base.keys, sealer=Sealer.from_setting(key) if key else None, clock=base.clock)


def build_merchant_runtime(base: Runtime, merchant: Merchant, credentials: MerchantCredentials | None, *, role: Role) -> Runtime:
    """A Runtime for `merchant` sharing `base`'s Redis connection, with its templates snapshot
    (outside the web process, as for the file's merchant)."""
    rt = build_runtime(
        merchant_config(base.config, merchant, credentials), redis=base.redis, role=role, account=merchant.account, clock=base.clock
    )
    if role is not Role.WEB:
        try:
            rt.catalogue = load_merchant_snapshot(rt.redis, rt.keys)
        except ConfigError as exc:  # as for the file: logged, the worker keeps sending
            logger.warning("templates snapshot not used: %s", exc)
    return rt
