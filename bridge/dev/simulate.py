"""`bridge simulate` and `bridge simulate-reply`: post a realistic, correctly signed Stripe event, or a
customer's reply as Meta's webhook sends it, to a running bridge."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bridge import defaults
from bridge.config import load_config
from bridge.errors import ConfigError, WebhookUnreachable
from bridge.stripe_events import samples
from bridge.stripe_events.signature import sign_payload
from bridge.whatsapp.signature import HEADER, meta_signature


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


def find_app_secret(env: dict[str, str] | None = None) -> str | None:
    """The Meta app secret to sign with: WHATSAPP_APP_SECRET, the config's, or `bridge dev`'s."""
    env = dict(os.environ) if env is None else env
    if env.get("WHATSAPP_APP_SECRET"):
        return env["WHATSAPP_APP_SECRET"]
    try:
        configured = load_config(env=env).whatsapp.app_secret
        if configured:
            return configured
    except ConfigError:
        pass
    dev_file = Path(defaults.DEV_APP_SECRET_FILE)
    if dev_file.is_file():
        return dev_file.read_text().strip() or None
    return None


def reply_post(text: str, phone: str, *, phone_number_id: str = "", now: float | None = None) -> dict[str, Any]:
    """A post from Meta's webhook carrying one text message from `phone`, in Meta's documented shape."""
    digits = phone.lstrip("+")
    message = {
        "from": digits,
        "id": "wamid.simulated" + secrets.token_hex(12),
        "timestamp": str(int(time.time() if now is None else now)),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id or "106540352242922"},
        "contacts": [{"profile": {"name": "Jenny Rosen"}, "wa_id": digits}],
        "messages": [message],
    }
    return {"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{"value": value, "field": "messages"}]}]}


def simulate_reply(text: str, *, url: str, app_secret: str, phone: str) -> Posted:
    """Post a customer's reply as Meta's webhook does: the raw body signed with the app secret."""
    post = reply_post(text, phone)
    payload = json.dumps(post).encode()  # ASCII with \u escapes, as Meta serializes
    headers = {"Content-Type": "application/json", HEADER: meta_signature(payload, app_secret), "User-Agent": "facebookexternalua"}
    try:
        response = httpx.post(url, content=payload, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise WebhookUnreachable(f"could not reach {url}: {type(exc).__name__}: {exc}") from None
    return Posted(post, response.status_code, response.text.strip())
