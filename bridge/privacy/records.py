"""Everything the bridge holds about one phone number, found in Redis: the service layer behind
`bridge customer export` and `bridge customer erase` (and, later, the admin API).

A customer is known by their identities: the E.164 number with its WhatsApp variants (Mexico's
521…, Argentina's 549…, Brazil's ninth digit: `whatsapp_variants`) and every business-scoped user
id (BSUID) linked to one of them: `user-phone:{user_id}` keys, the `user_id` and `parent_user_id`
of their delivery records, the contacts in Meta's posts not processed yet. A text names the
customer (`Matcher`) when it holds one of these in any form: the digits with or without "+",
formatted ("+1 415-555-0123") or national ("(415) 555-0123"), or inside a WhatsApp message id,
which Meta builds from the number ("wamid." + base64 of bytes that contain the digits).

Where they are found (keys from `bridge.keys`):
    delivery:{id}, history:{id}     records sent to a form (`phone-deliveries:{form}`, else their
                                    recipient, wa_id or user id), and each one's history
    event:{evt_id}                  the events of those deliveries, and every stored event that
                                    names the number (deliveries skipped before a recipient was
                                    known do not index it)
    meta-post:{sha256}              posts from Meta's webhook not processed yet: the updates in them
                                    about the customer
    meta-seen:{id}                  seen-marks of their messages' ids (statuses and inbound messages)
    wamid:{wamid}, pair:{form}, phone-deliveries:{form}, user-phone:{user_id}
    optout:{scope}, optin:{scope}   consent recorded under an identity, or under the number's hash
    outbox                          dry-run requests to the number
    rq:job:{id}                     RQ jobs whose arguments name a delivery or the number
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from redis import Redis
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus

from bridge.config import ConsentSettings
from bridge.consent.keywords import Intent, intent_of
from bridge.delivery.optouts import Scope
from bridge.delivery.records import Field, decode, split_delivery_id, staff_position
from bridge.delivery.store import unpack_event
from bridge.keys import Keys
from bridge.redis_conn import text, unavailable_on_redis_error
from bridge.runtime import Runtime
from bridge.whatsapp.phones import whatsapp_variants
from bridge.whatsapp.webhook import (
    Contact,
    EnvelopeError,
    InboundMessage,
    OtherUpdate,
    PreferenceChange,
    StatusUpdate,
    Update,
    UserIdChange,
    parse_updates,
)

BATCH = 500
"""Keys read per pipelined round trip."""

CONSENT_KINDS = ("optout", "optin")

# A number as people write it: digits, maybe a leading "+" or "(", spaces, dots, dashes, slashes.
# Not line breaks or commas, so that neighbouring numbers in a JSON document stay apart.
_NUMBER_RUN = re.compile(r"\+?\(?\d[\d \u00a0().\-/]*\d")
_DIGIT_RUN = re.compile(rb"\d+")
_WAMID = re.compile(r"wamid\.([A-Za-z0-9+/_=-]+)")
_NON_DIGITS = re.compile(r"\D")

LONG_NUMBER = 10
"""Digits from which a number is found inside a longer run of digits (two numbers written side by
side): a shorter one would turn up there by chance, in timestamps and amounts."""
MIN_NATIONAL = 7
"""A national number shorter than this is not looked for (it would equal an amount by chance)."""
MIN_USER_ID = 8
"""A user id shorter than this is not looked for inside texts (it would match by chance)."""


# -- recognising the customer (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    """Whether a text names the customer: one of their numbers in any written form, or a user id."""

    digits: frozenset[str]
    """Each form's digits, country code included."""
    nationals: frozenset[str] = frozenset()
    """Each form's national significant number, as a number written without its country code reads."""
    user_ids: frozenset[str] = frozenset()

    @classmethod
    def for_phone(cls, phone: str, user_ids: Iterable[str] = ()) -> Matcher:
        forms = whatsapp_variants(phone)
        ids = frozenset(u for u in user_ids if len(u) >= MIN_USER_ID)
        return cls(frozenset(f.lstrip("+") for f in forms), frozenset(_nationals(forms)), ids)

    def names(self, value: str | bytes) -> bool:
        found = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if any(user_id in found for user_id in self.user_ids):
            return True
        for run in _NUMBER_RUN.findall(found):
            digits = _NON_DIGITS.sub("", run)
            if self._holds(digits):
                return True
            # Written without its country code, maybe after a trunk prefix: "(415) 555-0123", "0 ...".
            if not run.startswith("+") and digits.removeprefix("0") in self.nationals:
                return True
        return any(self.in_wamid(token) for token in _WAMID.findall(found))

    def in_wamid(self, token: str) -> bool:
        """Whether a message id (after "wamid.") decodes to bytes holding one of the numbers."""
        return any(self._holds(run.decode()) for decoded in _base64_decodings(token) for run in _DIGIT_RUN.findall(decoded))

    def _holds(self, digits: str) -> bool:
        """Whether a run of digits is one of the numbers: as such, after "00", or among other digits."""
        return digits.removeprefix("00") in self.digits or any(len(f) >= LONG_NUMBER and f in digits for f in self.digits)

    def names_json(self, value: Any) -> bool:
        return self.names(json.dumps(value, ensure_ascii=False))


