"""The customer's side, through signed posts to /whatsapp/webhook and the real worker: STOP and
START in every default language, as text and as buttons, matched by number or by user id; the
confirmation reply; other messages forwarded, signed, to a helpdesk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from bridge.delivery.records import SkipReason, Status
from bridge.stripe_events import samples
from tests.conftest import Bridge, make_config
from tests.fake_graph import FakeGraphAPI
from tests.meta_posts import message_post, status_post

CUSTOMER, DIGITS = "+14155550123", "14155550123"
USER_ID = "US.13491208655302741918"
FORWARD_SECRET = "helpdesk-secret-0123456789"

STOP_WORDS = ["STOP", "stop", " Stop ", "UNSUBSCRIBE", "Unsubscribe", "إيقاف", "إلغاء", "BAJA", "baja", "PARAR", "ARRET", "ARRÊT", "arrêt"]
START_WORDS = ["START", "start", "ابدأ", "ALTA", "Alta"]


def meta(bridge: Bridge, document: dict) -> None:
    """Meta posts `document`; the worker processes it."""
    response = bridge.post_meta(document)
    assert response.status_code == 200, response.get_json()
    bridge.work()


def notify(bridge: Bridge, event_type: str = "payment_intent.succeeded", phone: str = CUSTOMER) -> dict:
    """Stripe posts a fresh event for `phone`; the worker delivers it; returns its delivery record."""
    event = samples.fresh_event(event_type, phone=phone)
    assert bridge.post(event).status_code == 200
    bridge.work()
    (record,) = [d for d in bridge.deliveries() if d["event_id"] == event["id"]]
    return record


@pytest.mark.parametrize("word", STOP_WORDS)
def test_a_stop_reply_in_each_default_language_stops_every_later_message(bridge: Bridge, fake_graph: FakeGraphAPI, word):
    meta(bridge, message_post(word, sender=DIGITS))
    record = notify(bridge)
    assert (record["status"], record["reason_code"]) == (Status.SKIPPED, SkipReason.OPTED_OUT)
    assert record["reason"].startswith(f"opted out: the customer asked not to be messaged on WhatsApp (replied {word.strip().casefold()!r}")
    assert notify(bridge, "invoice.paid")["status"] == Status.SKIPPED  # every template, receipts included
    assert fake_graph.requests == []
    assert notify(bridge, phone="+14155550199")["status"] == Status.SENT  # nobody else


@pytest.mark.parametrize(
    "button",
    [{"text": "STOP", "payload": "opt-out-button"}, {"text": "Stop promotions", "payload": "STOP"}],
    ids=["button text", "button payload"],
)
def test_a_stop_quick_reply_button_stops_messages(bridge: Bridge, fake_graph: FakeGraphAPI, button):
    meta(bridge, message_post(kind="button", button=button, sender=DIGITS))
    assert notify(bridge)["status"] == Status.SKIPPED
    assert fake_graph.requests == []


def test_a_word_that_only_contains_stop_is_not_a_stop(bridge: Bridge, fake_graph: FakeGraphAPI):
    meta(bridge, message_post("please don't stop sending me receipts", sender=DIGITS))
    assert notify(bridge)["status"] == Status.SENT


@pytest.mark.parametrize("word", START_WORDS)
def test_start_after_stop_restores_messages_and_the_skipped_one_can_be_replayed(bridge: Bridge, fake_graph: FakeGraphAPI, word):
    meta(bridge, message_post("STOP", sender=DIGITS, at=1_796_000_000))
    skipped = notify(bridge)
    meta(bridge, message_post(word, sender=DIGITS, at=1_796_000_100))
    assert notify(bridge)["status"] == Status.SENT
    from bridge.delivery.control import replay

    (result,) = replay(bridge.worker_runtime, [skipped["id"]])
    assert result.outcome == "replayed (was skipped)"
    bridge.work()
    assert [r.json["to"] for r in fake_graph.accepted] == [CUSTOMER, CUSTOMER]


def test_a_start_older_than_the_stop_does_not_undo_it(bridge: Bridge, fake_graph: FakeGraphAPI):
    """Meta delivers out of order: the STOP sent last wins, whichever post arrives last."""
    meta(bridge, message_post("STOP", sender=DIGITS, at=1_796_000_100))
    meta(bridge, message_post("START", sender=DIGITS, at=1_796_000_000))
    assert notify(bridge)["status"] == Status.SKIPPED
    assert fake_graph.requests == []


def test_a_repeated_message_is_acted_on_once(bridge: Bridge):
    document = message_post("STOP", sender=DIGITS, message_id="wamid.repeated")
    meta(bridge, document)
    again = json.loads(json.dumps(document))
    again["entry"][0]["id"] = "another-post"  # the same message in a new post
    meta(bridge, again)
    assert bridge.store.counters()["inbound stop"] == 1


def test_a_stop_from_mexicos_521_form_stops_messages_to_the_52_number(bridge: Bridge, fake_graph: FakeGraphAPI):
    meta(bridge, message_post("STOP", sender="5215512345678"))
    assert notify(bridge, phone="+52 1 55 1234 5678")["status"] == Status.SKIPPED
    assert notify(bridge, phone="+525512345678")["status"] == Status.SKIPPED
    assert fake_graph.requests == []


def test_a_stop_with_only_a_user_id_applies_once_the_id_is_known_to_be_the_number(bridge: Bridge, fake_graph: FakeGraphAPI):
    """2026: a customer may write with a business-scoped user id and no number."""
    first = notify(bridge)
    assert first["status"] == Status.SENT
    meta(bridge, message_post("STOP", sender=None, user_id=USER_ID))
    assert bridge.worker_runtime.optouts.status([USER_ID])["optout"]  # recorded under the id
    # The status of the first message carries both the number and the id: the STOP now holds for the number.
    meta(bridge, status_post(first["wamid"], "delivered", recipient=DIGITS, user_id=USER_ID))
    assert notify(bridge)["status"] == Status.SKIPPED
    assert len(fake_graph.requests) == 1


def test_a_stop_with_only_a_user_id_from_a_known_customer_applies_at_once(bridge: Bridge, fake_graph: FakeGraphAPI):
    meta(bridge, message_post("Hello", sender=DIGITS, user_id=USER_ID))  # the contact links id and number
    meta(bridge, message_post("STOP", sender=None, user_id=USER_ID))
    assert notify(bridge)["status"] == Status.SKIPPED
    assert fake_graph.requests == []


def test_a_new_user_id_carries_the_customers_stop_over(bridge: Bridge, fake_graph: FakeGraphAPI):
    from tests.meta_posts import envelope

    meta(bridge, message_post("STOP", sender=None, user_id=USER_ID))
    change = {"wa_id": DIGITS, "user_id": {"previous": USER_ID, "current": "US.20837465019283746501"}, "timestamp": "1796000000"}
    meta(bridge, envelope("user_id_update", {"messaging_product": "whatsapp", "user_id_update": [change]}))
    assert notify(bridge)["status"] == Status.SKIPPED


# -- the confirmation reply ------------------------------------------------------------------


@pytest.fixture
def replying(redis, redis_url, fake_graph: FakeGraphAPI) -> Iterator[Bridge]:
    replies = {"stop_reply": {"en": "You will not get messages from us any more.", "ar": "لن تصلك رسائل منا بعد الآن."}}
    b = Bridge(make_config(redis_url, fake_graph, consent=replies))
    try:
        yield b
    finally:
        b.close()


@pytest.mark.parametrize(("word", "expected"), [("STOP", "You will not get"), ("إيقاف", "لن تصلك")])
def test_a_stop_is_confirmed_in_the_keywords_language_inside_the_window(replying: Bridge, fake_graph: FakeGraphAPI, word, expected):
    fake_graph.customer_wrote(CUSTOMER)  # Meta opens the 24-hour window when the customer writes
    meta(replying, message_post(word, sender=DIGITS))
    (request,) = fake_graph.accepted
    assert request.json["type"] == "text" and request.json["to"] == CUSTOMER
    assert request.json["text"]["body"].startswith(expected)
    assert fake_graph.problems == []


def test_no_confirmation_by_default(bridge: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.customer_wrote(CUSTOMER)
    meta(bridge, message_post("STOP", sender=DIGITS))
    assert fake_graph.requests == []


def test_a_refused_confirmation_is_counted_and_not_retried(replying: Bridge, fake_graph: FakeGraphAPI):
    meta(replying, message_post("STOP", sender=DIGITS))  # the window never opened: Meta answers 131047
    assert [r.json["type"] for r in fake_graph.requests] == ["text"]
    assert replying.scheduled() == [] and replying.store.counters()["replies_failed"] == 1


def test_in_dry_run_the_confirmation_goes_to_the_outbox(redis, redis_url):
    b = Bridge(make_config(redis_url, dry_run=True, consent={"start_reply": {"en": "Welcome back."}}))
    try:
        meta(b, message_post("START", sender=DIGITS))
        (entry,) = b.store.outbox()
        assert entry["request"]["text"] == {"body": "Welcome back."} and entry["reply_to"] == "+1******0123"
    finally:
        b.close()


# -- forwarding to a helpdesk ------------------------------------------------------------------


class Helpdesk:
    """A helpdesk's webhook on a real socket: records each POST, answers the scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        helpdesk = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                helpdesk.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(helpdesk.answers.pop(0) if helpdesk.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/whatsapp?token=abc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def helpdesk() -> Iterator[Helpdesk]:
    desk = Helpdesk()
    yield desk
    desk.close()


