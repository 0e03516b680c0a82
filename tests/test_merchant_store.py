"""Merchants in Redis (real Redis): added pending, active once configured, credentials sealed and
never stored in plain text, one sending number per merchant, disabled with credentials erased on
uninstall, removed with every key of the account, credentials resealed after a key rotation."""

from __future__ import annotations

import pytest
from redis import Redis

from bridge.keys import Keys
from bridge.merchants.records import MerchantStatus
from bridge.merchants.sealing import CredentialsUnreadable, Sealer, new_key
from bridge.merchants.store import MerchantChanges, MerchantStore, NoEncryptionKey, PhoneNumberTaken

ACCOUNT, OTHER = "acct_1Nv0FGQ9RKHgCVdK", "acct_2Bq9XYZ"
TOKEN = "EAAGmerchantTOKEN0123456789abcdef"
SECRET = "merchant-app-secret-0123456789"


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def store(redis: Redis, key: str) -> MerchantStore:
    return MerchantStore(redis, keys=Keys("bridge"), sealer=Sealer([key]))


def every_value(redis: Redis) -> bytes:
    """Everything Redis holds, as one blob: what a dump of it would show."""
    blob = b""
    for name in redis.scan_iter(match="*"):
        kind = redis.type(name)
        if kind == b"hash":
            blob += b" ".join(k + b"=" + v for k, v in redis.hgetall(name).items())
        elif kind == b"string":
            blob += redis.get(name) or b""
        elif kind == b"zset":
            blob += b" ".join(redis.zrange(name, 0, -1))
        blob += b"\n" + name
    return blob


def test_an_install_is_a_pending_merchant_that_turns_active_once_it_has_a_number_and_a_token(store: MerchantStore):
    merchant, created = store.add(ACCOUNT, source="account.application.authorized")
    assert created and merchant.status is MerchantStatus.PENDING and not merchant.configured
    assert store.add(ACCOUNT, source="again")[1] is False, "a second install event changes nothing"
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055"))
    assert store.get(ACCOUNT).status is MerchantStatus.PENDING, "no token yet"
    merchant = store.update(ACCOUNT, MerchantChanges(access_token=TOKEN, business_account_id="2055"))
    assert merchant.status is MerchantStatus.ACTIVE and merchant.has_access_token and merchant.business_account_id == "2055"
    assert [m.account for m in store.list()] == [ACCOUNT]


def test_credentials_are_sealed_at_rest_and_opened_only_on_request(store: MerchantStore, redis: Redis):
    store.add(ACCOUNT, source="cli")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055", access_token=TOKEN, app_secret=SECRET))
    dump = every_value(redis)
    assert TOKEN.encode() not in dump and SECRET.encode() not in dump
    assert b"1055" in dump, "the blob does show what is stored"
    opened = store.credentials(ACCOUNT)
    assert (opened.access_token, opened.app_secret) == (TOKEN, SECRET)
    assert TOKEN not in repr(opened) and TOKEN not in repr(store.get(ACCOUNT))


def test_without_an_encryption_key_no_credential_is_stored(redis: Redis):
    store = MerchantStore(redis, keys=Keys("bridge"), sealer=None)
    store.add(ACCOUNT, source="cli")
    with pytest.raises(NoEncryptionKey, match="BRIDGE_ENCRYPTION_KEY"):
        store.update(ACCOUNT, MerchantChanges(access_token=TOKEN))
    assert store.get(ACCOUNT).has_access_token is False
    assert store.update(ACCOUNT, MerchantChanges(phone_number_id="1055")).phone_number_id == "1055", "the rest can be set"


def test_a_sending_number_belongs_to_one_merchant_and_its_index_follows_changes(store: MerchantStore):
    store.add(ACCOUNT, source="cli")
    store.add(OTHER, source="cli")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055"))
    assert store.account_for_phone("1055") == ACCOUNT
    with pytest.raises(PhoneNumberTaken, match=ACCOUNT):
        store.update(OTHER, MerchantChanges(phone_number_id="1055"))
    store.update(ACCOUNT, MerchantChanges(phone_number_id="2077"))
    assert (store.account_for_phone("1055"), store.account_for_phone("2077")) == (None, ACCOUNT)
    assert store.update(OTHER, MerchantChanges(phone_number_id="1055")).phone_number_id == "1055"
    store.update(ACCOUNT, MerchantChanges(phone_number_id=""))
    assert store.account_for_phone("2077") is None and store.get(ACCOUNT).phone_number_id == ""


