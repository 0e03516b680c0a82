"""The Cloud API's JSON, as pure functions: the template message a delivery sends, and Meta's answer.

Reference: POST /{version}/{phone-number-id}/messages with `type: template`
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Parameter:
    """One rendered body parameter: `name` is set for named templates, None for positional."""

    text: str
    name: str | None = None


@dataclass(frozen=True)
class SendResult:
    """Meta accepted the request; `wa_id` may differ from the number sent (52/521, 54/549, BR 9)."""

    wamid: str
    wa_id: str | None
    message_status: str | None


def build_template_payload(
    to: str,
    template: str,
    language: str,
    parameters: Sequence[Parameter],
    *,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """The JSON body of POST /{phone-number-id}/messages for a template message."""
    template_body: dict[str, Any] = {"name": template, "language": {"code": language}}
    if parameters:
        rendered = []
        for parameter in parameters:
            item: dict[str, Any] = {"type": "text", "text": parameter.text}
            if parameter.name is not None:
                item["parameter_name"] = parameter.name
            rendered.append(item)
        template_body["components"] = [{"type": "body", "parameters": rendered}]
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": template_body,
    }
    if callback_data:
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def parse_send_response(body: Any) -> SendResult | None:
    """Meta's success body → SendResult, or None if it does not carry a message id."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    wamid = messages[0].get("id")
    if not isinstance(wamid, str) or not wamid:
        return None
    contacts = body.get("contacts")
    wa_id = None
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        wa_id = contacts[0].get("wa_id") or contacts[0].get("user_id")
    status = messages[0].get("message_status")
    return SendResult(wamid=wamid, wa_id=wa_id, message_status=status if isinstance(status, str) else None)
