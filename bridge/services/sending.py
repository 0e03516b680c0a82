"""Whether the bridge is sending, and resuming it after an account error paused it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.delivery import control
from bridge.errors import Conflict, Refusal
from bridge.keys import DRY_RUN_NUMBER
from bridge.redis_conn import unavailable_on_redis_error
from bridge.runtime import Runtime


@dataclass(frozen=True)
class SendingStatus:
    phone_number_id: str
    """The number this bridge sends from ("" in dry run)."""
    dry_run: bool
    pause: dict[str, Any] | None
    """Why and since when sending is paused (Meta's code, reason, meaning), or None."""
    paused_elsewhere: tuple[str, ...]
    """Other phone number ids with a pause on record (a config that changed number)."""
    queued: int
    """Jobs waiting in the queue."""
    last_event_at: float | None = None
    """When a signed Stripe event was last verified (unix time; None: never): the webhook works."""

    @property
    def paused(self) -> bool:
        return self.pause is not None


def sending_status(rt: Runtime) -> SendingStatus:
    """Paused or not (and why), for this config's number; other paused numbers; queue length."""
    own = rt.phone_number_id or DRY_RUN_NUMBER
    with unavailable_on_redis_error("reading the queue"):
        queued = rt.queue.count
    return SendingStatus(
        phone_number_id=rt.phone_number_id,
        dry_run=rt.config.whatsapp.dry_run,
        pause=control.pause_info(rt),
        paused_elsewhere=tuple(n for n in rt.store.paused_numbers() if n != own),
        queued=queued,
        last_event_at=rt.store.last_event_at(),
    )


@dataclass(frozen=True)
class Resumed:
    was_paused: dict[str, Any] | None
    requeued: int


def resume_sending(rt: Runtime, *, by: str) -> Resumed:
    """Lift the pause and re-queue every held delivery. Refused when only another number is
    paused: resuming with this config would re-queue its held messages into that pause."""
    status = sending_status(rt)
    if status.pause is None and status.paused_elsewhere:
        raise Conflict(
            f"sending is paused for phone number id {', '.join(status.paused_elsewhere)}, not for the configured "
            f"{rt.phone_number_id or '(none: dry run)'}: resume with the worker's WHATSAPP_PHONE_NUMBER_ID",
            refusal=Refusal.PAUSED_ELSEWHERE,
            numbers=", ".join(status.paused_elsewhere),
        )
    return Resumed(status.pause, control.resume(rt, reason=by))
