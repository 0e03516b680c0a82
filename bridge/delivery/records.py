"""The delivery record: its fields, its statuses and the state machine's vocabulary, in one place.

A delivery is one (event, mapping) pair, id `{evt_id}:{mapping}`, kept as a Redis hash. Status
moves queued → sending → sent | failed | skipped | dry_run; sending → retrying | paused |
ambiguous → sending; and, as Meta's webhook reports, sent → delivered → read (or failed).
Every change of status is also appended to the delivery's history. Python writes fields through `Store` (which checks every name against
`Field`), and the Lua scripts get the same names and status sets from `lua_with_schema()`: no field
name or status list is written twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from bridge.errors import DeliveryError


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    AMBIGUOUS = "ambiguous"
    PAUSED = "paused"
    SENT = "sent"
    DELIVERED = "delivered"
    """Meta's webhook: on the customer's phone."""
    READ = "read"
    """Meta's webhook: the customer opened it."""
    FAILED = "failed"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"


CLAIMABLE = frozenset({Status.QUEUED, Status.RETRYING, Status.PAUSED})
"""A job may take these into `sending` (also `ambiguous` when resending, and a `sending` whose
request never went out)."""
FINAL = frozenset({Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED, Status.SKIPPED, Status.DRY_RUN})
"""Nothing more happens to these unless an operator replays them (or Meta reports on them)."""
NOTICE_WENT_OUT = frozenset({Status.SENT, Status.DELIVERED, Status.READ, Status.DRY_RUN})
"""Counts as "the notice about this payment went out" for the ordering rule."""
META_PROGRESS = (Status.SENT, Status.DELIVERED, Status.READ)
"""Meta's statuses in the order they happen: a record only ever moves forward along them."""
REPLAYABLE = frozenset({Status.FAILED, Status.SKIPPED, Status.DRY_RUN, Status.AMBIGUOUS, Status.PAUSED})
"""What `bridge replay` re-queues without --force."""


class SkipReason(StrEnum):
    """Why a delivery was skipped, as a word a script can filter on (the record's `reason_code`)."""

    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    TEMPLATE_UNAVAILABLE = "template_unavailable"
    WHEN_FALSE = "when_false"
    NO_RECIPIENT = "no_recipient"
    MISSING_DATA = "missing_data"
    SUPERSEDED = "superseded"


class Field(StrEnum):
    """Every field a delivery record can hold."""

    # written once, when the event is accepted
    EVENT_ID = "event_id"
    EVENT_TYPE = "event_type"
    MAPPING = "mapping"
    TEMPLATE = "template"
    LANGUAGE = "language"
    OBJECT_ID = "object_id"
    LIVEMODE = "livemode"
    EVENT_CREATED = "event_created"
    ORDER_KEY = "order_key"
    JOB_ID = "job_id"
    CREATED_AT = "created_at"
    # the state machine
    STATUS = "status"
    UPDATED_AT = "updated_at"
    ATTEMPTS = "attempts"
    THROTTLED = "throttled"
    REPLAYS = "replays"
    REPLAYED_FROM = "replayed_from"
    FIRST_ATTEMPT_AT = "first_attempt_at"
    CLAIMED_AT = "claimed_at"
    REQUEST_AT = "request_at"
    NEXT_ATTEMPT_AT = "next_attempt_at"
    WAITING_FOR = "waiting_for"
    AMBIGUOUS_AT = "ambiguous_at"
    AMBIGUOUS_RESENT = "ambiguous_resent"
    REASON = "reason"
    REASON_CODE = "reason_code"
    """Why a delivery was skipped, as a word: opted_out, no_consent, template_unavailable, ..."""
    # what was sent and what Meta answered (and later reported on its webhook)
    RECIPIENT = "recipient"
    SENT_AT = "sent_at"
    WAMID = "wamid"
    WA_ID = "wa_id"
    USER_ID = "user_id"
    """The business-scoped user id (BSUID) Meta knows the customer by, when it gives one."""
    PARENT_USER_ID = "parent_user_id"
    MESSAGE_STATUS = "message_status"
    DELIVERED_AT = "delivered_at"
    READ_AT = "read_at"
    META_FAILED_AT = "meta_failed_at"
    PRICING_CATEGORY = "pricing_category"
    PRICING_BILLABLE = "pricing_billable"
    # the last error (cleared whenever a new outcome is recorded)
    ERROR_CLASS = "error_class"
    ERROR_CODE = "error_code"
    ERROR_SUBCODE = "error_subcode"
    ERROR_TITLE = "error_title"
    ERROR_DETAILS = "error_details"
    ERROR_MESSAGE = "error_message"
    ERROR_MEANING = "error_meaning"
    ERROR_FIX = "error_fix"
    HTTP_STATUS = "http_status"


