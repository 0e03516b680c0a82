"""One delivery attempt: deliver one (event, mapping) as exactly one WhatsApp template message.

Path, top to bottom: claim (atomic; refuses while paused, while an earlier notice about the
same payment is pending, or when a request may already be at Meta) → `when` → render →
recipient → opt-out check and rate-limit slot (shared by all workers) → send, or the outbox in
dry run → record. Expected failures are recorded on the delivery and the job returns normally;
retries, rate-limit waits and ordering waits reschedule the job in the same atomic step as the
state change, so RQ's failed registry only ever holds real crashes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bridge import defaults
from bridge.delivery.control import pause_sending, schedule_probe
from bridge.delivery.gate import SendSlot
from bridge.delivery.optouts import Scope, skip_reason
from bridge.delivery.policy import backoff_delay, decide
from bridge.delivery.queueing import enqueue_delivery
from bridge.delivery.store import ERROR_FIELDS, Status, split_delivery_id
from bridge.errors import AccountError, AmbiguousError, DeliveryError, PermanentError, RateLimitedError, RecipientError, RenderError
from bridge.mappings.compile import CompiledMapping, build_context
from bridge.runtime import Runtime
from bridge.stripe_events.recipient import customer_id, phone_on_customer, phone_on_object
from bridge.whatsapp.errors import pair_backoff_seconds
from bridge.whatsapp.payload import build_template_payload
from bridge.whatsapp.phones import mask_phone, normalize

logger = logging.getLogger(__name__)

TRANSIENT_FIELDS = (*ERROR_FIELDS, "next_attempt_at")


class Delivery:
    def __init__(self, runtime: Runtime, delivery: str, *, mode: str = "normal"):
        self.rt = runtime
        self.id = delivery
        self.mode = mode
        self.event_id, self.mapping_name = split_delivery_id(delivery)
        self.attempts = 0
        self.to: str | None = None
        self.template: str | None = None
        self.account_works = False
        """Set once Meta has answered about this message itself (sent, or refused for its own reasons)."""

    # -- claiming ----------------------------------------------------------------------------

    def run(self) -> str:
        delivery = self.rt.config.delivery
        claim = self.rt.store.claim(
            self.id, pause_key=self.rt.pause_key, order_wait=delivery.order_wait_seconds, mode=self.mode, now=self.rt.clock()
        )
        if claim.outcome == "ambiguous":
            if delivery.on_ambiguous != "resend":
                return self._finish(
                    Status.FAILED,
                    expected=(Status.AMBIGUOUS,),
                    error_class="AmbiguousError",
                    error_message=(
                        f"outcome unknown after {delivery.ambiguous_wait_seconds:g} s without reconciliation; "
                        "not resent ([delivery] on_ambiguous = fail)"
                    ),
                )
            claim = self.rt.store.claim(
                self.id, pause_key=self.rt.pause_key, order_wait=delivery.order_wait_seconds, mode="resend_ambiguous", now=self.rt.clock()
            )
            if claim.outcome == "claimed":
                logger.warning("delivery %s: resending after an ambiguous outcome", self.id)
        if claim.outcome == "in_flight":
            return self._ambiguous("the worker stopped while the request was in flight", expected=(Status.SENDING,))
        if claim.outcome == "paused":
            schedule_probe(self.rt)
            logger.info("delivery %s held: sending is paused", self.id)
            return Status.PAUSED
        if claim.outcome == "wait_order":
            self._reschedule(
                (claim.status,),
                claim.status,
                defaults.ORDER_RECHECK_SECONDS,
                clear=("next_attempt_at",),
                waiting_for="an earlier notice about this payment",
            )
            return "waiting"
        if claim.outcome != "claimed":
            logger.info("delivery %s not claimed: %s (%s)", self.id, claim.outcome, claim.status)
            return claim.status if claim.outcome == "terminal" else claim.outcome
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

    # -- one attempt -------------------------------------------------------------------------

    def _deliver(self, event: dict[str, Any], mapping: CompiledMapping) -> str:
        obj = event["data"]["object"]
        language, timezone = mapping.settings.language, self.rt.config.whatsapp.timezone
        # `when` is decided before the Customer lookup unless it needs the Customer: no Stripe
        # call (and no waiting out a Stripe outage) for events the mapping skips anyway.
        customer = self._customer(obj, mapping) if mapping.when_uses_customer else None
        context = build_context(event, customer, language=language, timezone=timezone)
        if not mapping.applies(context):
            return self._finish(Status.SKIPPED, reason="the mapping's `when` filter is false for this event")
        if not mapping.when_uses_customer:
            customer = self._customer(obj, mapping)
            context = build_context(event, customer, language=language, timezone=timezone)
        message = mapping.render(context)
        self.template = message.template
        self.to = to = normalize(self._raw_phone(message.recipient, obj, customer), self.rt.config.whatsapp.default_country)
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
        slot = self._take_send_slot(to, message.template)
        if slot.opted_out is not None:
            reason = skip_reason(slot.opted_out, slot.opt_out_info or {}, message.template)
            return self._finish(Status.SKIPPED, recipient=to, reason=reason)
        if not slot.granted:
            self._reschedule((Status.SENDING,), Status.QUEUED, slot.wait, waiting_for="the send rate limit", recipient=to)
            return Status.QUEUED
        result = self.rt.whatsapp.send(payload)
        self.account_works = True
        return self._finish(
            Status.SENT,
            expected=(Status.SENDING,),
            recipient=to,
            wamid=result.wamid,
            wa_id=result.wa_id,
            message_status=result.message_status,
            sent_at=repr(self.rt.clock()),
        )

    def _take_send_slot(self, to: str, template: str) -> SendSlot:
        """Wait for the shared rate limits; short waits are slept, longer ones are returned."""
        while True:
            slot = self.rt.limiter.acquire(to, template, self.rt.store.delivery_key(self.id), self.rt.clock())
            if slot.granted:
                self.attempts = slot.attempt
            if slot.granted or slot.opted_out is not None or slot.wait > defaults.INLINE_WAIT_MAX_SECONDS:
                return slot
            time.sleep(slot.wait)

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

    # -- outcomes ----------------------------------------------------------------------------

    def _failed_attempt(self, exc: DeliveryError) -> str:
        error = _error_fields(exc)
        error["recipient"] = self.to
        if isinstance(exc, AmbiguousError):
            return self._ambiguous(str(exc), expected=(Status.SENDING,), **error)
        if isinstance(exc, AccountError):
            pause_sending(self.rt, exc)
            self.rt.store.transition(
                self.id, (Status.SENDING,), Status.PAUSED, clear=TRANSIENT_FIELDS, now=self.rt.clock(), **{"+attempts": -1}, **error
            )
            schedule_probe(self.rt)
            logger.error("sending paused by an account error on %s: %s", self.id, exc)
            return Status.PAUSED
        # Throttling or a refusal of this message means Meta accepted the account's request.
        self.account_works = exc.http_status is not None and isinstance(exc, RateLimitedError | PermanentError)
        if isinstance(exc, RateLimitedError):
            return self._throttled(exc, error)
        now = self.rt.clock()
        if isinstance(exc, PermanentError) and exc.opt_out and self.to and self.template:
            # 131050: the customer stopped marketing messages. Never retried, and from now on
            # no marketing template is sent to them (utility receipts still are).
            self.rt.optouts.add(self.to, Scope.MARKETING, at=now, source=f"Meta error {exc.code}", template=self.template, delivery=self.id)
            logger.warning("delivery %s: %s stopped marketing messages; suppressed from now on", self.id, mask_phone(self.to))
        record = self.rt.store.get_delivery(self.id) or {}
        first = float(record.get("first_attempt_at") or now)
        if self.attempts == 0:
            # Failed before any request went out (the Stripe Customer lookup): count the attempt
            # here, or an outage or a wrong key would be retried forever.
            self.attempts = int(record.get("attempts") or 0) + 1
            error.update({"+attempts": 1, "first_attempt_at": repr(first)})
        decision = decide(exc, attempts=self.attempts, first_attempt_at=first, now=now, settings=self.rt.config.delivery)
        if not decision.retry:
            if exc.retryable:
                error["error_message"] = f"{error['error_message']} ({decision.reason})"
            logger.warning("delivery %s failed for good: %s", self.id, exc)
            return self._finish(Status.FAILED, **error)
        self._reschedule((Status.SENDING,), Status.RETRYING, decision.delay, **error)
        logger.info("delivery %s attempt %d failed (%s); retry in %.1f s", self.id, self.attempts, exc, decision.delay)
        return Status.RETRYING

    def _throttled(self, exc: RateLimitedError, error: dict[str, Any]) -> str:
        """Throttling is not the message's fault: slow the shared limiter, don't count the attempt."""
        record = self.rt.store.get_delivery(self.id) or {}
        throttled = int(record.get("throttled") or 0)
        now = self.rt.clock()
        if now - float(record.get("first_attempt_at") or now) >= self.rt.config.delivery.give_up_after_seconds:
            return self._finish(Status.FAILED, **{**error, "error_message": f"{error['error_message']} (gave up: still throttled)"})
        if exc.code == 131056 and self.to:
            delay = self.rt.limiter.penalize_pair(self.to, pair_backoff_seconds(throttled))
        elif exc.retry_after is not None:
            delay = self.rt.limiter.penalize_number(exc.retry_after)
        else:
            base = max(1.0, self.rt.config.delivery.backoff_base_seconds)
            delay = self.rt.limiter.penalize_number(backoff_delay(throttled + 1, base, 60.0))
        self._reschedule((Status.SENDING,), Status.RETRYING, delay, **{"+attempts": -1, "+throttled": 1}, **error)
        logger.info("delivery %s throttled by Meta (%s); retry in %.1f s", self.id, exc.code, delay)
        return Status.RETRYING

    def _ambiguous(self, reason: str, *, expected: tuple[str, ...], **error: Any) -> str:
        """Meta may have the message: hold it for reconciliation, then resend or fail it."""
        wait = self.rt.config.delivery.ambiguous_wait_seconds
        error.setdefault("error_class", "AmbiguousError")
        error.setdefault("error_message", reason)
        self._reschedule(expected, Status.AMBIGUOUS, wait, clear=TRANSIENT_FIELDS, ambiguous_at=repr(self.rt.clock()), **error)
        logger.warning("delivery %s outcome unknown (%s); deciding in %g s", self.id, reason, wait)
        return Status.AMBIGUOUS

    def _reschedule(
        self, expected: tuple[str, ...], status: str, delay: float, *, clear: tuple[str, ...] = TRANSIENT_FIELDS, **fields: Any
    ) -> None:
        """Change state and queue the next run of this delivery in one atomic step."""
        pipe = self.rt.store.recorder()
        enqueue_delivery(self.rt.queue, self.id, self.rt.config.delivery, pipeline=pipe, delay=delay)
        now = self.rt.clock()
        self.rt.store.transition(
            self.id,
            expected,
            Status(status),
            clear=clear,
            now=now,
            then=self.rt.store.recorded(pipe),
            next_attempt_at=repr(now + delay),
            **fields,
        )

    def _finish(self, status: Status, *, expected: tuple[str, ...] = (Status.SENDING,), **fields: Any) -> str:
        if not self.rt.store.transition(self.id, expected, status, clear=TRANSIENT_FIELDS, now=self.rt.clock(), **fields):
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