def _nationals(forms: Iterable[str]) -> Iterator[str]:
    for form in forms:
        try:
            national = str(phonenumbers.parse(form, None).national_number)
        except phonenumbers.NumberParseException:
            continue
        if len(national) >= MIN_NATIONAL:
            yield national


def _base64_decodings(token: str) -> list[bytes]:
    padded = token.rstrip("=") + "=" * (-len(token.rstrip("=")) % 4)
    decodings = []
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            decodings.append(decoder(padded))
        except (binascii.Error, ValueError):
            continue
    return decodings


def digits_of(value: str | None) -> str:
    """A number as its digits alone: how Meta (no "+") and the bridge (E.164) write it compare equal."""
    return _NON_DIGITS.sub("", value or "")


# -- Meta's posts not processed yet (pure) ------------------------------------------------------


@dataclass(frozen=True)
class PendingPost:
    """A post from Meta's webhook, stored and not processed yet, that holds updates about the customer."""

    key: str
    stored: bytes
    """The post as stored (compressed): erase rewrites it only if it is still this."""
    kept: dict[str, Any] | None
    """The post without the customer's updates; None when nothing else is in it."""
    removed: list[Any]
    """The customer's items (statuses, messages, contacts, ...) as Meta sent them."""
    stops: list[tuple[Scope, float]] = field(default_factory=list)
    """Opt-outs in the customer's updates (a STOP, Meta's marketing stop) and when they were made."""


def split_post(document: Any, matcher: Matcher) -> tuple[Any | None, list[Any]]:
    """(the post without the list items that name the customer, or None when it names them
    elsewhere or nothing else is left; the items removed). A post may batch several customers'
    updates: dropping the whole post would lose another customer's STOP."""
    if not matcher.names_json(document):
        return document, []
    removed: list[Any] = []
    kept = _prune(document, matcher, removed)
    if matcher.names_json(kept) or _only_empty(kept):
        return None, removed or [document]
    return kept, removed


def _prune(node: Any, matcher: Matcher, removed: list[Any]) -> Any:
    """`node` without the list items naming the customer, deepest first (they go to `removed`)."""
    if isinstance(node, dict):
        return {name: _prune(value, matcher, removed) for name, value in node.items()}
    if not isinstance(node, list):
        return node
    kept = []
    for item in node:
        pruned = _prune(item, matcher, removed)
        (removed if matcher.names_json(pruned) else kept).append(pruned)
    return kept


def _only_empty(document: Any) -> bool:
    """Whether nothing but empty changes is left in a post (not worth keeping for the worker)."""
    try:
        updates = parse_updates(document)
    except EnvelopeError:
        return True
    return all(isinstance(update, OtherUpdate) and update.kind == "empty" for update in updates)


