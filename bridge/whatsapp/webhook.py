"""Meta's webhook posts, as pure functions: the signature, the envelope, and the updates inside.

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {...}}, ...]}, ...]}

Updates are routed by `changes[].field`, never by which keys a value happens to hold (the
`calls` field carries `statuses[]` too). Every field and message type parses: what the bridge
does not act on becomes `OtherUpdate`, answered 200 like the rest (a 4xx makes Meta retry for
days and eventually disable the webhook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.whatsapp.catalogue import normalize_language


class WebhookField(StrEnum):
    MESSAGES = "messages"
    TEMPLATE_STATUS = "message_template_status_update"
    TEMPLATE_CATEGORY = "template_category_update"
    USER_PREFERENCES = "user_preferences"
    USER_ID_UPDATE = "user_id_update"


@dataclass(frozen=True)
class StatusUpdate:
    """`value.statuses[]` of a `messages` change: the fate of a message the bridge sent."""

    wamid: str
    status: str
    """sent, delivered, read, failed (played, deleted, ... are kept as given)."""
    timestamp: int
    phone_number_id: str | None = None
    recipient_id: str | None = None
    """The customer's number as Meta writes it (digits, no +); absent for a send to a user id."""
    recipient_user_id: str | None = None
    """The business-scoped user id (BSUID), when Meta gives one."""
    parent_user_id: str | None = None
    """The parent BSUID, whichever of Meta's spellings carried it."""
    callback_data: str | None = None
    """`biz_opaque_callback_data`: the bridge sends its delivery id there."""
    errors: tuple[dict[str, Any], ...] = ()
    pricing_category: str | None = None
    pricing_billable: bool | None = None
    pricing_type: str | None = None


@dataclass(frozen=True)
class Contact:
    """`value.contacts[]`: a number and the user id Meta knows it by (either may be absent)."""

    wa_id: str | None
    user_id: str | None = None
    parent_user_id: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """`value.messages[]`: something the customer sent."""

    id: str
    type: str
    timestamp: int
    phone_number_id: str | None = None
    from_phone: str | None = None
    """Digits as Meta writes them (no +); absent for a user known only by a user id."""
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    text: str | None = None
    """A text's body, a button's text, an interactive reply's title."""
    payload: str | None = None
    """A quick-reply button's payload, an interactive reply's id."""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    """The message as Meta sent it, for forwarding to a helpdesk."""


@dataclass(frozen=True)
class TemplateStatusChange:
    """`message_template_status_update`: Meta approved, paused, disabled, rejected, ... a template."""

    name: str
    language: str
    """Normalized (`en-US` → `en_US`)."""
    status: str
    """The `event`: APPROVED, PAUSED, DISABLED, REJECTED, PENDING_DELETION, FLAGGED, ..."""
    reason: str | None = None
    template_id: str | None = None
    at: int = 0
    """When Meta made the change (the entry's `time`): an older notice never overwrites a newer one."""


@dataclass(frozen=True)
class TemplateCategoryChange:
    """`template_category_update`: a template moved (or will move) to another category."""

    name: str | None
    language: str | None
    previous_category: str | None
    new_category: str | None
    template_id: str | None = None
    effective: bool = True
    """False for Meta's advance warning (`correct_category`), True once the category changed."""
    at: int = 0


@dataclass(frozen=True)
class PreferenceChange:
    """`user_preferences`: the customer stopped or resumed marketing messages (or signed up)."""

    wa_id: str | None
    user_id: str | None
    category: str
    value: str
    """stop, resume, or another value (a `signup`) kept as given."""
    timestamp: int
    detail: str | None = None


@dataclass(frozen=True)
class UserIdChange:
    """`user_id_update`: Meta gave the customer a new business-scoped user id (a BSUID changes
    with the number): consent recorded under the old id carries over."""

    wa_id: str | None
    previous: str
    current: str


@dataclass(frozen=True)
class OtherUpdate:
    """A field or item the bridge does not act on (calls, echoes, account updates, ...): counted."""

    field: str
    kind: str = ""


Update = (
    StatusUpdate | Contact | InboundMessage | TemplateStatusChange | TemplateCategoryChange | PreferenceChange | UserIdChange | OtherUpdate
)


class EnvelopeError(ValueError):
    """A signed body that is not one of Meta's webhook posts (answered 400: it will never parse)."""