@pytest.fixture
def forwarding(redis, redis_url, fake_graph: FakeGraphAPI, helpdesk: Helpdesk) -> Iterator[Bridge]:
    b = Bridge(make_config(redis_url, fake_graph, consent={"forward_url": helpdesk.url, "forward_secret": FORWARD_SECRET}))
    try:
        yield b
    finally:
        b.close()


def test_other_messages_are_forwarded_signed_like_stripes_webhooks(forwarding: Bridge, helpdesk: Helpdesk):
    meta(forwarding, message_post("Where is my order? أين طلبي؟", sender=DIGITS, message_id="wamid.question"))
    ((headers, body),) = helpdesk.received
    # The helpdesk checks it with the code it would use for Stripe's webhooks.
    stripe.WebhookSignature.verify_header(body.decode(), headers["bridge-signature"], FORWARD_SECRET, tolerance=300)
    document = json.loads(body)
    assert (document["id"], document["from"], document["type"]) == ("wamid.question", CUSTOMER, "whatsapp.message")
    assert document["message"]["text"]["body"] == "Where is my order? أين طلبي؟"
    assert forwarding.store.counters()["inbound other"] == 1


def test_stop_and_start_are_not_forwarded_and_a_repeat_is_forwarded_once(forwarding: Bridge, helpdesk: Helpdesk):
    meta(forwarding, message_post("STOP", sender=DIGITS))
    question = message_post("Hello?", sender=DIGITS, message_id="wamid.once")
    meta(forwarding, question)
    meta(forwarding, question | {"entry": [question["entry"][0] | {"id": "repeat"}]})
    assert [json.loads(body)["id"] for _headers, body in helpdesk.received] == ["wamid.once"]


def test_a_helpdesk_that_is_down_gets_the_message_again_later(forwarding: Bridge, helpdesk: Helpdesk):
    helpdesk.answers = [503, 500]
    meta(forwarding, message_post("Hello?", sender=DIGITS, message_id="wamid.retried"))
    delays = forwarding.work_all()
    assert delays[:2] == pytest.approx([10.0, 60.0], abs=1)  # RQ's retry, with the configured waits
    assert [json.loads(body)["id"] for _headers, body in helpdesk.received] == ["wamid.retried"] * 3


def test_a_helpdesk_that_refuses_is_not_asked_again(forwarding: Bridge, helpdesk: Helpdesk):
    helpdesk.answers = [400]
    meta(forwarding, message_post("Hello?", sender=DIGITS))
    assert forwarding.work_all() == [] and len(helpdesk.received) == 1
    assert forwarding.store.counters()["inbound forward refused"] == 1


def test_a_forward_secret_is_required_with_a_forward_url(redis_url):
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"consent.forward_secret: required with forward_url"):
        make_config(redis_url, dry_run=True, consent={"forward_url": "https://helpdesk.example.com/hook"})
