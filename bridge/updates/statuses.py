"""Meta's status webhooks on the delivery records: sent → delivered → read, or failed with the reason.

A status finds its delivery by `biz_opaque_callback_data` (the bridge sends its delivery id
there), else by the wamid the bridge recorded when Meta accepted the message. The record only
moves forward, keeps each status in its history, and a delivery whose outcome the bridge did
not know (`sending`, `ambiguous`) is reconciled: it went out, and is never resent. A `failed`
status keeps Meta's code and its meaning, as a refused send does.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge import defaults
from bridge.delivery.optouts import Scope
from bridge.delivery.records import Field, Status, error_fields, split_delivery_id
from bridge.errors import DeliveryError, PermanentError
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.whatsapp.errors import classify_webhook_error
from bridge.whatsapp.phones import from_wa_id, mask_phone, whatsapp_variants
from bridge.whatsapp.webhook import StatusUpdate

logger = logging.getLogger(__name__)

WHEN_FIELDS = {Status.DELIVERED: Field.DELIVERED_AT, Status.READ: Field.READ_AT, Status.FAILED: Field.META_FAILED_AT}


def apply_status(rt: Runtime, update: StatusUpdate) -> str:
    """Record one status; returns what happened (the resulting status, duplicate, unknown)."""
    seen = f"status:{update.wamid}:{update.status}"
    delivery = _delivery_for(rt, update)
    if delivery is None:
        if rt.store.first_time(seen, defaults.META_SEEN_TTL_SECONDS):
            rt.store.count("statuses_for_unknown_messages")
            logger.info("meta status for an unknown message", extra=log_fields(wamid=update.wamid, status=update.status, outcome="unknown"))
            return "unknown"
        return "duplicate"
    failure = classify_webhook_error(update.errors[0]) if update.status == Status.FAILED and update.errors else None
    result = rt.store.apply_meta_status(
        delivery,
        update.status,
        entry=_history_entry(update, failure, rt.clock()),
        fields=_fields(update),
        on_failure=error_fields(failure) if failure is not None else {},
        seen=seen,
        seen_ttl=defaults.META_SEEN_TTL_SECONDS,
        now=rt.clock(),
    )
    if result == "duplicate":
        return result
    _remember_identity(rt, update)
    if failure is not None and isinstance(failure, PermanentError) and failure.opt_out:
        _stop_marketing(rt, delivery, failure)
    event_id, mapping = split_delivery_id(delivery)
    values = log_fields(
        delivery_id=delivery,
        event_id=event_id,
        mapping=mapping,
        wamid=update.wamid,
        phone=mask_phone(update.recipient_id),
        status=update.status,
        outcome=result,
        error_code=failure.code if failure is not None else None,
    )
    logger.info("meta status", extra=values)
    return result or "unknown"


def _delivery_for(rt: Runtime, update: StatusUpdate) -> str | None:
    callback = update.callback_data or ""
    event_id, mapping = split_delivery_id(callback)
    if event_id.startswith("evt_") and mapping and rt.store.get_fields(callback, Field.STATUS):
        return callback
    return rt.store.delivery_for_wamid(update.wamid)


def _fields(update: StatusUpdate) -> dict[str, Any]:
    fields: dict[str, Any] = {
        Field.WAMID: update.wamid,
        Field.USER_ID: update.recipient_user_id,
        Field.PARENT_USER_ID: update.parent_user_id,
        Field.PRICING_CATEGORY: update.pricing_category,
        Field.PRICING_BILLABLE: update.pricing_billable,
    }
    if update.recipient_id:
        fields[Field.WA_ID] = update.recipient_id
    when = WHEN_FIELDS.get(update.status)  # type: ignore[call-overload]
    if when is not None and update.timestamp:
        fields[when] = float(update.timestamp)
    return fields


def _history_entry(update: StatusUpdate, failure: DeliveryError | None, now: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": update.status, "at": update.timestamp or now, "by": "meta"}
    if failure is not None:
        entry.update(code=failure.code, title=failure.title, meaning=failure.meaning)
    if update.pricing_category:
        entry["pricing"] = update.pricing_category
    return entry


def _remember_identity(rt: Runtime, update: StatusUpdate) -> None:
    """A status that carries both the number and the user id tells which number the id stands for."""
    phone = from_wa_id(update.recipient_id)
    if update.recipient_user_id and phone:
        rt.optouts.link(update.recipient_user_id, phone)


def _stop_marketing(rt: Runtime, delivery: str, failure: PermanentError) -> None:
    """131050 in a status webhook: as on the send path, no marketing template goes to them again."""
    record = rt.store.get_fields(delivery, Field.RECIPIENT, Field.TEMPLATE, Field.USER_ID)
    phone, template = record.get(Field.RECIPIENT), record.get(Field.TEMPLATE)
    identities = [*(whatsapp_variants(phone) if phone else ()), record.get(Field.USER_ID) or ""]
    source = f"Meta error {failure.code} (status webhook)"
    rt.optouts.opt_out(identities, Scope.MARKETING, at=rt.clock(), source=source, template=template, delivery=delivery)