def post_updates(document: Any) -> list[Update]:
    """The updates in a stored post; none when it is not one of Meta's (it was checked when received)."""
    try:
        return parse_updates(document)
    except EnvelopeError:
        return []


def user_ids_in(updates: Iterable[Update], digits: Iterable[str]) -> set[str]:
    """User ids that updates link to one of the numbers (a contact, a status, a message carrying both)."""
    numbers, found = set(digits), set()
    for update in updates:
        match update:
            case Contact(wa_id=wa_id):
                ids = [update.user_id, update.parent_user_id]
            case StatusUpdate(recipient_id=wa_id):
                ids = [update.recipient_user_id, update.parent_user_id]
            case InboundMessage(from_phone=wa_id):
                ids = [update.from_user_id, update.from_parent_user_id]
            case PreferenceChange(wa_id=wa_id):
                ids = [update.user_id]
            case UserIdChange(wa_id=wa_id):
                ids = [update.previous, update.current]
            case _:
                continue
        if digits_of(wa_id) in numbers:
            found.update(i for i in ids if i)
    return found


def stops_in(updates: Iterable[Update], matcher: Matcher, consent: ConsentSettings, now: float) -> list[tuple[Scope, float]]:
    """The customer's opt-outs among updates not processed yet: erasing the post must not lose them."""
    stops = []
    for update in updates:
        if isinstance(update, InboundMessage) and matcher.names(repr((update.from_phone, update.from_user_id))):
            found = intent_of([update.text, update.payload], consent)
            if found is not None and found[0] is Intent.STOP:
                stops.append((Scope.ALL, float(update.timestamp or now)))
        elif isinstance(update, PreferenceChange) and update.value == "stop" and matcher.names(repr((update.wa_id, update.user_id))):
            stops.append((Scope.MARKETING, float(update.timestamp or now)))
    return stops


# -- what is found ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundJob:
    id: str
    func: str
    status: str


