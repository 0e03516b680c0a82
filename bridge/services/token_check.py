"""Whether WhatsApp accepts the configured access token, as the settings page's overview shows it.

Meta is asked (`GET /{version}/{phone-number-id}`, through `bridge.whatsapp.client`, which
translates every failure into the bridge's DeliveryError classes) at most once per
`TOKEN_CHECK_CACHE_SECONDS`: the answer is kept in Redis (`token-check:{phone_number_id}`), so
loading the overview costs no Graph call and every web process shows the same answer. "Check
again" asks at once. The check never raises for anything Meta or the network does: a refusal is
Meta's code and meaning, a timeout or an outage is "could not reach Meta", each a `TokenCheck`.

The cached answer carries a fingerprint of the settings it was made with (a hash, never the token
itself), so a rotated token or another number is checked anew instead of showing the old answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bridge import defaults
from bridge.config import WhatsAppSettings
from bridge.errors import AccountError, DeliveryError, PermanentError
from bridge.observability.logs import log_fields
from bridge.redis_conn import text, unavailable_on_redis_error
from bridge.runtime import Runtime
from bridge.whatsapp.client import PhoneNumber, fetch_phone_number

logger = logging.getLogger(__name__)

FINGERPRINT_LABEL = b"bridge token check v1\0"
"""Hashed with the settings: the fingerprint stands for these settings and nothing else."""


class TokenState(StrEnum):
    VALID = "valid"
    """Meta answered with the number's details: sends will be accepted as far as the token goes."""
    REFUSED = "refused"
    """Meta refused the token or the number (190 expired, 10 permission, 100/33 no such number, ...)."""
    UNREACHABLE = "unreachable"
    """No answer about the token: a timeout, a network error, Meta's own failure or throttling."""
    DRY_RUN = "dry_run"
    """No token is set: nothing is sent, nothing to check."""


@dataclass(frozen=True)
class TokenCheck:
    """One answer of the check, as shown and as cached."""

    state: TokenState
    checked_at: float | None = None
    """When Meta was asked (unix time); None in dry run."""
    display_phone_number: str | None = None
    """The business's own number as Meta writes it ("+1 631-555-5555"): not a customer's, shown unmasked."""
    verified_name: str | None = None
    quality_rating: str | None = None
    code: int | None = None
    """Meta's error code when it refused (190, 10, 100, ...)."""
    meaning: str | None = None
    """What the code means (`bridge.whatsapp.errors`), or why Meta could not be asked."""
    fix: str | None = None


def fingerprint(settings: WhatsAppSettings) -> str:
    """A short hash of what the answer depends on (address, version, number, token)."""
    parts = (settings.api_base_url, settings.api_version, settings.phone_number_id, settings.access_token)
    return hashlib.sha256(FINGERPRINT_LABEL + "\0".join(parts).encode()).hexdigest()[:32]


def judge(outcome: PhoneNumber | DeliveryError, *, now: float) -> TokenCheck:
    """The check's answer for what the request gave: the number's details, or the error it raised."""
    if isinstance(outcome, PhoneNumber):
        return TokenCheck(
            TokenState.VALID,
            now,
            display_phone_number=outcome.display_phone_number,
            verified_name=outcome.verified_name,
            quality_rating=outcome.quality_rating,
        )
    # An account or permanent error is Meta's verdict on this token or number; anything else
    # (timeouts, 5xx, throttling) says nothing about the token.
    refused = isinstance(outcome, AccountError | PermanentError)
    return TokenCheck(
        TokenState.REFUSED if refused else TokenState.UNREACHABLE,
        now,
        code=outcome.code,
        meaning=outcome.meaning if outcome.code is not None else str(outcome),
        fix=outcome.fix,
    )


def cache_ttl(check: TokenCheck) -> int:
    """How long an answer is kept: "could not reach Meta" for less time than Meta's verdicts."""
    if check.state is TokenState.UNREACHABLE:
        return defaults.TOKEN_CHECK_RETRY_SECONDS
    return defaults.TOKEN_CHECK_CACHE_SECONDS


def dump(check: TokenCheck, mark: str) -> str:
    """The cached form: the answer and the fingerprint of the settings it was made with."""
    return json.dumps({"fingerprint": mark, **asdict(check)})


def load(raw: str, mark: str) -> TokenCheck | None:
    """A cached answer made with these settings; None for another fingerprint or anything unreadable."""
    try:
        stored: dict[str, Any] = json.loads(raw)
        if not isinstance(stored, dict) or stored.pop("fingerprint", None) != mark:
            return None
        return TokenCheck(**{**stored, "state": TokenState(stored["state"])})
    except (ValueError, TypeError, KeyError):
        return None


def token_check(rt: Runtime, *, now: float, refresh: bool = False) -> TokenCheck:
    """The cached answer, or Meta's answer now (when there is none, or `refresh`), cached for the
    other web processes. In dry run Meta is not asked."""
    settings = rt.config.whatsapp
    if settings.dry_run:
        return TokenCheck(TokenState.DRY_RUN)
    key, mark = rt.keys.token_check(settings.phone_number_id), fingerprint(settings)
    if not refresh:
        with unavailable_on_redis_error("reading the token check"):
            cached = load(text(rt.redis.get(key)), mark)
        if cached is not None:
            return cached
    check = ask_meta(settings, now=now)
    with unavailable_on_redis_error("keeping the token check"):
        rt.redis.set(key, dump(check, mark), ex=cache_ttl(check))
    return check


def ask_meta(settings: WhatsAppSettings, *, now: float) -> TokenCheck:
    """One request to Meta for the sending number, within `TOKEN_CHECK_TIMEOUT_SECONDS` a step."""
    if not settings.phone_number_id:
        return TokenCheck(TokenState.REFUSED, now, meaning="no phone number id is set (WHATSAPP_PHONE_NUMBER_ID): nothing to check against")
    try:
        outcome: PhoneNumber | DeliveryError = fetch_phone_number(settings, timeout=defaults.TOKEN_CHECK_TIMEOUT_SECONDS)
    except DeliveryError as exc:
        outcome = exc
    check = judge(outcome, now=now)
    logger.info(
        "whatsapp token checked",
        extra=log_fields(phone_number_id=settings.phone_number_id, outcome=check.state.value, error_code=check.code),
    )
    return check