FIELD_NAMES = frozenset(Field)
INTEGER_FIELDS = frozenset(
    {Field.EVENT_CREATED, Field.ATTEMPTS, Field.THROTTLED, Field.REPLAYS, Field.ERROR_CODE, Field.ERROR_SUBCODE, Field.HTTP_STATUS}
)
TIME_FIELDS = frozenset(
    {
        Field.CREATED_AT,
        Field.UPDATED_AT,
        Field.FIRST_ATTEMPT_AT,
        Field.CLAIMED_AT,
        Field.REQUEST_AT,
        Field.NEXT_ATTEMPT_AT,
        Field.AMBIGUOUS_AT,
        Field.SENT_AT,
        Field.DELIVERED_AT,
        Field.READ_AT,
        Field.META_FAILED_AT,
    }
)
"""Unix times (float seconds)."""
FLAG_FIELDS = frozenset({Field.LIVEMODE, Field.AMBIGUOUS_RESENT, Field.PRICING_BILLABLE})
"""Stored as "1"/"0"."""

ERROR_FIELDS = (
    Field.ERROR_CODE,
    Field.ERROR_SUBCODE,
    Field.ERROR_TITLE,
    Field.ERROR_DETAILS,
    Field.ERROR_MESSAGE,
    Field.ERROR_MEANING,
    Field.ERROR_FIX,
    Field.ERROR_CLASS,
    Field.HTTP_STATUS,
)
TRANSIENT_FIELDS = (*ERROR_FIELDS, Field.NEXT_ATTEMPT_AT)
"""Cleared whenever a new outcome is recorded."""
RESET_FIELDS = (
    Field.REASON_CODE,
    Field.ATTEMPTS,
    Field.THROTTLED,
    Field.FIRST_ATTEMPT_AT,
    Field.REQUEST_AT,
    Field.CLAIMED_AT,
    Field.NEXT_ATTEMPT_AT,
    Field.REASON,
    Field.AMBIGUOUS_AT,
    Field.AMBIGUOUS_RESENT,
    *ERROR_FIELDS,
)
"""What a replay clears: the delivery starts over under its own id."""


class ClaimOutcome(StrEnum):
    """What the claim script answers (the scripts return these same strings)."""

    CLAIMED = "claimed"
    MISSING = "missing"
    TERMINAL = "terminal"
    IN_FLIGHT = "in_flight"
    """A request may be at Meta: the worker that sent it died before recording the answer."""
    AMBIGUOUS = "ambiguous"
    PAUSED = "paused"
    SUPERSEDED = "superseded"
    WAIT_ORDER = "wait_order"


class ClaimMode(StrEnum):
    NORMAL = "normal"
    PROBE = "probe"
    """The probe may claim while sending is paused: it is how a pause ends."""
    RESEND_AMBIGUOUS = "resend_ambiguous"
    """After the ambiguous wait: claim an ambiguous delivery to send it once more."""


def delivery_id(event_id: str, mapping: str, staff: int | None = None) -> str:
    """`evt_…:mapping`, or `evt_…:mapping:2` for a mapping's second staff recipient (alerts)."""
    return f"{event_id}:{mapping}" if staff is None else f"{event_id}:{mapping}:{staff}"


