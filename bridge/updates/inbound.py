"""What customers send: STOP and START, everything else counted and forwarded to a helpdesk.

A text or quick-reply button equal to one of `[consent] stop_keywords` opts the customer out of
every message, `start_keywords` back in (`bridge.consent.keywords`). The decision is recorded
under every identity the message gives (its number with the number's WhatsApp variants, its
business-scoped user id), and is ordered by the message's own time. What a repeat of the
message must not do twice (queue the confirmation reply, the forward, count it) runs under the
message id's seen-mark, in one Redis step.
"""

from __future__ import annotations

import json
import logging

from bridge import defaults
from bridge.consent.keywords import Intent, intent_of, reply_for
from bridge.delivery.optouts import Decided, Scope
from bridge.delivery.queueing import enqueue_forward, enqueue_reply
from bridge.observability.logs import log_fields
from bridge.runtime import Runtime
from bridge.whatsapp.phones import from_wa_id, mask_phone, mask_user_id, whatsapp_variants
from bridge.whatsapp.webhook import Contact, InboundMessage, UserIdChange

logger = logging.getLogger(__name__)


def link_contact(rt: Runtime, contact: Contact) -> str:
    """A contact that carries both a number and a user id tells which number the id stands for."""
    phone = from_wa_id(contact.wa_id)
    if phone and contact.user_id:
        rt.optouts.link(contact.user_id, phone)
        return "contact linked"
    return "contact"


def carry_user_id(rt: Runtime, change: UserIdChange) -> str:
    """Meta gave the customer a new user id: their consent carries over to it."""
    rt.optouts.carry(change.previous, change.current)
    phone = from_wa_id(change.wa_id)
    if phone:
        rt.optouts.link(change.current, phone)
    return "user id changed"


def customer_phone(rt: Runtime, message: InboundMessage) -> str | None:
    """The sender's number: as given, else the one their user id was last seen with."""
    phone = from_wa_id(message.from_phone)
    if phone is None and message.from_user_id:
        phone = rt.optouts.phone_for_user(message.from_user_id)
    return phone


def identities(phone: str | None, user_id: str | None) -> list[str]:
    """Every key consent about this customer is recorded under."""
    return [*(whatsapp_variants(phone) if phone else ()), *([user_id] if user_id else [])]


def handle_message(rt: Runtime, message: InboundMessage) -> str:
    """Act on one inbound message; returns stop, start, other or duplicate."""
    marker = f"message:{message.id}"
    if rt.store.seen(marker):
        return "duplicate"
    consent = rt.config.consent
    phone = customer_phone(rt, message)
    found = intent_of([message.text, message.payload], consent)
    if found is not None:
        intent, word = found
        _decide(rt, message, phone, intent, word)
        reply = reply_for(intent, word, consent) if phone else None
        outcome = str(intent)
    else:
        reply, outcome = None, "other"
    _job, commands = rt.store.record_enqueues(lambda pipe: _effects(rt, pipe, message, phone, outcome, reply))
    if not rt.store.once(marker, commands, ttl=defaults.META_SEEN_TTL_SECONDS, now=rt.clock()):
        return "duplicate"
    if outcome == "other":
        logger.info("customer message", extra=log_fields(wamid=message.id, phone=mask_phone(phone), outcome=outcome))
    return outcome


def _decide(rt: Runtime, message: InboundMessage, phone: str | None, intent: Intent, word: str) -> None:
    names = identities(phone, message.from_user_id)
    at = float(message.timestamp) if message.timestamp else rt.clock()
    source = f"replied {word!r} on WhatsApp"
    record = rt.optouts.opt_out if intent is Intent.STOP else rt.optouts.opt_in
    decided = record(names, Scope.ALL, at=at, source=source, message=message.id)
    values = log_fields(
        wamid=message.id,
        phone=mask_phone(phone),
        user=mask_user_id(message.from_user_id) if not phone else None,
        keyword=word,
        outcome=intent.value if decided is not Decided.STALE else "stale",
    )
    if decided is Decided.STALE:
        logger.info("customer's reply older than their latest choice: that choice kept", extra=values)
    elif intent is Intent.STOP:
        logger.warning("customer replied stop: no more messages will be sent to them", extra=values)
    else:
        logger.warning("customer replied start: messages to them resume", extra=values)


def _effects(rt: Runtime, pipe, message: InboundMessage, phone: str | None, outcome: str, reply: str | None) -> None:
    """What happens once per message, written on `pipe` (recorded, then run under the seen-mark).
    RQ's enqueue comes first: it starts the pipeline's MULTI itself."""
    if reply and phone:
        enqueue_reply(rt.queue, phone, reply, rt.config.delivery, pipeline=pipe)
    elif outcome == "other" and rt.config.consent.forward_url:
        enqueue_forward(rt.queue, forward_document(message, phone), rt.config.delivery, pipeline=pipe)
    pipe.hincrby(rt.keys.counters, f"inbound {outcome}", 1)


def forward_document(message: InboundMessage, phone: str | None) -> str:
    """The JSON a helpdesk receives for one inbound message (its `id` lets the helpdesk drop repeats)."""
    document = {
        "type": "whatsapp.message",
        "id": message.id,
        "received_at": message.timestamp,
        "phone_number_id": message.phone_number_id,
        "from": phone,
        "from_user_id": message.from_user_id,
        "message": message.raw,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True)