def test_an_uninstall_disables_and_erases_the_credentials_and_a_reinstall_starts_pending(store: MerchantStore, redis: Redis):
    store.add(ACCOUNT, source="install")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055", access_token=TOKEN, app_secret=SECRET))
    merchant = store.disable(ACCOUNT, reason="account.application.deauthorized", erase_credentials=True)
    assert merchant.status is MerchantStatus.DISABLED and not merchant.has_access_token and not merchant.has_app_secret
    assert store.credentials(ACCOUNT) is None
    sealed_values = [v for v in redis.hgetall(Keys("bridge", ACCOUNT).merchant).values() if v.startswith(b"gAAAA")]
    assert sealed_values == [], "not even the sealed token is kept"
    merchant, created = store.add(ACCOUNT, source="install")
    assert not created and merchant.status is MerchantStatus.PENDING and merchant.phone_number_id == "1055"


def test_the_operator_disables_and_enables_without_losing_credentials(store: MerchantStore):
    store.add(ACCOUNT, source="cli")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055", access_token=TOKEN))
    assert store.disable(ACCOUNT, reason="operator", erase_credentials=False).status is MerchantStatus.DISABLED
    assert store.update(ACCOUNT, MerchantChanges(business_account_id="9")).status is MerchantStatus.DISABLED, "a change does not enable"
    assert store.enable(ACCOUNT).status is MerchantStatus.ACTIVE
    assert store.credentials(ACCOUNT).access_token == TOKEN


def test_removing_a_merchant_deletes_every_key_of_its_account_and_nothing_else(store: MerchantStore, redis: Redis):
    store.add(ACCOUNT, source="cli")
    store.add(OTHER, source="cli")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055"))
    mine, theirs = Keys("bridge", ACCOUNT), Keys("bridge", OTHER)
    redis.set(mine.event("evt_1"), b"x")
    redis.set(theirs.event("evt_2"), b"y")
    redis.set(Keys("bridge").event("evt_3"), b"z")
    assert store.remove(ACCOUNT) is True
    assert redis.keys(f"bridge:{{{ACCOUNT}}}:*") == [] and store.account_for_phone("1055") is None
    assert redis.exists(theirs.event("evt_2"), Keys("bridge").event("evt_3")) == 2
    assert [m.account for m in store.list()] == [OTHER]
    assert store.remove(ACCOUNT) is False


def test_every_change_bumps_the_version_processes_reload_on(store: MerchantStore):
    seen = [store.version()]
    store.add(ACCOUNT, source="cli")
    seen.append(store.version())
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055"))
    seen.append(store.version())
    store.disable(ACCOUNT, reason="operator", erase_credentials=False)
    seen.append(store.version())
    assert seen == sorted(set(seen)), seen


def test_a_key_rotation_reseals_every_credential_under_the_new_key(redis: Redis, key: str, store: MerchantStore):
    store.add(ACCOUNT, source="cli")
    store.update(ACCOUNT, MerchantChanges(phone_number_id="1055", access_token=TOKEN, app_secret=SECRET))
    new = new_key()
    rotating = MerchantStore(redis, keys=Keys("bridge"), sealer=Sealer([new, key]))
    assert rotating.reseal_all() == 2
    after = MerchantStore(redis, keys=Keys("bridge"), sealer=Sealer([new]))
    assert after.credentials(ACCOUNT).access_token == TOKEN
    with pytest.raises(CredentialsUnreadable):
        store.credentials(ACCOUNT)  # the old key alone no longer opens them


@pytest.mark.parametrize("account", ["", "acct_", "acct_x y", "cus_123", "acct_{1}", "acct_*"])
def test_only_stripe_account_ids_name_a_merchant(store: MerchantStore, account: str):
    with pytest.raises(ValueError, match="Stripe account id"):
        store.add(account, source="cli")