@dataclass
class CustomerData:
    """What the bridge holds about one number, with the keys it is under."""

    phone: str
    forms: tuple[str, ...]
    user_ids: tuple[str, ...]
    matcher: Matcher
    delivery_ids: set[str] = field(default_factory=set)
    """Every delivery to the customer, including ids left in an index after their record expired."""
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Delivery id → its record, with its "history"."""
    events: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Event id → the event as stored (None when it could not be read back)."""
    posts: list[PendingPost] = field(default_factory=list)
    seen_marks: list[str] = field(default_factory=list)
    jobs: list[FoundJob] = field(default_factory=list)
    outbox: list[bytes] = field(default_factory=list)
    """Outbox entries as stored (LREM needs them byte for byte)."""
    consent: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    """"optout"/"optin" → scope → identity → the decision's details, for the customer's identities."""
    hashed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Scope → the opt-out kept under the number's hash (an erased customer's)."""
    keys: list[str] = field(default_factory=list)
    """Other keys named after the customer: phone-deliveries, pair, wamid, user-phone."""

    @property
    def identities(self) -> list[str]:
        return [*self.forms, *self.user_ids]

    @property
    def wamids(self) -> set[str]:
        return {str(r[Field.WAMID]) for r in self.deliveries.values() if r.get(Field.WAMID)}

    @property
    def nothing_found(self) -> bool:
        """Nothing names the number (a hashed opt-out may remain: it does not)."""
        consent = any(entries for by_scope in self.consent.values() for entries in by_scope.values())
        return not (self.delivery_ids or self.events or self.posts or self.seen_marks or self.jobs or self.outbox or consent or self.keys)


def find_customer(rt: Runtime, phone: str) -> CustomerData:
    """Everything the bridge holds about `phone` (E.164): one SCAN of the merchant's keys and one of RQ's jobs."""
    with unavailable_on_redis_error("finding a customer's data"):
        return _find(rt, phone)


def _find(rt: Runtime, phone: str) -> CustomerData:
    r, keys = rt.redis, rt.keys
    forms = whatsapp_variants(phone)
    families = _scan_families(r, keys)
    posts = _stored_posts(r, families["meta_post"])
    rows = _delivery_rows(r, families["delivery"], keys.delivery(""))
    user_ids, delivery_ids = _identities(r, keys, forms, families["user_phone"], posts, rows)

    matcher = Matcher.for_phone(phone, user_ids)
    # A staff alert to this number is about another customer's payment: its event is not theirs.
    own_events = {split_delivery_id(d)[0] for d in delivery_ids if staff_position(d) is None}
    events = _events(r, keys, families["event"], own_events, matcher)
    delivery_ids |= _unaddressed(r, keys, events, rows)
    data = CustomerData(phone, forms, tuple(sorted(user_ids)), matcher, delivery_ids=delivery_ids, events=events)
    data.deliveries = _load_deliveries(r, keys, sorted(delivery_ids))
    for key, (stored, document, updates) in posts.items():
        kept, removed = split_post(document, matcher)
        if removed:
            data.posts.append(PendingPost(key, stored, kept, removed, stops_in(updates, matcher, rt.config.consent, rt.clock())))
    data.consent, data.hashed = _consent(rt, data.identities, forms)
    infos = [info for by_scope in data.consent.values() for entries in by_scope.values() for info in entries.values()]
    message_ids = {str(info["message"]) for info in infos if info.get("message")}
    data.seen_marks = _seen_marks(families["meta_seen"], keys.meta_seen(""), matcher, data.wamids, message_ids)
    data.jobs = _jobs(r, delivery_ids, matcher)
    data.outbox = [entry for entry in r.lrange(keys.outbox, 0, -1) if _outbox_names(entry, matcher, delivery_ids)]
    data.keys = _other_keys(r, keys, families["wamid"], data, [keys.user_phone(u) for u in user_ids])
    return data


def _identities(
    r: Redis,
    keys: Keys,
    forms: tuple[str, ...],
    user_phone_keys: list[str],
    posts: dict[str, tuple[bytes, Any, list[Update]]],
    rows: dict[str, dict[str, str]],
) -> tuple[set[str], set[str]]:
    """(the user ids linked to the number, the ids of the deliveries to it). A delivery's user id
    names the customer, and may name further deliveries: repeated until nothing new is found."""
    digits = {form.lstrip("+") for form in forms}
    prefix = keys.user_phone("")
    user_ids = {key.removeprefix(prefix) for key, number in _values(r, user_phone_keys) if digits_of(text(number)) in digits}
    for _stored, _document, updates in posts.values():
        user_ids |= user_ids_in(updates, digits)
    indexed = {text(d) for form in forms for d in r.smembers(keys.phone_deliveries(form))}
    while True:
        delivery_ids = indexed | {d for d, row in rows.items() if _row_names(row, digits, user_ids)}
        linked = {row[f] for d in delivery_ids for row in [rows.get(d, {})] for f in (Field.USER_ID, Field.PARENT_USER_ID) if row.get(f)}
        if linked <= user_ids:
            return user_ids, delivery_ids
        user_ids |= linked


def _stored_posts(r: Redis, post_keys: list[str]) -> dict[str, tuple[bytes, Any, list[Update]]]:
    """Posts from Meta not processed yet (processed ones hold b""): key → (as stored, parsed, updates)."""
    posts = {}
    for key, stored in _values(r, post_keys):
        document = _unpacked(stored) if stored else None
        if document is not None:
            posts[key] = (stored, document, post_updates(document))
    return posts


def _scan_families(r: Redis, keys: Keys) -> dict[str, list[str]]:
    """One SCAN of the merchant's keys, sorted by the families a customer's data may be under."""
    prefixes = {
        "event": keys.event(""),
        "delivery": keys.delivery(""),
        "meta_post": keys.meta_post(""),
        "meta_seen": keys.meta_seen(""),
        "wamid": keys.wamid(""),
        "user_phone": keys.user_phone(""),
    }
    found: dict[str, list[str]] = {name: [] for name in prefixes}
    for raw in r.scan_iter(match=_glob(keys.base) + ":*", count=1000):
        key = text(raw)
        for name, prefix in prefixes.items():
            if key.startswith(prefix):
                found[name].append(key)
                break
    return found


def _glob(literal: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", literal)


def _batches(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _values(r: Redis, keys: list[str]) -> Iterator[tuple[str, bytes]]:
    """(key, value) of string keys, pipelined; keys gone meanwhile are left out."""
    for batch in _batches(keys):
        pipe = r.pipeline(transaction=False)
        for key in batch:
            pipe.get(key)
        yield from ((key, value) for key, value in zip(batch, pipe.execute(), strict=True) if value is not None)


def _unpacked(stored: bytes) -> Any | None:
    try:
        return unpack_event(stored)
    except (zlib.error, ValueError):
        return None


def _decompressed(stored: bytes) -> bytes:
    """An event's JSON as received (matched as text: no parsing for the many events not about the customer)."""
    try:
        return zlib.decompress(stored)
    except zlib.error:
        return stored


