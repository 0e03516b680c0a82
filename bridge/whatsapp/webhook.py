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


class WebhookField(StrEnum):
    MESSAGES = "messages"
    TEMPLATE_STATUS = "message_template_status_update"
    TEMPLATE_CATEGORY = "template_category_update"
    USER_PREFERENCES = "user_preferences"


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


@dataclass(frozen=True)
class PreferenceChange:
    """`user_preferences`: the customer stopped or resumed marketing messages (or signed up)."""

    wa_id: str | None
    user_id: str | None
    category: str
    value: str
    """stop, resume, or another value (a `signup`) kept as given."""
    timestamp: int


@dataclass(frozen=True)
class OtherUpdate:
    """A field or item the bridge does not act on (calls, echoes, account updates, ...): counted."""

    field: str
    kind: str = ""


Update = StatusUpdate | Contact | InboundMessage | TemplateStatusChange | TemplateCategoryChange | PreferenceChange | OtherUpdate


def parse_updates(document: Any) -> list[Update]:
    """Every update in a post that has Meta's envelope (see `validate_envelope`)."""
    raise NotImplementedError  # being written
