"""The service layer's refusals in the page's language.

The service words its refusals in English for the CLI and the API; each one the page can meet
carries a `Refusal` (or a replay's `NotReplayed`) and its details, which this module words in the
merchant's language. A refusal without a wording here is shown in English, marked as English so
that a screen reader reads it in English on the Arabic page.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.delivery.control import NotReplayed, ReplayResult
from bridge.errors import Refusal, ServiceError
from bridge.settings_page.i18n import N_, current_language, gettext, isolate

WORDINGS: dict[Refusal, str] = {
    Refusal.NO_SUCH_DELIVERY: N_("No such delivery: it may be older than the bridge keeps deliveries."),
    Refusal.NO_SUCH_MAPPING: N_("No mapping is named %(name)s."),
    Refusal.BAD_PHONE: N_("This is not a phone number WhatsApp can reach: write it with its country code, e.g. +14155550123."),
    Refusal.OPTED_OUT: N_("%(phone)s opted out of WhatsApp messages: remove the opt-out first if they opted in again."),
    Refusal.NOTHING_TO_SEND: N_("Nothing would be sent for this sample event: %(why)s"),
    Refusal.NO_SAMPLE: N_("There is no sample event for these event types; samples exist for: %(types)s."),
    Refusal.PAUSED_ELSEWHERE: N_("Sending is paused for another WhatsApp number (%(numbers)s): resume it where that number is configured."),
}
NOT_REPLAYED: dict[NotReplayed, str] = {
    NotReplayed.NOT_FOUND: N_("No such delivery: it may be older than the bridge keeps deliveries."),
    NotReplayed.WRONG_STATUS: N_("Not replayed: only failed or skipped messages are replayed, and this one is %(status)s."),
    NotReplayed.EVENT_GONE: N_("Not replayed: the Stripe event is no longer stored."),
    NotReplayed.STATUS_CHANGED: N_("Not replayed: its status changed meanwhile; reload the page."),
}


@dataclass(frozen=True)
class Worded:
    """A message for the page, and its language when it is not the page's (None: the page's)."""

    text: str
    language: str | None = None


def word_refusal(exc: ServiceError) -> Worded:
    """`exc` in the page's language, or its English message marked as English."""
    wording = WORDINGS.get(exc.refusal) if exc.refusal is not None else None
    if wording is not None:
        try:
            return Worded(gettext(wording, **{name: isolate(value) for name, value in exc.details.items()}))
        except (KeyError, TypeError, ValueError):
            pass  # details that don't fill the wording: the service's own message is still right
    return Worded(str(exc), None if current_language().code == "en" else "en")


def word_not_replayed(result: ReplayResult, status_name: str) -> str:
    """Why `result` was not replayed, in the page's language (`status_name`: its status, translated)."""
    assert result.refused is not None
    return gettext(NOT_REPLAYED[result.refused], status=status_name)
