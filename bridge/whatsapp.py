"""WhatsApp Business Cloud API client: template sends over one pooled httpx client per process.

This is the only module that imports httpx exceptions; they are translated here into the
bridge's DeliveryError classes, and Meta's error bodies are classified by `meta_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.config import WhatsAppSettings
from bridge.errors import AmbiguousError, TransientError
from bridge.formatting import mask_phone
from bridge.mapping import Parameter
from bridge.meta_errors import classify

logger = logging.getLogger(__name__)


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


class WhatsAppClient:
    """Sends template messages for one business phone number."""

    def __init__(self, settings: WhatsAppSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._path = f"/{settings.api_version}/{settings.phone_number_id}/messages"
        self._http = httpx.Client(
            base_url=settings.api_base_url,
            headers={"Authorization": f"Bearer {settings.access_token}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds)),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def send(self, payload: dict[str, Any]) -> SendResult:
        """POST one message; raise a DeliveryError subclass on anything but Meta's acceptance."""
        try:
            response = self._http.post(self._path, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached Meta: safe to retry.
            raise TransientError(f"could not connect to the Cloud API: {type(exc).__name__}") from None
        except httpx.WriteError as exc:
            raise TransientError(f"connection failed while sending: {type(exc).__name__}") from None
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteTimeout) as exc:
            # The request may have been processed: Meta has no idempotency key.
            raise AmbiguousError(f"no answer from the Cloud API after the request was sent: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"HTTP error talking to the Cloud API: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            retry_after = _retry_after(response.headers.get("retry-after"))
            raise classify(response.status_code, body, retry_after=retry_after)
        result = parse_send_response(body)
        if result is None:
            raise AmbiguousError(f"Cloud API answered {response.status_code} without a message id")
        logger.info(
            "sent template %s to %s: %s (%s)",
            payload.get("template", {}).get("name"),
            mask_phone(payload.get("to")),
            result.wamid,
            result.message_status or "accepted",
        )
        return result


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
