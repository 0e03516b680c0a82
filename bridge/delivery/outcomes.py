"""Recording what happened to one delivery: each outcome is one atomic state change.

Waits and retries change the state and enqueue the next run of the job in the same Lua step,
so a retry is scheduled exactly when the record says so. After a failed attempt the rules in
`bridge.delivery.policy.plan_failure` decide; this module carries the plan out.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.delivery.control import pause_sending, schedule_probe
from bridge.delivery.optouts import Scope
from bridge.delivery.policy import Action, AttemptHistory, FailurePlan, plan_failure
from bridge.delivery.queueing import enqueue_delivery
from bridge.delivery.records import TRANSIENT_FIELDS, Field, Status, error_fields, split_delivery_id
from bridge.errors import DeliveryError
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.whatsapp.phones import mask_phone

logger = logging.getLogger(__name__)


class Outcomes:
    """The state changes of one delivery, as its job records them."""

    def __init__(self, rt: Runtime, delivery: str):
        self.rt = rt
        self.id = delivery
        self.event_id, self.mapping = split_delivery_id(delivery)

    def log(self, level: int, message: str, **values: Any) -> None:
        """One line about this delivery: its ids, and `values`, as fields."""
        if logger.isEnabledFor(level):
            logger.log(level, message, extra=self.fields(**values))

    def fields(self, **values: Any) -> dict[str, dict[str, Any]]:
        """`extra=` for a line about this delivery."""
        return log_fields(delivery_id=self.id, event_id=self.event_id, mapping=self.mapping, **values)

    def finish(self, status: Status, *, expected: tuple[str, ...] = (Status.SENDING,), **fields: Any) -> Status:
        """Record a final (or held) outcome."""
        changed = self.rt.store.transition(self.id, expected, status, now=self.rt.clock(), clear=TRANSIENT_FIELDS, **fields)
        if not changed:
            self.log(logging.WARNING, "delivery changed under us: outcome not recorded", status=status.value)
        else:
            self.log(logging.WARNING if status == Status.FAILED else logging.INFO, _FINISHED[status], **_finished(status, fields))
        return status

    def reschedule(
        self,
        expected: tuple[str, ...],
        status: Status,
        delay: float,
        *,
        clear: tuple[str, ...] = TRANSIENT_FIELDS,
        increment: dict[str, int] | None = None,
        **fields: Any,
    ) -> Status:
        """Change state and queue the next run of this delivery, in one atomic step."""
        rt = self.rt
        _job, then = rt.store.record_enqueues(
            lambda pipe: enqueue_delivery(rt.queue, self.id, rt.config.delivery, pipeline=pipe, delay=delay)
        )
        now = rt.clock()
        rt.store.transition(
            self.id, expected, status, now=now, clear=clear, increment=increment, then=then, next_attempt_at=now + delay, **fields
        )
        return status

    def hold_ambiguous(self, reason: str, *, expected: tuple[str, ...], **error: Any) -> Status:
        """Meta may have the message: hold it for reconciliation, then resend or fail it."""
        wait = self.rt.config.delivery.ambiguous_wait_seconds
        error.setdefault(Field.ERROR_CLASS, "AmbiguousError")
        error.setdefault(Field.ERROR_MESSAGE, reason)
        self.reschedule(expected, Status.AMBIGUOUS, wait, ambiguous_at=self.rt.clock(), **error)
        code = error.get(Field.ERROR_CODE)
        self.log(logging.WARNING, "delivery outcome unknown", status=Status.AMBIGUOUS.value, reason=reason, error_code=code, retry_in=wait)
        return Status.AMBIGUOUS

    def failed_attempt(self, exc: DeliveryError, history: AttemptHistory, *, to: str | None, template: str | None) -> FailurePlan:
        """Carry out the policy's plan for a failed attempt; returns the plan (with the status in `status_of`)."""
        plan = plan_failure(exc, history, now=self.rt.clock(), settings=self.rt.config.delivery)
        error = {**error_fields(exc), Field.RECIPIENT: to}
        if plan.action is Action.HOLD_AMBIGUOUS:
            self.hold_ambiguous(str(exc), expected=(Status.SENDING,), **error)
        elif plan.action is Action.PAUSE:
            self._pause(exc, error)
        elif plan.action in (Action.THROTTLE_NUMBER, Action.THROTTLE_PAIR):
            self._throttle(exc, plan, to, error)
        else:
            self._retry_or_fail(exc, plan, history, to, template, error)
        return plan

    def _pause(self, exc: DeliveryError, error: dict[str, Any]) -> None:
        pause_sending(self.rt, exc)
        # Not the message's fault: the attempt is given back.
        self.rt.store.transition(
            self.id, (Status.SENDING,), Status.PAUSED, now=self.rt.clock(), clear=TRANSIENT_FIELDS, increment={Field.ATTEMPTS: -1}, **error
        )
        schedule_probe(self.rt)
        self.log(logging.ERROR, "sending paused by an account error", status=Status.PAUSED.value, error_code=exc.code, reason=str(exc))

    def _throttle(self, exc: DeliveryError, plan: FailurePlan, to: str | None, error: dict[str, Any]) -> None:
        """Slow the shared limiter so every worker waits, and retry without counting the attempt."""
        gate = self.rt.gate
        pair = plan.action is Action.THROTTLE_PAIR and to
        delay = gate.penalize_pair(to, plan.delay) if pair else gate.penalize_number(plan.delay)
        increment = {Field.ATTEMPTS: -1, Field.THROTTLED: 1}
        self.reschedule((Status.SENDING,), Status.RETRYING, delay, increment=increment, **error)
        self.log(logging.INFO, "delivery throttled by Meta", status=Status.RETRYING.value, error_code=exc.code, retry_in=round(delay, 3))

    def _retry_or_fail(
        self, exc: DeliveryError, plan: FailurePlan, history: AttemptHistory, to: str | None, template: str | None, error: dict[str, Any]
    ) -> None:
        now = self.rt.clock()
        if plan.opt_out_marketing and to and template:
            # 131050: the customer stopped marketing messages. From now on no marketing template
            # is sent to them (utility receipts still are).
            source = f"Meta error {exc.code}"
            self.rt.optouts.add(to, Scope.MARKETING, at=now, source=source, template=template, delivery=self.id)
            stopped = "customer stopped marketing messages: suppressed from now on"
            self.log(logging.WARNING, stopped, phone=mask_phone(to), error_code=exc.code)
        counting: dict[str, Any] = {}
        if plan.count_attempt:
            # Failed before any request went out (the Stripe Customer lookup): count the attempt
            # here, or an outage or a wrong key would be retried forever.
            first = history.first_attempt_at if history.first_attempt_at is not None else now
            counting = {"increment": {Field.ATTEMPTS: 1}, Field.FIRST_ATTEMPT_AT: first}
        if plan.action is Action.RETRY:
            self.reschedule((Status.SENDING,), Status.RETRYING, plan.delay, **counting, **error)
            values = {"attempt": plan.attempts, "error_code": exc.code, "reason": str(exc), "retry_in": round(plan.delay, 3)}
            self.log(logging.INFO, "delivery retrying", status=Status.RETRYING.value, **values)
            return
        if plan.note:
            error[Field.ERROR_MESSAGE] = f"{error[Field.ERROR_MESSAGE]} ({plan.note})"
        self.finish(Status.FAILED, **counting, **error)


_FINISHED = {status: f"delivery {status.value}" for status in Status} | {Status.DRY_RUN: "delivery written to the outbox (dry run)"}


def _finished(status: Status, fields: dict[str, Any]) -> dict[str, Any]:
    """What the line about a recorded outcome shows, from the record's fields (the phone masked)."""
    return {
        "status": status.value,
        "phone": mask_phone(fields.get(Field.RECIPIENT)) or None,
        "wamid": fields.get(Field.WAMID),
        "reason_code": fields.get(Field.REASON_CODE),
        "reason": fields.get(Field.REASON),
        "error_code": fields.get(Field.ERROR_CODE),
        "error": fields.get(Field.ERROR_MESSAGE),
    }


def status_of(plan: FailurePlan) -> Status:
    """The status a delivery is left in by a plan."""
    return {
        Action.HOLD_AMBIGUOUS: Status.AMBIGUOUS,
        Action.PAUSE: Status.PAUSED,
        Action.THROTTLE_NUMBER: Status.RETRYING,
        Action.THROTTLE_PAIR: Status.RETRYING,
        Action.RETRY: Status.RETRYING,
    }.get(plan.action, Status.FAILED)
