"""One delivery attempt: deliver one (event, mapping) as exactly one WhatsApp template message.

Path, top to bottom: claim (atomic; refuses while paused, while an earlier notice about the
same payment is pending, or when a request may already be at Meta) → `when` → render →
recipient → the gate (opt-outs and the rate limits shared by all workers) → send, or the
outbox in dry run → record. Dry run takes every step but the request itself, so a rehearsal
shows what production will do. Expected failures are recorded on the delivery and the job
returns normally (`bridge.delivery.outcomes`), so RQ's failed registry only ever holds crashes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bridge import defaults
from bridge.consent.refusals import refusal_reason
from bridge.delivery.control import schedule_probe
from bridge.delivery.gate import SendSlot
from bridge.delivery.outcomes import Outcomes, status_of
from bridge.delivery.policy import AttemptHistory
from bridge.delivery.records import ClaimMode, ClaimOutcome, Field, SkipReason, Status, split_delivery_id, staff_position
from bridge.delivery.store import Claim
from bridge.errors import DeliveryError, MissingDataError, RecipientError, RenderError, StoreUnavailable
from bridge.mappings.compile import CompiledMapping, RenderedMessage
from bridge.mappings.outgoing import context_for, render_message
from bridge.observability.figures import WaitKind
from bridge.runtime import Runtime, inline_wait_max
from bridge.stripe_events.recipient import customer_id, phone_for, phone_on_object
from bridge.whatsapp.catalogue import Category
from bridge.whatsapp.payload import TemplateMessage, build_template_payload
from bridge.whatsapp.phones import normalize

logger = logging.getLogger(__name__)


class Delivery:
    def __init__(self, runtime: Runtime, delivery: str, *, mode: ClaimMode = ClaimMode.NORMAL):
        self.rt = runtime
        self.id = delivery
        self.mode = mode
        self.event_id, self.mapping_name = split_delivery_id(delivery)
        self.staff = staff_position(delivery) is not None
        """A staff alert: sent to a fixed number, not the customer."""
        self.outcomes = Outcomes(runtime, delivery)
        self.attempts = 0
        """The attempt number the gate gave this attempt; 0 until a request goes out."""
        self.to: str | None = None
        self.template: str | None = None
        self.customer: dict[str, Any] | None = None
        self.account_works = False
        """Set once Meta has answered about this message itself (sent, or refused for its own reasons)."""

    def run(self) -> str:
        """Claim the delivery and, if it is ours, attempt it; returns the resulting status."""
        claim = self._claim(self.mode)
        if claim.outcome is ClaimOutcome.AMBIGUOUS:
            if self.rt.config.delivery.on_ambiguous != "resend":
                return self._fail_ambiguous()
            claim = self._claim(ClaimMode.RESEND_AMBIGUOUS)
            if claim.outcome is ClaimOutcome.CLAIMED:
                self.outcomes.log(logging.WARNING, "delivery resent after an ambiguous outcome", status=Status.SENDING.value)
        if claim.outcome is not ClaimOutcome.CLAIMED:
            return self._not_claimed(claim)
        self.outcomes.log(logging.DEBUG, "delivery claimed", status=Status.SENDING.value)
        return self._attempt(claim.event)

    def _claim(self, mode: ClaimMode) -> Claim:
        rt = self.rt
        return rt.store.claim(self.id, pause_key=rt.pause_key, order_wait=rt.config.delivery.order_wait_seconds, mode=mode, now=rt.clock())

    def _not_claimed(self, claim: Claim) -> str:
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            return self.outcomes.hold_ambiguous("the worker stopped while the request was in flight", expected=(Status.SENDING,))
        if claim.outcome is ClaimOutcome.PAUSED:
            schedule_probe(self.rt)
            self.outcomes.log(logging.INFO, "delivery held: sending is paused", status=Status.PAUSED.value)
            return Status.PAUSED
        if claim.outcome is ClaimOutcome.WAIT_ORDER:
            waiting = "an earlier notice about this payment"
            self.outcomes.reschedule(
                (claim.status,), Status(claim.status), defaults.ORDER_RECHECK_SECONDS, clear=(Field.NEXT_ATTEMPT_AT,), waiting_for=waiting
            )
            wait = defaults.ORDER_RECHECK_SECONDS
            self.outcomes.log(logging.INFO, "delivery waiting", status=claim.status, reason=waiting, retry_in=wait)
            return "waiting"
        self.outcomes.log(logging.INFO, "delivery not claimed", outcome=claim.outcome.value, status=claim.status)
        return claim.status if claim.outcome is ClaimOutcome.TERMINAL else claim.outcome

    def _fail_ambiguous(self) -> str:
        wait = self.rt.config.delivery.ambiguous_wait_seconds
        message = f"outcome unknown after {wait:g} s without reconciliation; not resent ([delivery] on_ambiguous = fail)"
        return self.outcomes.finish(Status.FAILED, expected=(Status.AMBIGUOUS,), error_class="AmbiguousError", error_message=message)

    def _attempt(self, event: dict[str, Any] | None) -> str:
        finish = self.outcomes.finish
        if event is None:
            return finish(Status.FAILED, error_message="the event is no longer stored (older than [redis] event_ttl_seconds)")
        mapping = self.rt.mappings.get(self.mapping_name)
        if mapping is None:
            return finish(Status.FAILED, error_message=f"mapping {self.mapping_name!r} is no longer configured")
        try:
            return self._deliver(event, mapping)
        except MissingDataError as exc:
            return finish(Status.SKIPPED, reason=str(exc), reason_code=SkipReason.MISSING_DATA)
        except RenderError as exc:
            return finish(Status.FAILED, error_class="RenderError", error_message=str(exc))
        except RecipientError as exc:
            return finish(Status.SKIPPED, reason=str(exc), reason_code=SkipReason.NO_RECIPIENT)
        except DeliveryError as exc:
            return self._failed(exc)
        except StoreUnavailable:
            raise  # Redis is away: RQ re-runs the job, and the claim decides what that may do
        except Exception as exc:
            return self._unexpected(exc)

    def _unexpected(self, exc: Exception) -> str:
        """A bug must not leave the delivery in `sending`, holding back later notices about the payment."""
        logger.exception("delivery: unexpected error", extra=self.outcomes.fields())
        message = f"unexpected error in the bridge: {type(exc).__name__}; replay after fixing"
        if self.attempts:  # the request may have gone out: never resend blindly
            return self.outcomes.hold_ambiguous(message, expected=(Status.SENDING,))
        return self.outcomes.finish(Status.FAILED, error_class=type(exc).__name__, error_message=message)

    def _deliver(self, event: dict[str, Any], mapping: CompiledMapping) -> str:
        message = self._render(event, mapping)
        if message is None:
            reason = "the mapping's `when` filter is false for this event"
            return self.outcomes.finish(Status.SKIPPED, reason=reason, reason_code=SkipReason.WHEN_FALSE)
        self.template = message.template
        to = self.to or ""
        payload = build_template_payload(to, message.message, callback_data=self.id)
        slot = self._take_send_slot(to, message.message, self._consent_on_record(event, message.language))
        if slot.refused is not None:
            reason = refusal_reason(slot.refused, message.template, message.language)
            return self.outcomes.finish(Status.SKIPPED, recipient=self.to, reason=reason, reason_code=slot.refused.reason)
        if not slot.granted:
            waiting = "the send rate limit"
            self.outcomes.log(logging.INFO, "delivery waiting", status=Status.QUEUED.value, reason=waiting, retry_in=round(slot.wait, 3))
            return self.outcomes.reschedule((Status.SENDING,), Status.QUEUED, slot.wait, waiting_for=waiting, recipient=self.to)
        return self._send(payload, message)

    def _render(self, event: dict[str, Any], mapping: CompiledMapping) -> RenderedMessage | None:
        """The message for this event, or None when the mapping's `when` says no; sets `self.to`."""
        obj, config = event["data"]["object"], self.rt.config
        # `when` is decided before the Customer lookup unless it needs the Customer: no Stripe
        # call (and no waiting out a Stripe outage) for events the mapping skips anyway.
        if not mapping.when_uses_customer and not mapping.applies(context_for(config, event, None, mapping.settings.language)):
            return None
        customer = self.customer = self._customer(obj, mapping)
        message = render_message(config, mapping, event, customer, self.rt.catalogue, when_decided=not mapping.when_uses_customer)
        if message is None:
            return None
        self.to = self._staff_number() if self.staff else self._customer_number(message.recipient, obj, customer)
        return message

    def _customer_number(self, rendered: str | None, obj: dict[str, Any], customer: dict[str, Any] | None) -> str:
        return normalize(self._raw_phone(rendered, obj, customer), self.rt.config.whatsapp.default_country)

    def _staff_number(self) -> str:
        """A staff alert goes to the number the record was created with (the config may have changed since)."""
        number = self.rt.store.get_fields(self.id, Field.RECIPIENT).get(Field.RECIPIENT)
        if not number:
            raise RecipientError("the staff alert's number is missing from its record")
        return number

    def _send(self, payload: dict[str, Any], message: RenderedMessage) -> str:
        """The request itself; in dry run, the outbox instead (everything before it was real)."""
        if self.rt.whatsapp is None:
            self.rt.store.push_outbox({"delivery_id": self.id, "at": self.rt.clock(), "request": payload})
            return self.outcomes.finish(Status.DRY_RUN, recipient=self.to)
        started = time.perf_counter()
        try:
            result = self.rt.whatsapp.send(payload)
        finally:
            self.rt.store.tally.observe_send(time.perf_counter() - started)
        self.account_works = True
        if result.user_id and self.to:
            self.rt.optouts.link(result.user_id, self.to)
        return self.outcomes.finish(
            Status.SENT,
            recipient=self.to,
            wamid=result.wamid,
            wa_id=result.wa_id,
            user_id=result.user_id,
            message_status=result.message_status,
            sent_at=self.rt.clock(),
        )

    def _consent_on_record(self, event: dict[str, Any], language: str) -> bool:
        """Consent mode opt_in: only an opt-in on record lets this go unless `opt_in_when` holds.
        Staff alerts go to the merchant's own team: no customer consent applies."""
        if self.staff:
            return False
        return self.rt.consent.needs_record(context_for(self.rt.config, event, self.customer, language))

    def _take_send_slot(self, to: str, message: TemplateMessage, consent_on_record: bool) -> SendSlot:
        """Wait for the shared rate limits; short waits are slept, longer ones are returned."""
        template = self.rt.catalogue.find(message.name, message.language) if self.rt.catalogue else None
        marketing = template is not None and template.category == Category.MARKETING
        while True:
            slot = self.rt.gate.acquire(
                to, message.name, message.language, self.id, self.rt.clock(), consent_on_record=consent_on_record, marketing=marketing
            )
            if slot.granted:
                self.attempts = slot.attempt
            if slot.granted or slot.refused is not None:
                return slot
            if slot.wait > inline_wait_max():
                self.rt.store.tally.rate_wait(slot.wait, WaitKind.RESCHEDULED)
                return slot
            self.rt.store.tally.rate_wait(slot.wait, WaitKind.SLEPT)
            time.sleep(slot.wait)

    def _customer(self, obj: dict[str, Any], mapping: CompiledMapping) -> dict[str, Any] | None:
        """Fetch the Customer only when a template uses it, or it holds the phone or the language."""
        if isinstance(obj.get("customer"), dict):
            return obj["customer"]
        needs_phone = not self.staff and mapping.recipient is None and phone_on_object(obj) is None
        # Several languages: the Customer's preferred_locales choose among them.
        needs_language = not self.staff and len(mapping.settings.languages) > 1
        needed = mapping.uses_customer or needs_phone or needs_language
        cid = customer_id(obj)
        if not needed or cid is None or self.rt.customers is None:
            return None
        customer = self.rt.customers.get(cid)
        return dict(customer) if customer is not None else None

    def _raw_phone(self, rendered: str | None, obj: dict[str, Any], customer: dict[str, Any] | None) -> str:
        phone = phone_for(rendered, obj, customer)
        if phone:
            return phone
        if self.rt.customers is None and customer_id(obj):
            raise RecipientError("no phone number on the event; set STRIPE_API_KEY to look up the Customer's phone")
        raise RecipientError("no phone number on the event or its Customer")

    def _failed(self, exc: DeliveryError) -> str:
        """A failed attempt: the policy decides, the outcomes record it."""
        stored = self.rt.store.get_fields(self.id, Field.ATTEMPTS, Field.THROTTLED, Field.FIRST_ATTEMPT_AT)
        first = stored.get(Field.FIRST_ATTEMPT_AT)
        history = AttemptHistory(
            attempts=self.attempts or int(stored.get(Field.ATTEMPTS) or 0),
            throttled=int(stored.get(Field.THROTTLED) or 0),
            first_attempt_at=float(first) if first else None,
            request_sent=self.attempts > 0,
        )
        plan = self.outcomes.failed_attempt(exc, history, to=self.to, template=self.template)
        self.account_works = self.account_works or plan.account_works
        return status_of(plan)
