"""The job that processes one post from Meta's webhook: each update to the part that acts on it.

A post is acted on update by update. Each is safe to act on twice (the job is re-run after a
crash, Meta repeats notifications for days): statuses and inbound messages carry a seen-mark set
in the same Redis step as their effect, template and consent changes keep only the newest
notice. The stored post is dropped once every update was handled.
"""

from __future__ import annotations

import logging
from collections import Counter

from bridge.errors import StoreUnavailable
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.updates.inbound import carry_user_id, handle_message, link_contact
from bridge.updates.ingest import post_label
from bridge.updates.preferences import apply_preference
from bridge.updates.statuses import apply_status
from bridge.updates.templates import apply_category_change, apply_template_status
from bridge.whatsapp.webhook import (
    Contact,
    InboundMessage,
    OtherUpdate,
    PreferenceChange,
    StatusUpdate,
    TemplateCategoryChange,
    TemplateStatusChange,
    Update,
    UserIdChange,
    parse_updates,
)

logger = logging.getLogger(__name__)


def process_post(rt: Runtime, key: str) -> str:
    """Act on every update of a stored post, then mark the post processed; returns a summary."""
    document = rt.store.meta_post(key)
    if document is None:
        return "already processed"
    outcomes = Counter(_handle_safely(rt, update) for update in parse_updates(document))
    rt.store.forget_meta_post(key)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing"
    logger.info("meta post processed", extra=log_fields(post=post_label(key), outcome=summary))
    return summary


def _handle_safely(rt: Runtime, update: Update) -> str:
    """One update; a bug in handling one never loses the others (Redis outages re-run the job)."""
    try:
        return handle(rt, update)
    except StoreUnavailable:
        raise
    except Exception:
        logger.exception("could not act on an update from Meta's webhook", extra=log_fields(update=type(update).__name__))
        rt.store.count("updates_failed")
        return "failed"


def handle(rt: Runtime, update: Update) -> str:
    """Act on one update; returns what happened, as a word for the summary."""
    match update:
        case StatusUpdate():
            return f"status {apply_status(rt, update)}"
        case Contact():
            return link_contact(rt, update)
        case InboundMessage():
            return f"message {handle_message(rt, update)}"
        case TemplateStatusChange():
            return apply_template_status(rt, update)
        case TemplateCategoryChange():
            return apply_category_change(rt, update)
        case PreferenceChange():
            return apply_preference(rt, update)
        case UserIdChange():
            return carry_user_id(rt, update)
        case OtherUpdate():
            rt.store.count(f"ignored {update.field[:64]}" + (f" ({update.kind[:32]})" if update.kind else ""))
            return "ignored"
    raise TypeError(f"not an update: {type(update).__name__}")
