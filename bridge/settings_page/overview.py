"""/admin: the overview (connection checks, the last 24 hours, messages sent per hour), Resume, and
checking the WhatsApp token again."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from bridge.delivery.records import SkipReason, Status
from bridge.services import activity
from bridge.services.sending import resume_sending
from bridge.services.token_check import TokenState, token_check
from bridge.settings_page.charts import bar_chart
from bridge.settings_page.i18n import N_, _, hour_label, number, translate
from bridge.web.common import runtime

pages = Blueprint("overview", __name__)

STATUS_NAMES: dict[str, str] = {
    Status.QUEUED: N_("queued"),
    Status.SENDING: N_("sending"),
    Status.RETRYING: N_("retrying"),
    Status.AMBIGUOUS: N_("unclear, held"),
    Status.PAUSED: N_("paused"),
    Status.SENT: N_("sent"),
    Status.DELIVERED: N_("delivered"),
    Status.READ: N_("read"),
    Status.FAILED: N_("failed"),
    Status.SKIPPED: N_("skipped"),
    Status.DRY_RUN: N_("dry run"),
}


SKIP_REASONS: dict[str, str] = {
    SkipReason.OPTED_OUT: N_("The customer opted out of these messages."),
    SkipReason.NO_CONSENT: N_("No consent on record for this customer."),
    SkipReason.TEMPLATE_UNAVAILABLE: N_("The template can't be sent now (paused, disabled or not approved)."),
    SkipReason.WHEN_FALSE: N_("The mapping's condition did not hold for this event."),
    SkipReason.NO_RECIPIENT: N_("No phone number was found for this customer."),
    SkipReason.MISSING_DATA: N_("The event lacks data the message needs."),
    SkipReason.SUPERSEDED: N_("A later event about the same payment was sent instead."),
}


def skip_reason(code: str) -> str:
    """Why a delivery was skipped, in the page's language (the code itself when unknown)."""
    return translate(SKIP_REASONS[code]) if code in SKIP_REASONS else code


QUALITY_NAMES: dict[str, str] = {
    "GREEN": N_("high (green)"),
    "YELLOW": N_("medium (yellow)"),
    "RED": N_("low (red)"),
    "NA": N_("not rated yet"),
    "UNKNOWN": N_("not rated yet"),
}
"""Meta's quality ratings of a sending number; one Meta adds later is shown as Meta writes it."""


def status_name(status: str) -> str:
    """A delivery status in the page's language."""
    return translate(STATUS_NAMES.get(status, status))


def quality_name(rating: str) -> str:
    """Meta's quality rating of the number in the page's language."""
    return translate(QUALITY_NAMES.get(rating.upper(), rating))


@pages.get("/")
def show() -> str:
    rt = runtime()
    now = rt.clock()
    figures = activity.overview_figures(rt, now=now)
    return render_template(
        "overview.html",
        checks=activity.connections(rt, now=now),
        by_status=figures["by_status"],
        chart=hourly_chart(figures["hourly"]),
        dry_run=rt.config.whatsapp.dry_run,
        now=now,
        status_name=status_name,
        quality_name=quality_name,
        TokenState=TokenState,
    )


def hourly_chart(hourly: activity.Hourly) -> Markup:
    """The messages-sent-per-hour chart, labelled in the page's language."""
    hours = [hourly.start + i * activity.HOUR for i in range(len(hourly.counts))]
    return bar_chart(
        hourly.counts,
        [hour_label(h) for h in hours],
        title=_("Messages sent per hour, last 24 hours (UTC)"),
        bar_titles=[
            _("%(hour)s:00 UTC: %(count)s", hour=hour_label(h), count=number(n)) for h, n in zip(hours, hourly.counts, strict=True)
        ],
        format_number=number,
    )


@pages.post("/resume")
def resume() -> Response:
    resumed = resume_sending(runtime(), by="settings page")
    if resumed.was_paused is None:
        flash(_("Sending was not paused."), "info")
    else:
        flash(_("Sending resumed: %(count)s held messages queued again.", count=number(resumed.requeued)), "success")
    return redirect(url_for("overview.show"), 303)


@pages.post("/check-token")
def check_token() -> Response:
    """Ask Meta about the token now, instead of showing the answer of a few minutes ago."""
    rt = runtime()
    token_check(rt, now=rt.clock(), refresh=True)
    flash(_("The WhatsApp token was checked again."), "info")
    return redirect(url_for("overview.show"), 303)
