"""The settings page in a real browser: Debian's Chromium under Playwright against the whole web
app on a real socket, real Redis, the fake Graph API, and an in-process worker (`Bridge.work`).

Signed Stripe events and Meta status posts go over HTTP to the same server the browser uses; the
page is strict (no request leaves the machine, no console error, the page's own CSP). Every page is
checked with axe-core in English and Arabic, on a desktop and a phone screen, and screenshotted
into the run's artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from redis import Redis

from bridge.delivery.optouts import Scope
from bridge.delivery.records import Status
from bridge.stripe_events import samples
from tests.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, assert_accessible, live_server, open_page, screenshot
from tests.conftest import Bridge, meta_signed, signed
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import status_post
from tests.settings_page_support import TOKEN, admin_bridge

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

CUSTOMER = "+14155550123"
MASKED = "+1******0123"
EVENT_TYPE = "payment_intent.succeeded"


@dataclass
class Site:
    bridge: Bridge
    url: str
    fake: FakeGraphAPI

    def stripe(self, event: dict[str, Any]) -> None:
        """Stripe posts a signed event to the server the browser uses."""
        body, headers = signed(event)
        assert httpx.post(f"{self.url}/stripe/webhook", content=body, headers=headers).status_code == 200

    def meta(self, document: dict[str, Any]) -> None:
        """Meta posts a signed webhook; the worker processes it."""
        body, headers = meta_signed(document)
        assert httpx.post(f"{self.url}/whatsapp/webhook", content=body, headers=headers).status_code == 200
        self.bridge.work()

    def payment(self) -> dict[str, Any]:
        """A fresh payment_intent.succeeded for CUSTOMER, posted; returns the event."""
        event = samples.fresh_event(EVENT_TYPE, phone=CUSTOMER)
        self.stripe(event)
        return event

    def delivery_of(self, event: dict[str, Any]) -> dict[str, Any]:
        (record,) = self.bridge.store.query(event_id=event["id"]).items
        return record


@pytest.fixture
def site(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI) -> Iterator[Site]:
    bridge = admin_bridge(redis_url, fake_graph)
    try:
        with live_server(bridge.app) as url:
            yield Site(bridge, url, fake_graph)
    finally:
        bridge.close()


def sign_in(page: Page, site: Site, lang: str = "en") -> None:
    page.goto(f"{site.url}/admin?lang={lang}")
    page.locator("#token").fill(TOKEN)
    page.locator("#token").press("Enter")  # the keyboard is enough
    page.locator("nav").wait_for()
    page.wait_for_load_state("load")  # the stylesheet too: layout and focus styles are measured


def row_status(page: Page, record: dict[str, Any]) -> str:
    return page.locator(f'tr[data-delivery="{record["id"]}"] .status').inner_text()


def test_sign_in_watch_a_payment_turn_delivered_and_sign_out(site: Site, page: Page):
    page.goto(f"{site.url}/admin")
    assert page.locator("h1").inner_text() == "Sign in"
    assert_accessible(page)
    screenshot(page, "sign-in")
    sign_in(page, site)
    assert page.locator("h1").inner_text() == "Overview"
    assert "WhatsApp accepts the token: sending from +1 631-555-5555" in page.locator("#token-check").inner_text()
    page.get_by_role("button", name="Check again").click()
    assert "The WhatsApp token was checked again." in page.locator(".flashes").inner_text()
    assert len(site.fake.phone_number_reads) == 2, "once for the first load, once more when asked"

    event = site.payment()
    record = site.delivery_of(event)
    page.get_by_role("link", name="Deliveries").click()
    assert row_status(page, record) == "queued"

    site.bridge.work()
    page.reload()
    assert row_status(page, record) == "sent"
    assert MASKED in page.locator(f'tr[data-delivery="{record["id"]}"]').inner_text(), "the number as the logs show it"
    assert CUSTOMER not in page.content()
    wamid = site.delivery_of(event)["wamid"]
    site.meta(status_post(wamid, "delivered", recipient=CUSTOMER.removeprefix("+")))
    page.reload()
    assert row_status(page, record) == "delivered"

    page.locator(f'tr[data-delivery="{record["id"]}"] a').click()
    history = page.locator(".history li").all_inner_texts()
    assert [entry.split()[0] for entry in history] == ["queued", "sending", "sent", "delivered"]
    assert "reported by WhatsApp" in history[-1]
    assert page.get_by_role("button", name="Replay").count() == 0, "a delivered message has nothing to replay"
    assert wamid in page.locator(".facts").inner_text()
    screenshot(page, "delivery-delivered")

    page.get_by_role("link", name="Overview").click()
    counts = page.locator(".counts").inner_text()
    assert re.search(r"delivered\s+1", counts), counts
    assert page.locator("svg.chart rect.bar").count() == 24
    page.get_by_role("button", name="Sign out").click()
    assert page.locator("h1").inner_text() == "Sign in"
    page.goto(f"{site.url}/admin/deliveries")
    assert page.locator("h1").inner_text() == "Sign in", "signed out: the log asks for the token again"


def test_a_permanent_failure_shows_meta_s_meaning_and_a_replay_sends_it_once(site: Site, page: Page):
    sign_in(page, site)
    site.fake.script(Reply.error(131026))
    event = site.payment()
    site.bridge.work()
    record = site.delivery_of(event)
    assert record["status"] == Status.FAILED

    page.goto(f"{site.url}/admin/deliveries")
    page.locator("#status").select_option("failed")  # page.js applies the filter on change
    page.wait_for_url(re.compile(r"status=failed"))
    assert row_status(page, record) == "failed"
    page.locator(f'tr[data-delivery="{record["id"]}"] a').click()
    failure = page.locator(".failure").inner_text()
    assert "131026" in failure
    assert "the number is not on WhatsApp or cannot receive this message" in failure
    assert_accessible(page)
    screenshot(page, "delivery-failed")

    sent_before = len(site.fake.accepted)
    page.get_by_role("button", name="Replay").click()
    assert "Queued again" in page.locator(".flashes").inner_text()
    site.bridge.work()
    page.reload()
    assert page.locator("#status").inner_text() == "sent"
    assert len(site.fake.accepted) == sent_before + 1, "the replay sent the message once"
    assert page.get_by_role("button", name="Replay").count() == 0
    site.bridge.work()
    assert len(site.fake.accepted) == sent_before + 1, "and nothing sends it again"


def test_replay_all_failed_since_a_time_from_the_log(site: Site, page: Page):
    sign_in(page, site)
    site.fake.script(Reply.error(131026), Reply.error(131026))
    events = [site.payment(), site.payment()]
    site.bridge.work()
    assert [site.delivery_of(e)["status"] for e in events] == [Status.FAILED, Status.FAILED]
    page.goto(f"{site.url}/admin/deliveries")
    page.locator("#replay-since").fill("1h")
    page.get_by_role("button", name="Replay all failed").click()
    assert "2 failed messages queued again." in page.locator(".flashes").inner_text()
    site.bridge.work()
    assert [site.delivery_of(e)["status"] for e in events] == [Status.SENT, Status.SENT]


def test_add_and_remove_an_opt_out(site: Site, page: Page):
    sign_in(page, site)
    page.get_by_role("link", name="Opt-outs").click()
    assert "Nobody has opted out." in page.locator("main").inner_text()
    page.get_by_label("Phone number").first.fill(CUSTOMER)
    page.locator("#add-scope").select_option("marketing")
    page.get_by_label("Note (optional)").fill("asked by phone")
    page.get_by_role("button", name="Add", exact=True).click()
    assert f"{MASKED} will not get these messages any more." in page.locator(".flashes").inner_text()
    row = page.locator("tbody tr").inner_text()
    assert MASKED in row and "marketing messages" in row and "asked by phone" in row
    assert CUSTOMER not in page.content(), "the full number is never on the page"
    screenshot(page, "optouts")

    page.locator("#remove-phone").fill(CUSTOMER)
    page.get_by_role("button", name="Remove the opt-out").click()
    assert f"{MASKED} gets messages again" in page.locator(".flashes").inner_text()
    assert "Nobody has opted out." in page.locator("main").inner_text()


def test_the_arabic_overview_is_laid_out_right_to_left(site: Site, page: Page):
    site.payment()
    site.bridge.work()
    sign_in(page, site, lang="ar")
    assert page.locator("h1").inner_text() == "نظرة عامة"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    site_name, tools = page.locator(".site").bounding_box(), page.locator(".tools").bounding_box()
    assert site_name is not None and tools is not None
    assert site_name["x"] > tools["x"], "the header starts on the right in Arabic"
    assert "أُرسلت" in page.locator(".counts").inner_text()
    page.get_by_role("link", name="الرسائل المرسلة").click()
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl", "the session remembers the language"
    page.goto(f"{site.url}/admin?lang=en")
    assert page.evaluate("getComputedStyle(document.body).direction") == "ltr"


PAGES = ("overview", "deliveries", "delivery", "mappings", "optouts")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_page_is_accessible_and_fits_the_screen(browser: Browser, site: Site, lang: str, viewport: str):
    site.fake.script(Reply.error(131026))
    failed = site.payment()
    site.payment()
    site.bridge.work()
    site.bridge.worker_runtime.optouts.add(CUSTOMER, Scope.ALL, at=1.0, source="test")
    size = PHONE_VIEWPORT if viewport == "phone" else DESKTOP_VIEWPORT
    with open_page(browser, size) as page:
        sign_in(page, site, lang)
        paths = {
            "overview": "/admin",
            "deliveries": "/admin/deliveries",
            "delivery": f"/admin/deliveries/{site.delivery_of(failed)['id']}",
            "mappings": "/admin/mappings",
            "optouts": "/admin/optouts",
        }
        for name in PAGES:
            page.goto(f"{site.url}{paths[name]}")
            assert page.evaluate("document.documentElement.dir") == ("rtl" if lang == "ar" else "ltr")
            assert_accessible(page)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} is {overflow} px wider than the {viewport} screen"
            screenshot(page, f"{name}-{lang}-{viewport}")


def test_the_skip_link_is_the_first_stop_of_the_keyboard_and_moves_focus_to_the_content(site: Site, page: Page):
    sign_in(page, site)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.locator(".skip").is_visible(), "it shows when focused"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "focus is visible"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
