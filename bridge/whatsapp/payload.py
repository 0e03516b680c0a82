"""The Cloud API's JSON, as pure functions: the template message a delivery sends, and Meta's answer.

Reference: POST /{version}/{phone-number-id}/messages with `type: template`
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextParameter:
    """Text in the header or body; `name` is set in a named template, None in a positional one."""

    text: str
    name: str | None = None

    def json(self) -> dict[str, Any]:
        return _named({"type": "text", "text": self.text}, self.name)

    @property
    def shown(self) -> str:
        return self.text


@dataclass(frozen=True)
class CurrencyParameter:
    """An amount: Meta shows `fallback_value`; `amount_1000` is the amount in major units × 1000."""

    fallback_value: str
    code: str
    amount_1000: int
    name: str | None = None

    def json(self) -> dict[str, Any]:
        currency = {"fallback_value": self.fallback_value, "code": self.code, "amount_1000": self.amount_1000}
        return _named({"type": "currency", "currency": currency}, self.name)

    @property
    def shown(self) -> str:
        return self.fallback_value


@dataclass(frozen=True)
class DateTimeParameter:
    """A date: the Cloud API shows `fallback_value` as given (it localizes nothing)."""

    fallback_value: str
    name: str | None = None

    def json(self) -> dict[str, Any]:
        return _named({"type": "date_time", "date_time": {"fallback_value": self.fallback_value}}, self.name)

    @property
    def shown(self) -> str:
        return self.fallback_value


@dataclass(frozen=True)
class MediaParameter:
    """A header image, document or video, by its public link."""

    kind: str
    """image, document or video."""
    link: str
    filename: str | None = None

    def json(self) -> dict[str, Any]:
        media = {"link": self.link, **({"filename": self.filename} if self.filename else {})}
        return {"type": self.kind, self.kind: media}

    @property
    def shown(self) -> str:
        return f"[{self.kind}: {self.filename or self.link}]"


@dataclass(frozen=True)
class ButtonParameter:
    """A URL button's dynamic suffix, or a quick reply's payload; `index` is the button's position."""

    sub_type: str
    """url or quick_reply."""
    index: int
    value: str

    def json(self) -> dict[str, Any]:
        parameter = {"type": "text", "text": self.value} if self.sub_type == "url" else {"type": "payload", "payload": self.value}
        return {"type": "button", "sub_type": self.sub_type, "index": str(self.index), "parameters": [parameter]}


BodyParameter = TextParameter | CurrencyParameter | DateTimeParameter
HeaderParameter = TextParameter | MediaParameter


@dataclass(frozen=True)
class TemplateMessage:
    """A template message's content: which template, in which language, with which parameters."""

    name: str
    language: str
    header: HeaderParameter | None = None
    body: tuple[BodyParameter, ...] = ()
    buttons: tuple[ButtonParameter, ...] = ()

    @property
    def parameter_count(self) -> int:
        return (self.header is not None) + len(self.body) + len(self.buttons)


def _named(parameter: dict[str, Any], name: str | None) -> dict[str, Any]:
    return parameter if name is None else {**parameter, "parameter_name": name}


@dataclass(frozen=True)
class SendResult:
    """Meta accepted the request; `wa_id` may differ from the number sent (52/521, 54/549, BR 9)."""

    wamid: str
    wa_id: str | None
    message_status: str | None
    user_id: str | None = None
    """The business-scoped user id Meta knows the customer by, when the answer carries one."""


def build_template_payload(to: str, message: TemplateMessage, *, callback_data: str | None = None) -> dict[str, Any]:
    """The JSON body of POST /{phone-number-id}/messages for a template message."""
    components: list[dict[str, Any]] = []
    if message.header is not None:
        components.append({"type": "header", "parameters": [message.header.json()]})
    if message.body:
        components.append({"type": "body", "parameters": [parameter.json() for parameter in message.body]})
    components += [button.json() for button in sorted(message.buttons, key=lambda b: b.index)]
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language}}
    if components:
        template["components"] = components
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": template,
    }
    if callback_data:
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def build_text_payload(to: str, body: str) -> dict[str, Any]:
    """A free-form text message: only allowed inside the 24-hour window a customer's message opens
    (the STOP/START confirmation is sent right after the customer wrote)."""
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}}


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
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict) else {}
    status = messages[0].get("message_status")
    return SendResult(
        wamid=wamid,
        wa_id=_text(contact.get("wa_id")),
        message_status=status if isinstance(status, str) else None,
        user_id=_text(contact.get("user_id")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
