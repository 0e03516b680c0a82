"""Webhook posts in Meta's documented shapes, built for one test (the captured corpus is in
tests/meta_payloads/). Each function returns the whole post: the envelope with one change."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
PAYLOADS = Path(__file__).parent / "meta_payloads"

_ids = itertools.count(1)


def envelope(field: str, value: dict[str, Any], *, at: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": WABA_ID, "changes": [{"value": value, "field": field}]}
    if at is not None:
        entry["time"] = at
    return {"object": "whatsapp_business_account", "entry": [entry]}


def _messages_value(**parts: Any) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    return {"messaging_product": "whatsapp", "metadata": metadata, **parts}


def status(
    wamid: str,
    name: str,
    *,
    recipient: str | None = "14155550123",
    callback: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    pricing_category: str | None = None,
    user_id: str | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """One status object (`value.statuses[]`)."""
    item: dict[str, Any] = {"id": wamid, "status": name, "timestamp": str(at or int(time.time()))}
    if recipient is not None:
        item["recipient_id"] = recipient
    if user_id is not None:
        item["recipient_user_id"] = user_id
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if errors is not None:
        item["errors"] = errors
    if pricing_category is not None:
        billable = pricing_category != "service"
        item["pricing"] = {"billable": billable, "pricing_model": "PMP", "type": "regular", "category": pricing_category}
    return item


def statuses_post(*items: dict[str, Any]) -> dict[str, Any]:
    return envelope("messages", _messages_value(statuses=list(items)))


def status_post(wamid: str, name: str, **options: Any) -> dict[str, Any]:
    return statuses_post(status(wamid, name, **options))


def meta_error(code: int, title: str = "Message failed", details: str = "see the error code") -> dict[str, Any]:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def message_post(
    text: str | None = None,
    *,
    sender: str | None = "14155550123",
    user_id: str | None = None,
    message_id: str | None = None,
    kind: str = "text",
    button: dict[str, str] | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """A customer's message: text, or a quick-reply button (`kind="button"`, `button={text, payload}`)."""
    message: dict[str, Any] = {"id": message_id or f"wamid.inbound{next(_ids):06d}", "timestamp": str(at or int(time.time())), "type": kind}
    if sender is not None:
        message["from"] = sender
    if user_id is not None:
        message["from_user_id"] = user_id
    if kind == "text":
        message["text"] = {"body": text}
    elif kind == "button":
        message["button"] = button or {"text": text, "payload": text}
    contact: dict[str, Any] = {"profile": {"name": "Jenny Rosen"}}
    if sender is not None:
        contact["wa_id"] = sender
    if user_id is not None:
        contact["user_id"] = user_id
    return envelope("messages", _messages_value(contacts=[contact], messages=[message]))


def template_status_post(name: str, language: str, event: str, *, reason: str | None = None, at: int | None = None) -> dict[str, Any]:
    value = {
        "event": event,
        "message_template_id": 594425479261596,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
    }
    return envelope("message_template_status_update", value, at=at or int(time.time()))


def category_post(name: str, language: str, new: str, *, previous: str = "UTILITY", at: int | None = None) -> dict[str, Any]:
    value = {
        "message_template_id": 278077987978991,
        "message_template_name": name,
        "message_template_language": language,
        "previous_category": previous,
        "new_category": new,
    }
    return envelope("template_category_update", value, at=at or int(time.time()))


def preference_post(value: str, *, wa_id: str | None = "14155550123", user_id: str | None = None, at: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "detail": f"User requested to {value} marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": at or int(time.time()),
    }
    if wa_id is not None:
        item["wa_id"] = wa_id
    if user_id is not None:
        item["user_id"] = user_id
    return envelope("user_preferences", {"messaging_product": "whatsapp", "metadata": {}, "user_preferences": [item]})


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Every captured payload in tests/meta_payloads, as (file name, post)."""
    return [(path.name, json.loads(path.read_text())) for path in sorted(PAYLOADS.glob("*.json"))]
