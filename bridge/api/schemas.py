"""The admin API's request and response bodies: the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, validate

from bridge import defaults
from bridge.delivery.optouts import Scope
from bridge.delivery.records import FLAG_FIELDS, INTEGER_FIELDS, TIME_FIELDS, Field, SkipReason, Status
from bridge.services.mappings import MappingSource

# -- shared ---------------------------------------------------------------------------------------


class Strict(Schema):
    """Request bodies and queries: an unknown name is a mistake the caller should see (422)."""

    class Meta:
        unknown = RAISE


class Moment(fields.Field):
    """A time given as an ISO 8601 date/time (UTC when no offset is given) or a unix timestamp."""

    def __init__(self, **kwargs: Any):
        # Text (an ISO date/time, a duration such as 3d, digits) or, in a JSON body, a number.
        forms = [{"type": "string", "example": "2026-12-01T00:00:00Z"}, {"type": "number", "example": 1796083200}]
        super().__init__(metadata={"oneOf": forms, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        from bridge.services.times import parse_moment

        try:
            return parse_moment(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "What went wrong, in the operator's terms."})
    errors = fields.Dict(metadata={"description": "Per-field problems of a request that did not validate."})
    meta_error = fields.Dict(metadata={"description": "Meta's error (code, title, meaning, fix) when Meta refused a send."})


# -- deliveries -----------------------------------------------------------------------------------


def _record_field(name: Field) -> fields.Field:
    if name in INTEGER_FIELDS:
        return fields.Integer(allow_none=True)
    if name in TIME_FIELDS:
        return fields.Float(allow_none=True, metadata={"description": "Unix time, seconds."})
    if name in FLAG_FIELDS:
        return fields.Boolean(allow_none=True)
    if name is Field.STATUS:
        return fields.String(validate=validate.OneOf([s.value for s in Status]))
    return fields.String(allow_none=True)


DeliverySchema = Schema.from_dict(
    {"id": fields.String(required=True), **{f.value: _record_field(f) for f in Field}},
    name="Delivery",
)
"""A delivery record: every field `bridge.delivery.records.Field` names; numbers masked."""


class HistoryEntrySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String()
    at = fields.Float(metadata={"description": "Unix time, seconds."})
    by = fields.String(metadata={"description": "bridge, meta or an operator."})
    details = fields.Method("_details", metadata={"description": "The rest of the entry: Meta's error, the wamid, ..."})

    def _details(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k not in ("status", "at", "by")}


class DeliveryWithHistorySchema(DeliverySchema):  # type: ignore[valid-type,misc]
    history = fields.List(fields.Nested(HistoryEntrySchema))


class DeliveryQuerySchema(Strict):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    event = fields.String(validate=validate.Length(min=1, max=255), metadata={"description": "Only deliveries of this event (evt_...)."})
    since = Moment(metadata={"description": "Only deliveries created at or after this time."})
    cursor = fields.String(
        validate=validate.Regexp(r"^[0-9]{1,20}(\.[0-9]{1,20})?:[!-~]{1,600}$", error="not a cursor given by this bridge"),
        metadata={"description": "A page's next_cursor."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=defaults.API_PAGE_MAX))


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True, metadata={"description": "The next page's cursor; null: the end."})


class ReplayOneSchema(Strict):
    force = fields.Boolean(load_default=False, metadata={"description": "Also replay a delivery already sent (sends it again)."})


class ReplayResultSchema(Schema):
    id = fields.String(attribute="delivery", required=True)
    replayed = fields.Boolean(required=True)
    outcome = fields.String(required=True)


class ReplaySelectionSchema(Strict):
    status = fields.String(required=True, validate=validate.OneOf([Status.FAILED.value, Status.SKIPPED.value]))
    since = Moment(metadata={"description": "Only deliveries created at or after this time."})
    reason = fields.String(
        validate=validate.OneOf([r.value for r in SkipReason]), metadata={"description": "With status skipped: only this reason."}
    )
    force = fields.Boolean(load_default=False)


class ReplaySummarySchema(Schema):
    replayed = fields.Integer(required=True)
    not_replayed = fields.Integer(required=True)
    results = fields.List(fields.Nested(ReplayResultSchema), required=True)


# -- mappings -------------------------------------------------------------------------------------


class ProblemSchema(Schema):
    file = fields.String(required=True)
    key = fields.String(required=True)
    problem = fields.String(required=True)


class MappingSchema(Schema):
    name = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    template = fields.String(required=True)
    languages = fields.List(fields.String(), required=True)
    table = fields.Dict(required=True, metadata={"description": "The [[mappings]] table as written in the config, or as saved."})
    source = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in MappingSource]),
        metadata={"description": "file; saved (in Redis, from the API or the settings page); saved_over_file (overrides the file's)."},
    )
    problems = fields.List(fields.Nested(ProblemSchema), required=True, metadata={"description": "check-config's problems about it."})
    warnings = fields.List(fields.String(), required=True, metadata={"description": "check-config's warnings about it."})


class MappingListSchema(Schema):
    items = fields.List(fields.Nested(MappingSchema), required=True)


class MappingTableSchema(Schema):
    """A [[mappings]] table, as in the config file; checked as `bridge check-config` checks one."""

    class Meta:
        unknown = INCLUDE

    name = fields.String(metadata={"description": "Must be the path's name; omitted: the path's."})


class MappingRefusedSchema(ErrorSchema):
    """`problems` and `warnings` are there when check-config refused the table (not when the request itself did not validate)."""

    problems = fields.List(fields.Nested(ProblemSchema), metadata={"description": "check-config's problems: why it was not saved."})
    warnings = fields.List(fields.String(), metadata={"description": "check-config's warnings about it."})


class MappingDeletedSchema(Schema):
    name = fields.String(required=True)
    file_applies = fields.Boolean(required=True, metadata={"description": "The file has a mapping of that name, which applies again."})


class PreviewRequestSchema(Strict):
    event_type = fields.String(
        validate=validate.Length(min=1, max=255), metadata={"description": "Render this sample event type (default: the mapping's first)."}
    )
    event = fields.Dict(metadata={"description": "A Stripe event object to render instead of a sample (from the Dashboard or the API)."})


class FilledTextSchema(Schema):
    header = fields.String(allow_none=True)
    body = fields.String(required=True)
    footer = fields.String(allow_none=True)
    buttons = fields.List(fields.String())


class PreviewSchema(Schema):
    mapping = fields.String(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    skipped = fields.String(allow_none=True, metadata={"description": "Why nothing would be sent; null when something would."})
    language = fields.String(allow_none=True)
    recipients = fields.List(fields.String(), metadata={"description": "Masked numbers."})
    requests = fields.List(fields.Dict(), metadata={"description": "The Cloud API bodies, as the worker sends them (numbers masked)."})
    text = fields.Nested(FilledTextSchema, allow_none=True, metadata={"description": "The message as read; null without a snapshot."})
    adjustments = fields.List(fields.String())


class ValidateRequestSchema(Strict):
    mappings = fields.List(
        fields.Dict(),
        metadata={"description": "[[mappings]] tables to check against the running config; omitted: check the config file as it is."},
    )


class FindingsSchema(Schema):
    ok = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(ProblemSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    rendered = fields.List(fields.String(), required=True)


# -- templates ------------------------------------------------------------------------------------


class TemplateSchema(Schema):
    name = fields.String(required=True)
    language = fields.String(required=True)
    status = fields.String(required=True)
    category = fields.String(required=True)
    parameter_format = fields.String()
    header = fields.Dict(allow_none=True)
    body = fields.Dict()
    buttons = fields.List(fields.Dict())
    id = fields.String(allow_none=True)
    reported_at = fields.Float(allow_none=True)


class ReportedOnlySchema(Schema):
    name = fields.String(required=True)
    language = fields.String(required=True)
    status = fields.String(allow_none=True)
    category = fields.String(allow_none=True)


class TemplateListSchema(Schema):
    snapshot = fields.String(required=True, metadata={"description": "The snapshot file."})
    pulled_at = fields.Float(allow_none=True, required=True, metadata={"description": "Null: nothing pulled yet."})
    business_account_id = fields.String(allow_none=True)
    items = fields.List(fields.Nested(TemplateSchema), required=True)
    reported_only = fields.List(
        fields.Nested(ReportedOnlySchema), metadata={"description": "Templates Meta reported on that the snapshot lacks: pull again."}
    )


class PulledSchema(Schema):
    snapshot = fields.String(required=True)
    templates = fields.Integer(required=True)
    approved = fields.Integer(required=True)
    languages = fields.List(fields.String(), required=True)
    requests = fields.Integer(required=True)
    business_account_id = fields.String(required=True)


# -- opt-outs -------------------------------------------------------------------------------------

_PHONE = fields.String(
    required=True,
    validate=validate.Length(min=1, max=64),
    metadata={"description": "E.164 (+14155550123), or national with [whatsapp] default_country.", "example": "+14155550123"},
)


class OptOutQuerySchema(Strict):
    scope = fields.String(validate=validate.OneOf([s.value for s in Scope]))


class OptOutSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    phone = fields.String(required=True, metadata={"description": "Masked number, a WhatsApp user id, or (erased number)."})
    scope = fields.String(required=True)
    at = fields.Float(allow_none=True)
    source = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    template = fields.String(allow_none=True)


class OptOutListSchema(Schema):
    items = fields.List(fields.Nested(OptOutSchema), required=True)


class OptOutAddSchema(Strict):
    phone = _PHONE
    scope = fields.String(load_default=Scope.ALL.value, validate=validate.OneOf([s.value for s in Scope]))
    note = fields.String(validate=validate.Length(max=500))


class OptOutRemoveSchema(Strict):
    phone = _PHONE
    scope = fields.String(validate=validate.OneOf([s.value for s in Scope]), metadata={"description": "Default: every scope."})


class OptOutChangeSchema(Schema):
    phone = fields.String(required=True, metadata={"description": "Masked."})
    scopes = fields.List(fields.String(), required=True)
    changed = fields.List(fields.String(), required=True, metadata={"description": "Scopes whose state this request changed."})


class PhoneQuerySchema(Strict):
    phone = _PHONE


class ConsentSchema(Schema):
    phone = fields.String(required=True)
    mode = fields.String(required=True)
    receipts = fields.Boolean(required=True, metadata={"description": "Payment notices (utility templates) may go."})
    marketing = fields.Boolean(required=True)
    opted_out = fields.Dict(required=True)
    opted_in = fields.Dict(required=True)
    erased = fields.Boolean(required=True)


# -- sending --------------------------------------------------------------------------------------


class PauseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    meaning = fields.String(allow_none=True)
    since = fields.Float(allow_none=True)
    probe_interval = fields.Float(allow_none=True)


class StatusSchema(Schema):
    phone_number_id = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    paused = fields.Boolean(required=True)
    pause = fields.Nested(PauseSchema, allow_none=True, required=True)
    paused_elsewhere = fields.List(fields.String(), required=True)
    queued = fields.Integer(required=True)
    last_event_at = fields.Float(
        required=True, allow_none=True, metadata={"description": "When a signed Stripe event was last verified (unix time); null: never."}
    )


class ResumedSchema(Schema):
    was_paused = fields.Boolean(required=True)
    pause = fields.Nested(PauseSchema, allow_none=True, required=True)
    requeued = fields.Integer(required=True)


class SendTestRequestSchema(Strict):
    mapping = fields.String(required=True, validate=validate.Length(min=1, max=64))
    to = _PHONE
    event_type = fields.String(validate=validate.Length(min=1, max=255))
    event = fields.Dict()


class SendTestSchema(Schema):
    to = fields.String(required=True, metadata={"description": "Masked."})
    dry_run = fields.Boolean(required=True, metadata={"description": "Nothing was sent: the request is in the outbox."})
    wamid = fields.String(allow_none=True)
    message_status = fields.String(allow_none=True)


class OutboxQuerySchema(Strict):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))


class OutboxSchema(Schema):
    items = fields.List(fields.Dict(), required=True)


# -- customers ------------------------------------------------------------------------------------


class CustomerExportSchema(Schema):
    phone = fields.String(required=True)
    identities = fields.List(fields.String(), required=True)
    consent = fields.Dict(required=True)
    deliveries = fields.List(fields.Dict(), required=True)
    events = fields.List(fields.Dict(), required=True)
    whatsapp_updates = fields.List(fields.Raw(), required=True)
    outbox = fields.List(fields.Raw(), required=True)
    jobs = fields.List(fields.Dict(), required=True)
    erased = fields.Boolean(required=True)


class EraseRequestSchema(Strict):
    phone = _PHONE
    confirm = fields.Boolean(required=True, metadata={"description": "Must be true: the erase cannot be undone."})


class ErasedSchema(Schema):
    removed = fields.Integer(required=True, metadata={"description": "Records removed, all kinds together."})
    deliveries = fields.Integer(required=True)
    events = fields.Integer(required=True)
    whatsapp_posts = fields.Integer(required=True)
    seen_marks = fields.Integer(required=True)
    jobs = fields.Integer(required=True)
    outbox = fields.Integer(required=True)
    consent = fields.Integer(required=True)
    user_ids = fields.Integer(required=True)
    other_keys = fields.Integer(required=True)
    jobs_running = fields.Integer(required=True)
    hashed_optouts = fields.List(fields.String(), required=True)


# -- backfill -------------------------------------------------------------------------------------


class BackfillRequestSchema(Strict):
    since = Moment(required=True, metadata={"description": "Events created since: 3d, 12h, an ISO date/time or a unix time."})
    types = fields.List(fields.String(validate=validate.Length(min=1, max=255)), validate=validate.Length(max=100))
    dry_run = fields.Boolean(load_default=False)


class BackfillQueuedSchema(Schema):
    job = fields.String(required=True)
    status = fields.String(required=True)
    since = fields.Float(required=True)
    types = fields.List(fields.String(), required=True)


class BackfillEventSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    created = fields.Integer(required=True)
    outcome = fields.String(required=True)
    why = fields.String()


class BackfillReportSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    listed = fields.Integer(required=True)
    events = fields.List(fields.Nested(BackfillEventSchema), required=True)
    error = fields.String(
        allow_none=True, required=True, metadata={"description": "What stopped it (Stripe refused, Redis away); null: nothing."}
    )


class BackfillStatusSchema(Schema):
    job = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued, started, finished, failed, ..."})
    result = fields.Nested(BackfillReportSchema, allow_none=True, required=True)
