"""Bearer tokens (`Authorization: Bearer ...`): reading one, and comparing it in constant time.
The admin API's door and `/metrics` use these."""

from __future__ import annotations

import hmac


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme's case ignored), or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison: how long it takes says nothing about how much matched."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
