"""Why a message was not sent, as the skipped delivery's record tells it to a merchant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.delivery.gate import Refusal
from bridge.delivery.optouts import Scope
from bridge.delivery.records import SkipReason


def refusal_reason(refusal: Refusal, template: str, language: str) -> str:
    """The reason kept on a delivery the gate refused (its `reason_code` says which kind)."""
    if refusal.reason is SkipReason.OPTED_OUT:
        return opted_out_reason(refusal.scope or Scope.ALL, refusal.info, template)
    if refusal.reason is SkipReason.TEMPLATE_UNAVAILABLE:
        state = refusal.info
        why = f": {state['reason']}" if state.get("reason") else ""
        return (
            f"template unavailable: Meta reports {template} [{language}] as {state.get('status', 'not approved')}{why} "
            f"({_date(state.get('at'))}); once Meta approves it again, `bridge replay --skipped --reason template_unavailable` sends it"
        )
    return "no consent: [consent] mode is opt_in, opt_in_when is not true for this event and no opt-in is on record"


def opted_out_reason(scope: str, info: Mapping[str, Any], template: str) -> str:
    """Why a delivery was not sent to a customer who opted out."""
    when = _date(info.get("at"))
    source = info.get("source") or "unknown"
    if scope == Scope.MARKETING:
        return f"opted out: the customer stopped marketing messages ({source}, {when}) and Meta treats template {template} as marketing"
    return f"opted out: the customer asked not to be messaged on WhatsApp ({source}, {when})"


def _date(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return "unknown date"
