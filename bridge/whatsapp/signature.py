"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex>`, pure functions.

The hex is HMAC-SHA256 of the raw request body with the app secret as the key (Graph API
"Validating Payloads"). It is checked on the bytes as received, before any parsing: Meta signs an
escaped-unicode serialization, so re-serializing the JSON would break every non-ASCII post.
"""

from __future__ import annotations

import hashlib
import hmac

from bridge.errors import SignatureError

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def meta_signature(body: bytes, app_secret: str) -> str:
    """The header value Meta sends with `body`: `sha256=` and the lowercase hex HMAC."""
    return _PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_meta_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Raise SignatureError unless `header` is Meta's signature of `body` with `app_secret`.

    Compared in constant time; only the length of the expected value can leak, and it is fixed.
    """
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    given = header.strip()
    if not given.lower().startswith(_PREFIX):
        raise SignatureError(f"{HEADER} must start with {_PREFIX}")
    expected = meta_signature(body, app_secret)
    if not hmac.compare_digest(expected.encode(), (_PREFIX + given[len(_PREFIX) :].lower()).encode("utf-8", "replace")):
        raise SignatureError(f"{HEADER} does not match the body (check [whatsapp] app_secret / WHATSAPP_APP_SECRET)")
