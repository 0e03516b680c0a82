"""Meta's `user_preferences` webhook: a customer stopped or resumed marketing messages.

Only marketing consent changes: `stop` opts the customer out of MARKETING templates (receipts
still go), `resume` and a marketing `signup` opt them back in to marketing. A signup is recorded
as consent to marketing, never to everything. The newest notice wins, whatever order Meta
delivers them in.
"""

from __future__ import annotations

import logging

from bridge.delivery.optouts import Decided, Scope
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.updates.inbound import identities
from bridge.whatsapp.phones import from_wa_id, mask_phone, mask_user_id
from bridge.whatsapp.webhook import PreferenceChange

logger = logging.getLogger(__name__)

MARKETING_CATEGORY = "marketing_messages"
OPTED_OUT = "stop"
OPTED_IN = ("resume", "signup")


def apply_preference(rt: Runtime, change: PreferenceChange) -> str:
    if change.category != MARKETING_CATEGORY or change.value not in (OPTED_OUT, *OPTED_IN):
        rt.store.count(f"preferences ignored ({change.category[:32]} {change.value[:16]})")
        return "preference ignored"
    phone = from_wa_id(change.wa_id) or (rt.optouts.phone_for_user(change.user_id) if change.user_id else None)
    names = identities(phone, change.user_id)
    if not names:
        return "preference without a customer"
    at = float(change.timestamp) if change.timestamp else rt.clock()
    source = f"WhatsApp marketing preference: {change.value}"
    record = rt.optouts.opt_out if change.value == OPTED_OUT else rt.optouts.opt_in
    decided = record(names, Scope.MARKETING, at=at, source=source, detail=change.detail)
    if decided is not Decided.STALE:
        user = mask_user_id(change.user_id) if not phone else None
        values = log_fields(phone=mask_phone(phone), user=user, outcome=change.value, scope=Scope.MARKETING.value)
        logger.info("customer's marketing preference (Meta's user_preferences)", extra=values)
    return f"preference {change.value}"
