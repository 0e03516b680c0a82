"""Merchants' credentials encrypted at rest: Fernet (AES-128-CBC with HMAC-SHA256, from the
cryptography package) under `BRIDGE_ENCRYPTION_KEY`.

The setting holds one key, or several separated by commas, newest first: the first encrypts,
every one decrypts (MultiFernet). Rotation is therefore: put a new key in front, deploy,
run `bridge merchants rotate-key` (re-encrypts every stored credential under the first key),
then drop the old key. Only the sealed text ever reaches Redis; the plain text lives in the
process that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bridge.errors import BridgeError

SETTING = "BRIDGE_ENCRYPTION_KEY"


class CredentialsUnreadable(BridgeError):
    """A sealed credential none of the configured keys opens (a key dropped too soon, or data
    from another deployment). Permanent: the merchant must enter the credential again."""


def parse_keys(value: str) -> list[str]:
    """The keys of the setting, newest first; ValueError saying which one is not a Fernet key
    (32 url-safe base64-encoded bytes, as `bridge merchants new-key` prints)."""
    keys = [part.strip() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("no key: generate one with `bridge merchants new-key`")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(f"key {position} of {len(keys)} is not a Fernet key (32 url-safe base64 bytes)") from None
    return keys


def new_key() -> str:
    """A fresh key for the setting."""
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and opens merchants' credentials with the configured keys."""

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise ValueError("a Sealer needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_setting(cls, value: str) -> Sealer:
        return cls(parse_keys(value))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise CredentialsUnreadable(f"a stored credential can't be decrypted with {SETTING}'s keys") from None

    def reseal(self, sealed: str) -> str:
        """`sealed` under the first (newest) key: what rotation stores back."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise CredentialsUnreadable(f"a stored credential can't be decrypted with {SETTING}'s keys") from None