def _parsed(body: bytes) -> dict[str, Any] | None:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _delivery_rows(r: Redis, delivery_keys: list[str], prefix: str) -> dict[str, dict[str, str]]:
    """Delivery id → the fields that can name a customer, for every record."""
    names = [Field.RECIPIENT, Field.WA_ID, Field.USER_ID, Field.PARENT_USER_ID]
    rows: dict[str, dict[str, str]] = {}
    for batch in _batches(delivery_keys):
        pipe = r.pipeline(transaction=False)
        for key in batch:
            pipe.hmget(key, names)
        for key, values in zip(batch, pipe.execute(), strict=True):
            rows[key.removeprefix(prefix)] = {name: text(v) for name, v in zip(names, values, strict=True) if v}
    return rows


def _row_names(row: dict[str, str], digits: set[str], user_ids: set[str]) -> bool:
    numbers = {digits_of(row.get(Field.RECIPIENT)), digits_of(row.get(Field.WA_ID))}
    return bool(numbers & digits) or bool({row.get(Field.USER_ID), row.get(Field.PARENT_USER_ID)} & user_ids)


def _load_deliveries(r: Redis, keys: Keys, ids: list[str]) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for batch in _batches(ids):
        pipe = r.pipeline(transaction=False)
        for delivery in batch:
            pipe.hgetall(keys.delivery(delivery))
            pipe.lrange(keys.history(delivery), 0, -1)
        answers = iter(pipe.execute())
        for delivery in batch:
            raw, history = next(answers), next(answers)
            if raw:
                records[delivery] = {**decode(raw, delivery), "history": [json.loads(entry) for entry in history]}
    return records


def _events(r: Redis, keys: Keys, event_keys: list[str], of_deliveries: set[str], matcher: Matcher) -> dict[str, dict[str, Any] | None]:
    """The stored events of the customer's deliveries, and every other stored event that names them.
    An erased event's key holds b"" (the dedupe mark): there is nothing left in it."""
    prefix, found = keys.event(""), {}
    for key, stored in _values(r, event_keys):
        event_id = key.removeprefix(prefix)
        if not stored:
            continue
        body = _decompressed(stored)
        if event_id in of_deliveries or matcher.names(body):
            found[event_id] = _parsed(body)
    return found


def _unaddressed(r: Redis, keys: Keys, events: Iterable[str], rows: dict[str, dict[str, str]]) -> set[str]:
    """Deliveries of the customer's events that never recorded a recipient (skipped before one was
    known, still queued): theirs too. A staff alert records its own number from the start."""
    event_ids = list(events)
    pipe = r.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.smembers(keys.event_deliveries(event_id))
    members = {text(d) for found in pipe.execute() for d in found}
    return {d for d in members if not rows.get(d, {}).get(Field.RECIPIENT)}


