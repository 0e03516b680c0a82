"""Template health from Meta's webhook: paused, disabled or rejected templates stop being sent;
a template moved to MARKETING is flagged.

A state change applies at once to every worker (the gate reads it in its send step): a message
for a template Meta will refuse is recorded `skipped` with reason `template_unavailable` instead
of being sent to fail with 132015/132016. Once Meta approves the template again, `bridge replay
--skipped --reason template_unavailable` sends what was held back.
"""

from __future__ import annotations

import logging

from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.whatsapp.catalogue import Category
from bridge.whatsapp.webhook import TemplateCategoryChange, TemplateStatusChange

logger = logging.getLogger(__name__)


def mappings_using(rt: Runtime, name: str, language: str | None) -> list[str]:
    """The mappings that send template `name` (in `language`, when given)."""
    return sorted(
        m.name for m in rt.mappings.values() if m.settings.template == name and (language is None or language in m.settings.languages)
    )


def apply_template_status(rt: Runtime, change: TemplateStatusChange) -> str:
    at = float(change.at) if change.at else rt.clock()
    state = rt.templates.record_status(
        change.name, change.language, change.status, at=at, reason=change.reason, template_id=change.template_id
    )
    if state is None:
        return "template status (older than the one on record)"
    users = ", ".join(mappings_using(rt, change.name, change.language)) or "none"
    why = f" ({change.reason})" if change.reason else ""
    if not state.sendable:
        logger.error(
            "Meta reports template %s [%s] as %s%s: its messages are skipped (template_unavailable) until Meta approves it "
            "again; mappings using it: %s",
            change.name,
            change.language,
            change.status,
            why,
            users,
            extra=log_fields(template=change.name, language=change.language, status=change.status),
        )
    else:
        logger.warning(
            "Meta reports template %s [%s] as %s%s; mappings using it: %s. Messages skipped while it was unavailable: "
            "bridge replay --skipped --reason template_unavailable",
            change.name,
            change.language,
            change.status,
            why,
            users,
            extra=log_fields(template=change.name, language=change.language, status=change.status),
        )
    return f"template {change.status.lower()}"


def apply_category_change(rt: Runtime, change: TemplateCategoryChange) -> str:
    if not change.name or not change.language or not change.new_category:
        rt.store.count("template category changes without a name or language")
        return "template category (unnamed)"
    at = float(change.at) if change.at else rt.clock()
    users = ", ".join(mappings_using(rt, change.name, change.language)) or "none"
    if not change.effective:
        logger.warning(
            "Meta will move template %s [%s] to %s; mappings using it: %s",
            change.name,
            change.language,
            change.new_category,
            users,
            extra=log_fields(template=change.name, language=change.language, category=change.new_category),
        )
        return "template category warning"
    state = rt.templates.record_category(
        change.name, change.language, change.new_category, at=at, previous=change.previous_category, template_id=change.template_id
    )
    if state is None:
        return "template category (older than the one on record)"
    if change.new_category == Category.MARKETING:
        logger.warning(
            "Meta moved template %s [%s] from %s to MARKETING: Meta now bills it as marketing, caps it per customer, and customers "
            "who stopped marketing messages no longer get it; mappings using it: %s. Ask Meta to review the category, or use a "
            "UTILITY template for payment notices",
            change.name,
            change.language,
            change.previous_category or "another category",
            users,
            extra=log_fields(template=change.name, language=change.language, category=change.new_category),
        )
    else:
        rt.optouts.forget_marketing_template(change.name)
        values = log_fields(template=change.name, language=change.language, category=change.new_category)
        logger.info("Meta moved template %s [%s] to %s", change.name, change.language, change.new_category, extra=values)
    return f"template category {change.new_category.lower()}"