def split_delivery_id(value: str) -> tuple[str, str]:
    """(event id, mapping name) of a delivery id."""
    event_id, _, rest = value.partition(":")
    return event_id, rest.partition(":")[0]


def staff_position(value: str) -> int | None:
    """Which of its mapping's `recipients` a staff alert goes to (1-based), or None for a customer's delivery."""
    number = value.split(":")[2] if value.count(":") >= 2 else ""
    return int(number) if number.isdigit() else None


def error_fields(exc: DeliveryError) -> dict[str, Any]:
    """The record's description of a failed attempt, from the error Meta (or the network) gave."""
    return {
        Field.ERROR_CLASS: type(exc).__name__,
        Field.ERROR_CODE: exc.code,
        Field.ERROR_SUBCODE: exc.subcode,
        Field.ERROR_TITLE: exc.title,
        Field.ERROR_DETAILS: exc.details,
        Field.ERROR_MESSAGE: str(exc),
        Field.ERROR_MEANING: exc.meaning,
        Field.ERROR_FIX: exc.fix,
        Field.HTTP_STATUS: exc.http_status,
    }


def check_names(names: Iterable[str]) -> None:
    """Refuse a field the schema does not know: a typo must fail in tests, not write junk."""
    unknown = [name for name in names if name not in FIELD_NAMES]
    if unknown:
        raise ValueError(f"not delivery record fields: {', '.join(sorted(unknown))}")


def encode(value: Any) -> str | int | float:
    """A field value as Redis stores it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return value


def decode(raw: Mapping[Any, Any], delivery: str) -> dict[str, Any]:
    """A record as read from Redis → typed values (numbers as numbers, flags as booleans)."""
    record: dict[str, Any] = {"id": delivery}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        text = value.decode() if isinstance(value, bytes) else str(value)
        record[name] = _typed(name, text)
    return record


def _typed(name: str, text: str) -> Any:
    try:
        if name in INTEGER_FIELDS:
            return int(text)
        if name in TIME_FIELDS:
            return float(text)
    except ValueError:
        return text
    if name in FLAG_FIELDS:
        return text == "1"
    return text


_LUA_NAMES: dict[str, dict[str, str]] = {
    "F": {f.name.lower(): f.value for f in Field},
    "S": {s.name.lower(): s.value for s in Status},
    "C": {c.name.lower(): c.value for c in ClaimOutcome},
    "M": {m.name.lower(): m.value for m in ClaimMode},
    "R": {r.name.lower(): r.value for r in SkipReason},
}
_LUA_SETS = {"CLAIMABLE": CLAIMABLE, "FINAL": FINAL, "NOTICE_WENT_OUT": NOTICE_WENT_OUT}
_LUA_NAME = re.compile(r"\b([FSCMR])\.(\w+)\b")
_LUA_SET = re.compile(r"\b(CLAIMABLE|FINAL|NOTICE_WENT_OUT)\[(\w+)\]")


def lua_with_schema(source: str) -> str:
    """`source` with the schema written in, once, when a script is built.

    `F.status` → 'status' (fields), `S.sent` (statuses), `C.claimed` (claim outcomes), `M.probe`
    (claim modes), `R.superseded` (skip reasons); `FINAL[x]` → (x == 'dry_run' or x == 'failed' or ...). Literals, not Lua
    tables: a table built on every call costs Redis microseconds on every delivery. A name the
    schema does not know is a KeyError here, at import, not a nil in Redis.
    """

    def name(match: re.Match[str]) -> str:
        return f"'{_LUA_NAMES[match.group(1)][match.group(2)]}'"

    def member(match: re.Match[str]) -> str:
        variable = match.group(2)
        return "(" + " or ".join(f"{variable} == '{status}'" for status in sorted(_LUA_SETS[match.group(1)])) + ")"

    return _LUA_SET.sub(member, _LUA_NAME.sub(name, source))