def _consent(rt: Runtime, identities: list[str], forms: Iterable[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(kind → scope → identity → details for the customer's identities; scope → the hashed opt-out)."""
    hashed = [rt.optouts.hashed(form) for form in forms]
    names = [*identities, *hashed]
    pipe = rt.redis.pipeline(transaction=False)
    for kind in CONSENT_KINDS:
        for scope in Scope:
            pipe.hmget(getattr(rt.keys, kind)(scope), names)
    answers = iter(pipe.execute())
    consent: dict[str, Any] = {kind: {} for kind in CONSENT_KINDS}
    kept: dict[str, dict[str, Any]] = {}
    for kind in CONSENT_KINDS:
        for scope in Scope:
            values = dict(zip(names, next(answers), strict=True))
            entries = {name: json.loads(values[name]) for name in identities if values[name] is not None}
            if entries:
                consent[kind][str(scope)] = entries
            hashes = [json.loads(values[name]) for name in hashed if values[name] is not None]
            if kind == "optout" and hashes:
                kept[str(scope)] = hashes[0]
    return consent, kept


def _seen_marks(mark_keys: list[str], prefix: str, matcher: Matcher, wamids: set[str], message_ids: set[str]) -> list[str]:
    """Seen-marks (`status:{wamid}:{status}`, `message:{wamid}`) of the customer's messages."""
    ids = wamids | message_ids
    found = []
    for key in mark_keys:
        marker = key.removeprefix(prefix)
        kind, _, rest = marker.partition(":")
        message_id = rest.rpartition(":")[0] if kind == "status" else rest
        if message_id in ids or matcher.names(marker):
            found.append(key)
    return found


def _jobs(r: Redis, delivery_ids: set[str], matcher: Matcher) -> list[FoundJob]:
    """RQ jobs (queued, scheduled, running, failed, finished) whose arguments name a delivery of the
    customer's or the customer: `deliver(id)`, `reply(phone, text)`, `forward(document)`."""
    found = []
    prefix = Job.redis_job_namespace_prefix
    for raw in r.scan_iter(match=_glob(prefix) + "*", count=1000):
        job_id = text(raw).removeprefix(prefix)
        if ":" in job_id:  # rq:job:{id}:dependents and the like
            continue
        job = _fetch(r, job_id)
        if job is not None and _job_names(job, delivery_ids, matcher):
            status = job.get_status(refresh=False)
            found.append(FoundJob(job.id, _func_name(job), status.value if isinstance(status, JobStatus) else str(status or "")))
    return found


def _fetch(r: Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=r)
    except NoSuchJobError:
        return None


def _func_name(job: Job) -> str:
    try:
        return job.func_name
    except DeserializationError:
        return ""


def _job_names(job: Job, delivery_ids: set[str], matcher: Matcher) -> bool:
    try:
        args, kwargs = job.args, job.kwargs
    except DeserializationError:  # data RQ cannot read back: judge its bytes (pickled strings are UTF-8)
        return matcher.names(job.data or b"")
    if any(isinstance(arg, str) and arg in delivery_ids for arg in args):
        return True
    return matcher.names(repr((args, kwargs)))


def _outbox_names(entry: bytes, matcher: Matcher, delivery_ids: set[str]) -> bool:
    try:
        delivery = json.loads(entry).get("delivery_id")
    except (ValueError, AttributeError):
        delivery = None
    return delivery in delivery_ids or matcher.names(entry)


def _other_keys(r: Redis, keys: Keys, wamid_keys: list[str], data: CustomerData, user_phone_keys: list[str]) -> list[str]:
    """Existing keys named after the customer or pointing at their deliveries."""
    candidates = [keys.phone_deliveries(f) for f in data.forms] + [keys.pair(f) for f in data.forms] + user_phone_keys
    candidates += [keys.wamid(w) for w in data.wamids]
    prefix = keys.wamid("")
    for key, delivery in _values(r, wamid_keys):
        if text(delivery) in data.delivery_ids or data.matcher.names(key.removeprefix(prefix)):
            candidates.append(key)
    candidates = list(dict.fromkeys(candidates))
    pipe = r.pipeline(transaction=False)
    for key in candidates:
        pipe.exists(key)
    return [key for key, exists in zip(candidates, pipe.execute(), strict=True) if exists]


def job_running(job: FoundJob) -> bool:
    """A worker is running it: deleting its hash under the worker would break RQ's bookkeeping."""
    return job.status == JobStatus.STARTED
