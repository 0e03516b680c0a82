"""The RQ job: deliver one (event, mapping) as one WhatsApp template message.

Path of one delivery, top to bottom: claim (atomic, returns the stored event) → filter → render
→ recipient → send (or outbox in dry run) → record. Expected failures are recorded on the
delivery and the job returns normally; retries are scheduled by the job itself, so RQ's failed
registry only ever holds real crashes.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.errors import DeliveryError, RecipientError, RenderError
from bridge.formatting import mask_phone
from bridge.mapping import CompiledMapping, build_context
from bridge.phones import normalize
from bridge.queueing import enqueue_delivery
from bridge.recipient import customer_id, phone_on_customer, phone_on_object
from bridge.retry import decide
from bridge.runtime import Runtime
from bridge.store import Status, split_delivery_id
from bridge.whatsapp import build_template_payload
from workers.context import get_runtime

logger = logging.getLogger(__name__)

ERROR_FIELDS = (
    "error_code",
    "error_subcode",
    "error_title",
    "error_details",
    "error_message",
    "error_meaning",
    "error_class",
    "http_status",
)


def deliver(delivery: str) -> str:
    """RQ entry point: returns the delivery's resulting status."""
    return Delivery(get_runtime(), delivery).run()


class Delivery:
    def __init__(self, runtime: Runtime, delivery: str):
        self.rt = runtime
        self.id = delivery
        self.event_id, self.mapping_name = split_delivery_id(delivery)

    def run(self) -> str:
        claim = self.rt.store.claim(self.id, now=self.rt.clock())
        if claim.outcome != "claimed":
            logger.info("delivery %s not claimed: %s (%s)", self.id, claim.outcome, claim.status)
            return claim.status or claim.outcome
        self.attempts = claim.attempts
        if claim.event is None:
            return self._finish(Status.FAILED, error_message="the event is no longer stored (older than [redis] event_ttl_seconds)")
        mapping = self.rt.mappings.get(self.mapping_name)
        if mapping is None:
            return self._finish(Status.FAILED, error_message=f"mapping {self.mapping_name!r} is no longer configured")
        try:
            return self._deliver(claim.event, mapping)
        except RenderError as exc:
            return self._finish(Status.FAILED, error_class="RenderError", error_message=str(exc))
        except RecipientError as exc:
            return self._finish(Status.SKIPPED, reason=str(exc))
        except DeliveryError as exc:
            return self._failed_attempt(exc)

    def _deliver(self, event: dict[str, Any], mapping: CompiledMapping) -> str:
        obj = event["data"]["object"]
        customer = self._customer(obj, mapping)
        context = build_context(event, customer, language=mapping.settings.language, timezone=self.rt.config.whatsapp.timezone)
        if not mapping.applies(context):
            return self._finish(Status.SKIPPED, reason="the mapping's `when` filter is false for this event")
        message = mapping.render(context)
        to = normalize(self._raw_phone(message.recipient, obj, customer), self.rt.config.whatsapp.default_country)
        payload = build_template_payload(to, message.template, message.language, message.parameters, callback_data=self.id)
        if self.rt.whatsapp is None:
            self.rt.store.push_outbox({"delivery_id": self.id, "at": self.rt.clock(), "request": payload})
            logger.info(
                "dry run: %s template %s to %s (%d parameters) written to the outbox",
                self.id,
                message.template,
                mask_phone(to),
                len(message.parameters),
            )
            return self._finish(Status.DRY_RUN, recipient=to)
        result = self.rt.whatsapp.send(payload)
        return self._finish(
            Status.SENT,
            recipient=to,
            wamid=result.wamid,
            wa_id=result.wa_id,
            message_status=result.message_status,
            sent_at=repr(self.rt.clock()),
        )

    def _customer(self, obj: dict[str, Any], mapping: CompiledMapping) -> dict[str, Any] | None:
        """Fetch the Customer only when a template uses it or the object carries no phone."""
        if isinstance(obj.get("customer"), dict):
            return obj["customer"]
        needed = mapping.uses_customer or (mapping.recipient is None and phone_on_object(obj) is None)
        cid = customer_id(obj)
        if not needed or cid is None or self.rt.customers is None:
            return None
        customer = self.rt.customers.get(cid)
        return dict(customer) if customer is not None else None

    def _raw_phone(self, rendered: str | None, obj: dict[str, Any], customer: dict[str, Any] | None) -> str:
        phone = rendered or phone_on_object(obj) or phone_on_customer(customer)
        if phone:
            return phone
        if self.rt.customers is None and customer_id(obj):
            raise RecipientError("no phone number on the event; set STRIPE_API_KEY to look up the Customer's phone")
        raise RecipientError("no phone number on the event or its Customer")

    def _failed_attempt(self, exc: DeliveryError) -> str:
        error = _error_fields(exc)
        record = self.rt.store.get_delivery(self.id) or {}
        now = self.rt.clock()
        first = float(record.get("first_attempt_at") or now)
        decision = decide(exc, attempts=self.attempts, first_attempt_at=first, now=now, settings=self.rt.config.delivery)
        if not decision.retry:
            if exc.retryable:
                error["error_message"] = f"{error['error_message']} ({decision.reason})"
            logger.warning("delivery %s failed for good: %s", self.id, exc)
            return self._finish(Status.FAILED, **error)
        pipe = self.rt.store.recorder()
        enqueue_delivery(self.rt.queue, self.id, self.rt.config.delivery, pipeline=pipe, delay=decision.delay)
        self.rt.store.transition(
            self.id,
            [Status.SENDING],
            Status.RETRYING,
            clear=ERROR_FIELDS,
            now=now,
            then=self.rt.store.recorded(pipe),
            next_attempt_at=repr(now + decision.delay),
            **error,
        )
        logger.info("delivery %s attempt %d failed (%s); retry in %.1f s", self.id, self.attempts, exc, decision.delay)
        return Status.RETRYING

    def _finish(self, status: Status, **fields: Any) -> str:
        clear = (*ERROR_FIELDS, "next_attempt_at")
        if not self.rt.store.transition(self.id, [Status.SENDING], status, clear=clear, now=self.rt.clock(), **fields):
            logger.warning("delivery %s changed under us; %s not recorded", self.id, status)
        if status == Status.SKIPPED:
            logger.info("delivery %s skipped: %s", self.id, fields.get("reason"))
        return status


def _error_fields(exc: DeliveryError) -> dict[str, Any]:
    return {
        "error_class": type(exc).__name__,
        "error_code": exc.code,
        "error_subcode": exc.subcode,
        "error_title": exc.title,
        "error_details": exc.details,
        "error_message": str(exc),
        "error_meaning": exc.meaning,
        "http_status": exc.http_status,
    }
