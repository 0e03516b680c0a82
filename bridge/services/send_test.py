"""A test send: a mapping's message for an event, sent to a number the operator chooses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.consent.check import check_customer
from bridge.delivery.optouts import Scope
from bridge.errors import Conflict, DeliveryError, Refusal
from bridge.mappings.compile import CompiledMapping
from bridge.runtime import Runtime
from bridge.services.mappings import ChosenEvent, preview_mapping
from bridge.services.optouts import customer_number
from bridge.whatsapp.client import WhatsAppClient
from bridge.whatsapp.phones import mask_phone


@dataclass(frozen=True)
class TestSend:
    to: str
    """Masked."""
    dry_run: bool
    """Nothing was sent: the request is in the outbox."""
    wamid: str | None = None
    message_status: str | None = None


class SendRefused(Conflict):
    """Meta refused the test message; `meta_error` says what Meta said and what it means."""

    def __init__(self, message: str, meta_error: dict[str, Any]):
        super().__init__(message)
        self.meta_error = meta_error


def send_test(rt: Runtime, mapping: CompiledMapping, chosen: ChosenEvent, to: str) -> TestSend:
    """Send `mapping`'s message for the event to `to`, for real (to the outbox in dry run)."""
    number = customer_number(rt, to)
    shown = preview_mapping(rt, mapping, chosen, to=number)
    if shown.skipped is not None or shown.request is None:
        raise Conflict(f"nothing to send: {shown.skipped}", refusal=Refusal.NOTHING_TO_SEND, why=str(shown.skipped))
    if Scope.ALL in check_customer(rt, number).opted_out:
        raise Conflict(
            f"{mask_phone(number)} opted out of WhatsApp messages; remove the opt-out first if they opted in again",
            refusal=Refusal.OPTED_OUT,
            phone=mask_phone(number),
        )
    if rt.config.whatsapp.dry_run:
        rt.store.push_outbox({"delivery_id": f"send-test:{mapping.name}", "at": rt.clock(), "request": shown.request})
        return TestSend(mask_phone(number), dry_run=True)
    client = WhatsAppClient(rt.config.whatsapp)
    try:
        result = client.send(shown.request)
    except DeliveryError as exc:
        raise SendRefused(f"Meta refused the send to {mask_phone(number)}: {exc}", meta_error(exc)) from None
    finally:
        client.close()
    return TestSend(mask_phone(number), dry_run=False, wamid=result.wamid, message_status=result.message_status)


def meta_error(exc: DeliveryError) -> dict[str, Any]:
    """Meta's error as an operator reads it: code, title, what it means, how to fix it."""
    return {
        "code": exc.code,
        "subcode": exc.subcode,
        "title": exc.title,
        "details": exc.details,
        "meaning": exc.meaning,
        "fix": exc.fix,
        "http_status": exc.http_status,
        "retryable": exc.retryable,
    }