def validate_envelope(document: Any) -> None:
    """Raise EnvelopeError unless `document` has Meta's envelope: `object`, and `entry[]` whose
    `changes[]` each carry a `field` and a `value`. What is inside a value is never refused."""
    if not isinstance(document, dict) or not isinstance(document.get("object"), str):
        raise EnvelopeError('not a webhook post from Meta: the body has no "object"')
    entries = document.get("entry")
    if not isinstance(entries, list):
        raise EnvelopeError('not a webhook post from Meta: "entry" must be a list')
    for i, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise EnvelopeError(f'not a webhook post from Meta: entry[{i}] has no "changes" list')
        for j, change in enumerate(changes):
            if not isinstance(change, dict) or not isinstance(change.get("field"), str) or "value" not in change:
                raise EnvelopeError(f'not a webhook post from Meta: entry[{i}].changes[{j}] needs a "field" and a "value"')


WABA_OBJECT = "whatsapp_business_account"


def parse_updates(document: Any) -> list[Update]:
    """Every update in a post that has Meta's envelope (see `validate_envelope`), in order.

    Never raises on what is inside: an item of an unexpected shape becomes an `OtherUpdate` of
    kind "malformed", counted like the fields the bridge does not act on.
    """
    validate_envelope(document)
    if document["object"] != WABA_OBJECT:  # an app's other subscriptions (pages, ...) on the same URL
        return [OtherUpdate(str(document["object"]), "object")]
    updates: list[Update] = []
    for entry in document["entry"]:
        at = _int(entry.get("time"))
        for change in entry["changes"]:
            updates += _parse_change(change["field"], change["value"], at)
    return updates


def _parse_change(field_name: str, value: Any, entry_time: int) -> list[Update]:
    if not isinstance(value, dict):
        return [OtherUpdate(field_name, "malformed")]
    if field_name == WebhookField.MESSAGES:
        return _parse_messages(value)
    if field_name == WebhookField.TEMPLATE_STATUS:
        return [_template_status(value, entry_time)]
    if field_name == WebhookField.TEMPLATE_CATEGORY:
        return [_template_category(value, entry_time)]
    if field_name == WebhookField.USER_PREFERENCES:
        contacts = [_contact(c) for c in _list(value.get("contacts"))]
        return [*contacts, *(_preference(p) for p in _list(value.get("user_preferences")))] or [OtherUpdate(field_name, "empty")]
    if field_name == WebhookField.USER_ID_UPDATE:
        return [_user_id_change(item) for item in _list(value.get("user_id_update"))] or [OtherUpdate(field_name, "empty")]
    return [OtherUpdate(field_name)]


def _parse_messages(value: dict[str, Any]) -> list[Update]:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    number = _str(metadata.get("phone_number_id"))
    contacts = [_contact(c) for c in _list(value.get("contacts"))]
    # A message that names no sender is from the change's one contact, when there is one.
    sender = contacts[0] if len(contacts) == 1 and isinstance(contacts[0], Contact) else None
    updates: list[Update] = list(contacts)
    updates += [_status(s, number) for s in _list(value.get("statuses"))]
    updates += [_inbound(m, number, sender) for m in _list(value.get("messages"))]
    if value.get("errors"):
        updates.append(OtherUpdate(WebhookField.MESSAGES, "errors"))
    return updates or [OtherUpdate(WebhookField.MESSAGES, "empty")]


_PARENT_RECIPIENT = ("parent_recipient_user_id", "recipient_parent_user_id", "parent_user_id")
"""The parent BSUID of a status, as peers' captured payloads spell it: each is accepted."""


def _status(item: Any, number: str | None) -> Update:
    if not isinstance(item, dict) or not _str(item.get("id")) or not _str(item.get("status")):
        return OtherUpdate(WebhookField.MESSAGES, "malformed")
    pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
    billable = pricing.get("billable")
    return StatusUpdate(
        wamid=str(item["id"]),
        status=str(item["status"]).lower(),
        timestamp=_int(item.get("timestamp")),
        phone_number_id=number,
        recipient_id=_str(item.get("recipient_id")),
        recipient_user_id=_str(item.get("recipient_user_id")),
        parent_user_id=_first(item, _PARENT_RECIPIENT),
        callback_data=_str(item.get("biz_opaque_callback_data")),
        errors=tuple(e for e in _list(item.get("errors")) if isinstance(e, dict)),
        pricing_category=_str(pricing.get("category")),
        pricing_billable=billable if isinstance(billable, bool) else None,
        pricing_type=_str(pricing.get("type")),
    )


