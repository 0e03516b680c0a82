"""The overview's token check and its chart, through Flask's test client against real Redis and the
fake Graph API over a real socket: what Meta answers is what the page says (never a 500), the
answer is asked once and shared, "Check again" asks anew; the chart counts each message in the hour
Meta accepted it, at a cost in Redis that does not grow with the number of messages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from redis import Redis

from bridge import defaults
from bridge.delivery.records import Status
from bridge.runtime import Runtime
from bridge.services.activity import HOUR, hourly_sent
from bridge.stripe_events import samples
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import meta_error, status, statuses_post
from tests.settings_page_support import admin_bridge, post_form, sign_in

CUSTOMER = "+14155550123"
NOW = 1_780_000_000 // 3600 * 3600 + 20 * 60
"""Twenty minutes into an hour: the chart's last bar is the hour starting at NOW - 20 minutes."""


@pytest.fixture
def site(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[Bridge]:
    bridge = admin_bridge(redis_url, fake_graph)
    try:
        sign_in(bridge.client)
        yield bridge
    finally:
        bridge.close()


def overview(bridge: Bridge) -> str:
    response = bridge.client.get("/admin")
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def token_line(page: str) -> str:
    """The token check's line, as text."""
    found = re.search(r'<li class="(\w+)" id="token-check">(.*?)</li>', page, re.S)
    assert found, "no token check on the overview"
    inline = re.sub(r"</?bdi[^>]*>", "", found.group(2))
    return found.group(1) + ": " + " ".join(re.sub(r"<[^>]+>", " ", inline).split())


def web(bridge: Bridge) -> Runtime:
    return bridge.app.extensions["bridge"]


# ---- the token check -------------------------------------------------------------------------------


def test_a_token_meta_accepts_shows_the_business_number_and_is_asked_once(site: Bridge, fake_graph: FakeGraphAPI, redis_url: str):
    line = token_line(overview(site))
    assert line.startswith("ok: ✓ WhatsApp accepts the token: sending from +1 631-555-5555, Jasper's Market. Quality rating: high (green).")
    assert "Check again" in line
    token_line(overview(site))
    other_web_process = admin_bridge(redis_url, fake_graph)
    try:
        sign_in(other_web_process.client)
        assert "WhatsApp accepts the token" in token_line(overview(other_web_process))
    finally:
        other_web_process.close()
    assert len(fake_graph.phone_number_reads) == 1, "the answer is kept in Redis for every web process"
    assert fake_graph.problems == []


def test_what_meta_says_of_the_number_is_shown_as_text(site: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.phone_number.update(verified_name="<b>Shop</b>", quality_rating="PURPLE")
    page = site.client.get("/admin").get_data(as_text=True)
    assert "<bdi>&lt;b&gt;Shop&lt;/b&gt;</bdi>" in page and "<b>Shop" not in page
    assert "Quality rating: PURPLE." in page, "a rating Meta adds later is shown as Meta writes it"


@pytest.mark.parametrize(
    ("prepare", "said"),
    [
        (
            lambda fake: fake.expire_token(),
            "bad: ✗ WhatsApp refused the token: Meta's error 190: The access token has expired or is invalid",
        ),
        (lambda fake: setattr(fake, "token", "the-new-token"), "bad: ✗ WhatsApp refused the token: Meta's error 190:"),
        (lambda fake: fake.script_phone_number(Reply.error(10)), "bad: ✗ WhatsApp refused the token: Meta's error 10: Permission not"),
        (
            lambda fake: setattr(fake, "phone_number_id", "999"),
            "bad: ✗ WhatsApp refused the token: Meta's error 100: The phone number id or business account id does not exist, "
            "or the access token cannot see it Check WHATSAPP_PHONE_NUMBER_ID",
        ),
    ],
)
def test_a_refused_token_shows_meta_s_code_and_meaning(site: Bridge, fake_graph: FakeGraphAPI, prepare, said: str):
    prepare(fake_graph)
    assert token_line(overview(site)).startswith(said)
    assert site.config.whatsapp.access_token not in overview(site)


@pytest.mark.parametrize(
    ("trouble", "said"),
    [
        (lambda fake: fake.stop(), "could not connect to the Cloud API: ConnectError"),
        (lambda fake: fake.script_phone_number(Reply.hang()), "no answer from the Cloud API after the request was sent: ReadTimeout"),
        (lambda fake: fake.script_phone_number(Reply.server_error(502)), "HTTP 502: Cloud API error"),
        (lambda fake: fake.script_phone_number(Reply.error(4)), "The app reached its Graph API call rate limit"),
    ],
)
def test_when_meta_cannot_say_the_page_says_so_promptly(site: Bridge, fake_graph: FakeGraphAPI, trouble, said: str):
    trouble(fake_graph)
    started = time.monotonic()
    line = token_line(overview(site))
    assert time.monotonic() - started < min(defaults.TOKEN_CHECK_TIMEOUT_SECONDS, site.config.whatsapp.timeout_seconds) + 1.5
    assert line.startswith(f"warn: ! Could not reach Meta to check the WhatsApp token: {said}")
    fake_graph.release()


def test_check_again_asks_meta_now_and_shows_the_new_answer(site: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.expire_token()
    assert "Meta's error 190" in token_line(overview(site))
    fake_graph.renew_token()  # the merchant fixed it in Meta's dashboard
    assert "Meta's error 190" in token_line(overview(site)), "the kept answer: Meta is not asked on every load"
    assert len(fake_graph.phone_number_reads) == 1

    response = post_form(site.client, "/admin", "/admin/check-token")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    page = overview(site)
    assert "The WhatsApp token was checked again." in page
    assert token_line(page).startswith("ok: ✓ WhatsApp accepts the token")
    assert len(fake_graph.phone_number_reads) == 2


def test_check_again_needs_the_form_s_csrf_token(site: Bridge, fake_graph: FakeGraphAPI):
    overview(site)
    assert site.client.post("/admin/check-token", data={"csrf_token": "forged"}).status_code == 403
    assert len(fake_graph.phone_number_reads) == 1


def test_in_dry_run_the_token_is_not_checked(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI):
    bridge = admin_bridge(redis_url)
    try:
        sign_in(bridge.client)
        page = overview(bridge)
        assert token_line(page) == "warn: ! WhatsApp token is not set: dry run, messages are not sent and the token is not checked."
        assert "Dry run: nothing is sent, so nothing is counted here." in page
        assert post_form(bridge.client, "/admin", "/admin/check-token").status_code == 303
    finally:
        bridge.close()
    assert fake_graph.requests == []


def test_the_arabic_overview_says_it_in_arabic(site: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.expire_token()
    page = unescape(site.client.get("/admin?lang=ar").get_data(as_text=True))
    assert "رفض واتساب الرمز: خطأ Meta رقم 190" in page and "افحص مجددًا" in page
    assert "الرسائل المرسلة في الساعة" in page


# ---- the chart: messages sent per hour --------------------------------------------------------------


def set_clock(bridge: Bridge, at: float) -> None:
    """The web's and the worker's clocks (both processes) read `at`."""
    web(bridge).clock = bridge.worker_runtime.clock = lambda: at


def pay(bridge: Bridge, *, posted: float, sent: float | None = None) -> dict[str, Any]:
    """A payment posted by Stripe at `posted`, worked at `sent` (the same time unless given); its record."""
    set_clock(bridge, posted)
    event = samples.fresh_event("payment_intent.succeeded", phone=CUSTOMER)
    assert bridge.post(event).status_code == 200
    set_clock(bridge, posted if sent is None else sent)
    bridge.work()
    (record,) = bridge.store.query(event_id=event["id"]).items
    return record


def meta_reports(bridge: Bridge, record: dict[str, Any], name: str, **options: Any) -> None:
    assert (
        bridge.post_meta(statuses_post(status(record.get("wamid", "wamid.lost"), name, callback=record["id"], **options))).status_code
        == 200
    )
    bridge.work()


def bars(page: str) -> dict[str, int]:
    """Each bar's hour label → count, as the chart's bar titles say."""
    return {hour: int(count) for hour, count in re.findall(r"<title>(\d\d):00 UTC: (\d+)</title>", page)}


def hour_of(t: float) -> str:
    return time.strftime("%H", time.gmtime(t))


def test_each_message_counts_in_the_hour_meta_accepted_it(site: Bridge, fake_graph: FakeGraphAPI):
    early = pay(site, posted=NOW - 5 * HOUR)
    failed_later = pay(site, posted=NOW - 5 * HOUR + 60)
    pay(site, posted=NOW - 3 * HOUR, sent=NOW - HOUR)  # waited two hours in the queue: counts when sent
    fake_graph.script(Reply.error(131026))
    assert pay(site, posted=NOW - 2 * HOUR)["status"] == Status.FAILED  # refused by Meta: never sent
    pay(site, posted=NOW - 30 * HOUR)  # before the chart's 24 hours
    last = pay(site, posted=NOW)
    set_clock(site, NOW + 60)
    meta_reports(site, early, "delivered")
    meta_reports(site, last, "read")
    meta_reports(site, failed_later, "failed", errors=[meta_error(131049)])
    assert site.store.get_delivery(failed_later["id"])["status"] == Status.FAILED

    hourly = hourly_sent(web(site), now=NOW + 60)
    assert hourly.start == NOW - 20 * 60 - 23 * HOUR
    assert hourly.counts == [0] * 18 + [2, 0, 0, 0, 1, 1]
    shown = bars(overview(site))
    assert len(shown) == 24 and sum(shown.values()) == 4
    assert (shown[hour_of(NOW - 5 * HOUR)], shown[hour_of(NOW - HOUR)], shown[hour_of(NOW)]) == (2, 1, 1)
    assert shown[hour_of(NOW - 3 * HOUR)] == 0 and shown[hour_of(NOW - 2 * HOUR)] == 0


def test_a_message_whose_answer_was_lost_counts_when_meta_reports_it_went_out(site: Bridge, fake_graph: FakeGraphAPI):
    fake_graph.script(Reply.drop())
    record = pay(site, posted=NOW - HOUR)
    assert record["status"] == Status.AMBIGUOUS and "sent_at" not in record
    assert hourly_sent(web(site), now=NOW).counts[-2:] == [0, 0]
    reported = int(NOW - 4 * HOUR + 90)  # Meta's own time for the status, whatever the bridge's clock says
    meta_reports(site, record, "sent", at=reported)
    assert site.store.get_delivery(record["id"])["sent_at"] == reported
    assert hourly_sent(web(site), now=NOW).counts[-5] == 1


def test_the_overview_costs_the_same_redis_commands_with_many_messages(site: Bridge, redis: Redis):
    pay(site, posted=NOW)
    overview(site)  # the token check is kept from here on

    def commands_of_a_load() -> dict[str, int]:
        redis.config_resetstat()
        overview(site)
        return {name: stats["calls"] for name, stats in redis.info("commandstats").items()}

    few = commands_of_a_load()
    for hour in range(1, 24, 2):
        pay(site, posted=NOW - hour * HOUR)
    set_clock(site, NOW)
    assert sum(hourly_sent(web(site), now=NOW).counts) == 13
    assert commands_of_a_load() == few
