"""WhatsApp Business Cloud API client: template sends over one pooled httpx client per process.

This is the only module that imports httpx exceptions; they are translated here into the
bridge's DeliveryError classes, and Meta's error bodies are classified by `meta_errors`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from bridge.config import WhatsAppSettings
from bridge.errors import AmbiguousError, TransientError
from bridge.whatsapp.errors import classify
from bridge.whatsapp.payload import SendResult, parse_send_response
from bridge.whatsapp.phones import mask_phone

logger = logging.getLogger(__name__)


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