def _contact(item: Any) -> Update:
    if not isinstance(item, dict):
        return OtherUpdate("contacts", "malformed")
    return Contact(
        wa_id=_str(item.get("wa_id")), user_id=_str(item.get("user_id")), parent_user_id=_first(item, ("parent_user_id", "parent_id"))
    )


def _inbound(item: Any, number: str | None, sender: Contact | None) -> Update:
    if not isinstance(item, dict) or not _str(item.get("id")):
        return OtherUpdate(WebhookField.MESSAGES, "malformed")
    kind = _str(item.get("type")) or "unknown"
    text, payload = _reply_text(kind, item)
    from_phone, from_user_id = _str(item.get("from")), _str(item.get("from_user_id"))
    if sender is not None and not from_phone and not from_user_id:
        from_phone, from_user_id = sender.wa_id, sender.user_id
    return InboundMessage(
        id=str(item["id"]),
        type=kind,
        timestamp=_int(item.get("timestamp")),
        phone_number_id=number,
        from_phone=from_phone,
        from_user_id=from_user_id,
        from_parent_user_id=_first(item, ("from_parent_user_id", "parent_user_id")),
        text=text,
        payload=payload,
        raw=item,
    )


def _reply_text(kind: str, item: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the words the customer sent or tapped, a button's payload) of an inbound message."""
    part = item.get(kind) if isinstance(item.get(kind), dict) else {}
    if kind == "text":
        return _str(part.get("body")), None
    if kind == "button":
        return _str(part.get("text")), _str(part.get("payload"))
    if kind == "interactive":
        for reply in ("button_reply", "list_reply"):
            chosen = part.get(reply)
            if isinstance(chosen, dict):
                return _str(chosen.get("title")), _str(chosen.get("id"))
    return None, None


def _template_status(value: dict[str, Any], entry_time: int) -> Update:
    name, language, event = (_str(value.get(k)) for k in ("message_template_name", "message_template_language", "event"))
    if not name or not language or not event:
        return OtherUpdate(WebhookField.TEMPLATE_STATUS, "malformed")
    reason = _str(value.get("reason"))
    return TemplateStatusChange(
        name=name,
        language=normalize_language(language),
        status=event.upper(),
        reason=None if reason in (None, "NONE") else reason,
        template_id=_str(value.get("message_template_id")),
        at=entry_time,
    )


def _template_category(value: dict[str, Any], entry_time: int) -> Update:
    language = _str(value.get("message_template_language"))
    new = _str(value.get("new_category"))
    upcoming = _str(value.get("correct_category"))
    if not (new or upcoming):
        return OtherUpdate(WebhookField.TEMPLATE_CATEGORY, "malformed")
    return TemplateCategoryChange(
        name=_str(value.get("message_template_name")),
        language=normalize_language(language) if language else None,
        previous_category=_upper(value.get("previous_category")),
        new_category=_upper(new or upcoming),
        template_id=_str(value.get("message_template_id")),
        effective=new is not None,
        at=_int(value.get("category_update_timestamp")) or entry_time,
    )


def _preference(item: Any) -> Update:
    if not isinstance(item, dict) or not _str(item.get("value")):
        return OtherUpdate(WebhookField.USER_PREFERENCES, "malformed")
    return PreferenceChange(
        wa_id=_str(item.get("wa_id")),
        user_id=_str(item.get("user_id")),
        category=_str(item.get("category")) or "",
        value=str(item["value"]).lower(),
        timestamp=_int(item.get("timestamp")),
        detail=_str(item.get("detail")),
    )


def _user_id_change(item: Any) -> Update:
    ids = item.get("user_id") if isinstance(item, dict) else None
    previous, current = (_str(ids.get(k)) for k in ("previous", "current")) if isinstance(ids, dict) else (None, None)
    if not previous or not current:
        return OtherUpdate(WebhookField.USER_ID_UPDATE, "malformed")
    return UserIdChange(wa_id=_str(item.get("wa_id")), previous=previous, current=current)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    """A non-empty string field (Meta sends ids and numbers as strings; a number is taken too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _upper(value: Any) -> str | None:
    text = _str(value)
    return text.upper() if text else None


def _first(item: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((found for found in (_str(item.get(name)) for name in names) if found), None)


def _int(value: Any) -> int:
    """A Unix time as Meta sends it (a string of digits, sometimes a number); 0 when unusable."""
    if isinstance(value, bool):
        return 0
    try:
        number = int(value) if isinstance(value, int | str) else int(float(value)) if isinstance(value, float) else 0
    except (ValueError, OverflowError):
        return 0
    return number if 0 <= number < 10**11 else 0
