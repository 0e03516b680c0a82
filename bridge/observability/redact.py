"""Redaction: what no log line and no error report may carry, removed from text on its way out.

Defence in depth: the bridge's own log calls already mask phone numbers (`mask_phone`) and never
pass a secret. This catches what slips through anyway (an exception's message, a library's log
line): every configured secret value is replaced by `[redacted]`, and every run of 8–15 digits
(or `+` and 7–15 digits) standing alone, the shape of a phone number in E.164 or as a `wa_id`,
is masked as `mask_phone` masks it. A customer's name has no shape to recognise: the bridge
never logs one, and error reports drop request bodies and job arguments (`bridge.observability.sentry`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bridge.whatsapp.phones import mask_phone

if TYPE_CHECKING:
    from bridge.config import Config

REDACTED = "[redacted]"

PHONE_LIKE = re.compile(r"(?<![\w+])(?:\+\d{7,15}|\d{8,15})(?!\w)")
"""A number standing alone: not inside an id (`evt_…`, a UUID, a 20-digit user id), which `\\w` around it rules out."""

MIN_SECRET_LENGTH = 6
"""Shorter configured values are not searched for: they would redact ordinary words and numbers."""


class Redactor:
    """Scrubs text: configured secrets out, phone-shaped numbers masked. One per process (`REDACTOR`)."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._keep: frozenset[str] = frozenset()

    def add_secrets(self, values: Iterable[str | None]) -> None:
        """Remember more secret values (longest first, so a secret inside another is not half-replaced)."""
        known = {*self._secrets, *(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)}
        self._secrets = tuple(sorted(known, key=len, reverse=True))

    def keep_numbers(self, values: Iterable[str | None]) -> None:
        """Numbers that look like phones but are not personal (Meta's phone number id, the business account id)."""
        self._keep = self._keep | {v for v in values if v}

    def scrub(self, text: str) -> str:
        """`text` without secrets and with phone-shaped numbers masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return PHONE_LIKE.sub(self._mask, text)

    def _mask(self, match: re.Match[str]) -> str:
        number = match.group()
        return number if number in self._keep else mask_phone(number)


REDACTOR = Redactor()
"""The process's redactor: log records and error reports pass through it."""


def secret_values(config: Config) -> list[str | None]:
    """Every secret the config holds (ADMIN_TOKEN included), for the redactor."""
    return [
        *config.stripe.webhook_secrets,
        config.stripe.api_key,
        config.whatsapp.access_token,
        config.whatsapp.app_secret,
        config.whatsapp.verify_token,
        config.consent.forward_secret,
        urlsplit(config.redis.url).password,
        config.admin.token,
        config.health.metrics_token,
        config.stripe.app_secret,
        *config.merchants.encryption_key.split(","),
    ]


def protect(config: Config) -> None:
    """Register the config's secrets and its public ids with the process's redactor."""
    REDACTOR.add_secrets(secret_values(config))
    REDACTOR.keep_numbers([config.whatsapp.phone_number_id, config.whatsapp.business_account_id])
