"""Every Redis key the bridge owns, built in one place.

A `Keys` belongs to one Stripe account (merchant). The deployment's own merchant, the one the
TOML file configures, has no account segment, so its keys read as they always have:

    bridge:event:evt_123                      (account None)
    bridge:{acct_1Nv0FG}:event:evt_123        (a Stripe App install, step 9)

The account sits in a Redis Cluster hash tag (`{...}`), so every key of one merchant hashes to
one slot and the Lua scripts that touch several of them stay valid on a cluster. A deployment
with data from before the account segment keeps working unchanged: its merchant is account None.

Families (what each key holds, and for how long, is documented where it is written):

    event:{evt_id}             the stored event; its existence is the dedupe mark
    delivery:{delivery_id}     hash: the delivery record (`bridge.delivery.records`)
    deliveries                 sorted set: every delivery id by creation time
    deliveries:{status}        sorted set: delivery ids in that status, by creation time
    event-deliveries:{evt_id}  set: the deliveries an event made
    outbox                     list: dry-run messages, newest first
    order:{payment}            sorted set: pending deliveries about one payment, by event time
    order-sent:{payment}       `created` of the latest event whose notice went out
    paused:{phone_number_id}   set while that sending number is paused (account errors)
    paused-deliveries          set: deliveries held while paused
    paused-numbers             set: the phone number ids with a pause flag (listed without a SCAN)
    probe-scheduled            set while a probe job is scheduled
    rate:{phone_number_id}     the number's send-rate limiter (GCRA)
    pair:{recipient}           one customer's pair-rate limiter (GCRA)
    optout:{scope}             hash: identity (E.164 number, user id, hashed number) → opt-out details
    marketing-templates        set: template names Meta treats as marketing
    schema                     the layout version of this merchant's data (see `Store.upgrade`)
    meta-post:{sha256}         a signed post from Meta's webhook, zlib-compressed, until processed
    history:{delivery_id}      list: every status of a delivery, with when and from whom
    wamid:{wamid}              the delivery Meta's message id belongs to (status webhooks)
    phone-deliveries:{phone}   set: the deliveries to one number (customer export and erase)
    meta-seen:{id}             set once per (wamid, status) or inbound message id: Meta repeats them
    user-phone:{user_id}       the number Meta's business-scoped user id stands for
    template-state             hash: "name|language" → a template's state reported by Meta's webhook
    optin:{scope}              hash: identity → an opt-in (START, `bridge optout remove`, Meta's resume)
    counters                   hash: things counted and otherwise ignored (unknown wamids, ...)
    metrics                    hash: the workers' figures for /metrics (`bridge.observability.figures`)
    hash-key                   the key opt-outs of erased customers are hashed with
    admin-auth:{address}       failed admin API sign-ins from one client address, for a minute
    saved-mappings             hash: mapping name → its `[[mappings]]` table as JSON, saved from the
                               admin API or the settings page; overrides the file's mapping of that name
    saved-mappings-version     counter: bumped with every save and delete, so each process knows
                               when to recompile (`bridge.mappings.live`)
    last-event                 when the last signed Stripe event was verified (unix time)
    sent-deliveries            sorted set: every delivery Meta accepted, by when (`sent_at`): messages sent per hour
    token-check:{phone_number_id}  the settings page's last check of the access token with Meta (JSON, minutes)
    merchant                   hash: a Stripe App install's settings, credentials sealed
                               (`bridge.merchants.store`); only under an account
    templates                  a merchant's templates snapshot: the JSON `bridge templates pull`
                               writes to `[whatsapp] templates_file` for the file's merchant
                               (`bridge.merchants.templates`); only under an account

Deployment-wide keys (`Keys.global_key`, never under an account: they find the merchants):

    merchants                  sorted set: every merchant's account id, by when it was added
    merchants-version          counter: bumped with every merchant change, so each process knows
                               when to reload its merchants
    merchant-phone:{id}        the account a WhatsApp phone number id belongs to (Meta's webhook)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DRY_RUN_NUMBER = "dry-run"
"""Stands in for the phone number id in dry run, where there is none."""

# family -> its key after the base; "{}", always last, is the one variable part. The Lua scripts
# build the keys they find inside records (an order key, a status) from this same table.
FAMILIES: dict[str, str] = {
    "event": "event:{}",
    "delivery": "delivery:{}",
    "deliveries": "deliveries",
    "deliveries_in": "deliveries:{}",
    "event_deliveries": "event-deliveries:{}",
    "outbox": "outbox",
    "order": "order:{}",
    "order_sent": "order-sent:{}",
    "paused": "paused:{}",
    "paused_deliveries": "paused-deliveries",
    "paused_numbers": "paused-numbers",
    "probe_scheduled": "probe-scheduled",
    "rate": "rate:{}",
    "pair": "pair:{}",
    "optout": "optout:{}",
    "marketing_templates": "marketing-templates",
    "schema": "schema",
    "meta_post": "meta-post:{}",
    "history": "history:{}",
    "wamid": "wamid:{}",
    "phone_deliveries": "phone-deliveries:{}",
    "meta_seen": "meta-seen:{}",
    "user_phone": "user-phone:{}",
    "template_state": "template-state",
    "optin": "optin:{}",
    "counters": "counters",
    "metrics": "metrics",
    "hash_key": "hash-key",
    "admin_auth": "admin-auth:{}",
    "saved_mappings": "saved-mappings",
    "saved_mappings_version": "saved-mappings-version",
    "last_event": "last-event",
    "sent_deliveries": "sent-deliveries",
    "token_check": "token-check:{}",
    "merchant": "merchant",
    "templates": "templates",
}
GLOBAL_FAMILIES: dict[str, str] = {
    "merchants": "merchants",
    "merchants_version": "merchants-version",
    "merchant_phone": "merchant-phone:{}",
}


@dataclass(frozen=True)
class Keys:
    """The key map of one merchant: `Keys("bridge")`, or `Keys("bridge", "acct_...")`."""

    prefix: str
    account: str | None = None

    @property
    def base(self) -> str:
        return self.prefix if self.account is None else f"{self.prefix}:{{{self.account}}}"

    def for_account(self, account: str | None) -> Keys:
        return Keys(self.prefix, account)

    def _key(self, family: str, part: str = "") -> str:
        return f"{self.base}:{FAMILIES[family].format(part)}"

    def event(self, event_id: str) -> str:
        return self._key("event", event_id)

    def delivery(self, delivery_id: str) -> str:
        return self._key("delivery", delivery_id)

    @property
    def deliveries(self) -> str:
        return self._key("deliveries")

    def deliveries_in(self, status: str) -> str:
        return self._key("deliveries_in", status)

    def event_deliveries(self, event_id: str) -> str:
        return self._key("event_deliveries", event_id)

    @property
    def outbox(self) -> str:
        return self._key("outbox")

    def order(self, payment: str) -> str:
        return self._key("order", payment)

    def order_sent(self, payment: str) -> str:
        return self._key("order_sent", payment)

    def paused(self, phone_number_id: str) -> str:
        return self._key("paused", phone_number_id or DRY_RUN_NUMBER)

    @property
    def paused_pattern(self) -> str:
        """SCAN pattern matching every paused-number flag of this merchant."""
        return self.paused("*")

    @property
    def paused_deliveries(self) -> str:
        return self._key("paused_deliveries")

    @property
    def paused_numbers(self) -> str:
        return self._key("paused_numbers")

    @property
    def probe_scheduled(self) -> str:
        return self._key("probe_scheduled")

    def rate(self, phone_number_id: str) -> str:
        return self._key("rate", phone_number_id or DRY_RUN_NUMBER)

    def pair(self, recipient: str) -> str:
        return self._key("pair", recipient)

    def optout(self, scope: str) -> str:
        return self._key("optout", scope)

    @property
    def marketing_templates(self) -> str:
        return self._key("marketing_templates")

    @property
    def schema(self) -> str:
        return self._key("schema")

    def meta_post(self, digest: str) -> str:
        return self._key("meta_post", digest)

    def history(self, delivery_id: str) -> str:
        return self._key("history", delivery_id)

    def wamid(self, wamid: str) -> str:
        return self._key("wamid", wamid)

    def phone_deliveries(self, phone: str) -> str:
        return self._key("phone_deliveries", phone)

    def meta_seen(self, marker: str) -> str:
        return self._key("meta_seen", marker)

    def user_phone(self, user_id: str) -> str:
        return self._key("user_phone", user_id)

    @property
    def template_state(self) -> str:
        return self._key("template_state")

    def optin(self, scope: str) -> str:
        return self._key("optin", scope)

    @property
    def counters(self) -> str:
        return self._key("counters")

    @property
    def metrics(self) -> str:
        return self._key("metrics")

    @property
    def hash_key(self) -> str:
        return self._key("hash_key")

    def admin_auth(self, address: str) -> str:
        return self._key("admin_auth", address)

    @property
    def saved_mappings(self) -> str:
        return self._key("saved_mappings")

    @property
    def saved_mappings_version(self) -> str:
        return self._key("saved_mappings_version")

    @property
    def merchant(self) -> str:
        if self.account is None:
            raise ValueError("the default merchant is the config file's: it has no merchant record")
        return self._key("merchant")

    @property
    def templates(self) -> str:
        if self.account is None:
            raise ValueError("the default merchant's templates snapshot is the config's templates_file")
        return self._key("templates")

    def global_key(self, family: str, part: str = "") -> str:
        """A deployment-wide key (GLOBAL_FAMILIES), the same from every merchant's Keys."""
        return f"{self.prefix}:{GLOBAL_FAMILIES[family].format(part)}"

    @property
    def last_event(self) -> str:
        return self._key("last_event")

    @property
    def sent_deliveries(self) -> str:
        return self._key("sent_deliveries")

    def token_check(self, phone_number_id: str) -> str:
        return self._key("token_check", phone_number_id or DRY_RUN_NUMBER)


_LUA_KEY = re.compile(r"\bkey\('(\w+)'(?:, ([^()]+))?\)")


def lua_with_keys(source: str) -> str:
    """`source` with `key('order', okey)` written as `base .. ':order:' .. okey`, once, when a
    script is built: the scripts build the keys they find inside records exactly as `Keys` does.
    The script must hold its key base in a local named `base`; a part is a plain expression."""

    def build(match: re.Match[str]) -> str:
        head = FAMILIES[match.group(1)].removesuffix("{}")
        part = match.group(2)
        return f"(base .. ':{head}'" + (f" .. {part})" if part else ")")

    expanded = _LUA_KEY.sub(build, source)
    if "key(" in expanded:
        raise ValueError("a key(...) in a Lua script is not of the form key('family'[, part])")
    return expanded
