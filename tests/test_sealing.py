"""Merchants' credentials at rest: Fernet under BRIDGE_ENCRYPTION_KEY, with key rotation."""

from __future__ import annotations

import pytest

from bridge.merchants.sealing import CredentialsUnreadable, Sealer, new_key, parse_keys

TOKEN = "EAAG-merchant-access-token-0123456789"


def test_a_sealed_credential_opens_to_itself_and_never_contains_it():
    sealer = Sealer([new_key()])
    sealed = sealer.seal(TOKEN)
    assert TOKEN not in sealed and sealed != sealer.seal(TOKEN), "a fresh IV each time"
    assert sealer.open(sealed) == TOKEN


def test_rotation_the_new_key_seals_both_open_and_reseal_moves_old_credentials_to_the_new_key():
    old, new = new_key(), new_key()
    sealed_before = Sealer([old]).seal(TOKEN)
    during = Sealer([new, old])
    assert during.open(sealed_before) == TOKEN, "the old key still opens what it sealed"
    resealed = during.reseal(sealed_before)
    after = Sealer([new])
    assert after.open(resealed) == TOKEN and after.open(during.seal(TOKEN)) == TOKEN
    with pytest.raises(CredentialsUnreadable):
        after.open(sealed_before)


@pytest.mark.parametrize("sealed", ["", "not a token", "gAAAAABk" + "A" * 80])
def test_what_no_key_opens_is_a_clear_permanent_error(sealed: str):
    with pytest.raises(CredentialsUnreadable, match="BRIDGE_ENCRYPTION_KEY"):
        Sealer([new_key()]).open(sealed)


def test_the_setting_is_keys_separated_by_commas_newest_first():
    first, second = new_key(), new_key()
    assert parse_keys(f" {first} , {second},") == [first, second]


@pytest.mark.parametrize(
    ("value", "said"), [("", "no key"), (" , ", "no key"), ("short", "key 1 of 1"), (f"{new_key()},nope", "key 2 of 2")]
)
def test_a_setting_that_is_not_fernet_keys_says_which_key(value: str, said: str):
    with pytest.raises(ValueError, match=said):
        parse_keys(value)
