"""`bridge simulate`: post a realistic, correctly signed sample event to a running bridge."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bridge import defaults
from bridge.config import load_config
from bridge.errors import ConfigError, WebhookUnreachable
from bridge.stripe_events import samples
from bridge.stripe_events.signature import sign_payload


def find_secret(env: dict[str, str] | None = None) -> str | None:
    """The secret to sign with: STRIPE_WEBHOOK_SECRET, the config's first, or `bridge dev`'s."""
    env = dict(os.environ) if env is None else env
    from_env = [s.strip() for s in env.get("STRIPE_WEBHOOK_SECRET", "").split(",") if s.strip()]
    if from_env:
        return from_env[0]
    try:
        secrets = load_config(env=env).stripe.webhook_secrets
        if secrets:
            return secrets[0]
    except ConfigError:
        pass
    dev_file = Path(defaults.DEV_WEBHOOK_SECRET_FILE)
    if dev_file.is_file():
        return dev_file.read_text().strip() or None
    return None


@dataclass(frozen=True)
class Posted:
    """What the bridge answered to a posted event."""

    event: dict[str, Any]
    status_code: int
    body: str


def post_event(url: str, event: dict[str, Any], secret: str, *, timeout: float = 10.0) -> Posted:
    """Serialize, sign and POST `event` exactly as Stripe would."""
    payload = json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(payload, secret),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    try:
        response = httpx.post(url, content=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise WebhookUnreachable(f"could not reach {url}: {type(exc).__name__}: {exc}") from None
    return Posted(event, response.status_code, response.text.strip())


def simulate(event_type: str, *, url: str, secret: str, phone: str | None = None) -> Posted:
    """Post a fresh sample event: a new payment each time, like `stripe trigger` (objects get fresh ids too)."""
    return post_event(url, samples.fresh_event(event_type, phone=phone), secret)
