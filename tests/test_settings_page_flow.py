"""The issue's whole flow, once in English and once in Arabic, in a real browser (Debian's Chromium
under Playwright) against the whole web app on a real socket, real Redis, the fake Graph API and
an in-process worker: a merchant who never saw the config file maps payment_intent.succeeded to an
approved template from the page alone (refused, fixed, saved, previewed, test-sent), then watches
real payments: one turns delivered after Meta's signed status webhook, one fails for good with
Meta's meaning shown, is replayed once the number is fixed on Meta's side, and is sent exactly once.

The config's own mappings for payment_intent.succeeded are left out, so every message of the flow
goes through the mapping made on the page. What the page says is looked up in the page's own
catalogue, so the Arabic run proves the Arabic text is shown (and differs from the English).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from redis import Redis

from bridge.delivery.records import Status
from bridge.settings_page.i18n import CATALOGUES
from bridge.stripe_events import samples
from bridge.whatsapp.errors import lookup
from tests.browser import assert_accessible, expect_status, live_server, screenshot
from tests.conftest import Bridge, example_raw, meta_signed, signed
from tests.fake_graph import FakeGraphAPI, Reply
from tests.meta_posts import status_post
from tests.settings_page_support import TOKEN, admin_bridge
from tests.test_settings_page_mapping_form import write_snapshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

NAME = "receipt_from_the_page"
EVENT_TYPE = "payment_intent.succeeded"
CUSTOMER = "+14155550123"
MASKED = "+1******0123"


@dataclass
class Site:
    bridge: Bridge
    url: str
    fake: FakeGraphAPI

    def payment(self) -> dict[str, Any]:
        """Stripe posts a signed payment_intent.succeeded for CUSTOMER to the server the browser uses."""
        event = samples.fresh_event(EVENT_TYPE, phone=CUSTOMER)
        body, headers = signed(event)
        assert httpx.post(f"{self.url}/stripe/webhook", content=body, headers=headers).status_code == 200
        return event

    def meta(self, document: dict[str, Any]) -> None:
        """Meta posts a signed status webhook; the worker processes it."""
        body, headers = meta_signed(document)
        assert httpx.post(f"{self.url}/whatsapp/webhook", content=body, headers=headers).status_code == 200
        self.bridge.work()

    def delivery_of(self, event: dict[str, Any]) -> dict[str, Any]:
        (record,) = self.bridge.store.query(event_id=event["id"]).items
        return record


@pytest.fixture
def site(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path) -> Iterator[Site]:
    fake_graph.know_templates()  # the fake refuses a template it does not know, as Meta does
    mappings = [m for m in example_raw()["mappings"] if "recipients" not in m and EVENT_TYPE not in m["events"]]
    bridge = admin_bridge(redis_url, fake_graph, mappings=mappings, whatsapp={"templates_file": write_snapshot(tmp_path)})
    try:
        with live_server(bridge.app) as url:
            yield Site(bridge, url, fake_graph)
    finally:
        bridge.close()


class Words:
    """What the page says in `lang`, from the page's own catalogue."""

    def __init__(self, lang: str):
        self.lang = lang

    def __call__(self, message: str, **values: str) -> str:
        translated = CATALOGUES[self.lang].gettext(message)
        if self.lang != "en":
            assert translated != message, f"no {self.lang} translation of {message!r}"
        return translated % values if values else translated


def assert_laid_out(page: Page, lang: str) -> None:
    """The page's direction, read from computed styles and from where things land on the screen."""
    direction = "rtl" if lang == "ar" else "ltr"
    assert page.evaluate("getComputedStyle(document.body).direction") == direction
    assert page.evaluate("document.documentElement.lang") == lang
    # Where the heading's text (not its full-width box) lands inside <main>.
    left_gap, right_gap = page.evaluate(
        """() => {
            const main = document.querySelector("main").getBoundingClientRect();
            const range = document.createRange();
            range.selectNodeContents(document.querySelector("main h1"));
            const text = range.getBoundingClientRect();
            return [text.left - main.left, main.right - text.right];
        }"""
    )
    if lang == "ar":
        assert right_gap < left_gap, "the heading starts on the right"
    else:
        assert left_gap < right_gap, "the heading starts on the left"


def field_starts_on_the_right(page: Page, selector: str) -> bool:
    """A label sits at the right edge of its form in a right-to-left page."""
    left_gap, right_gap = page.evaluate(
        """(selector) => {
            const form = document.querySelector("#mapping-form").getBoundingClientRect();
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(`label[for="${selector}"]`));
            const text = range.getBoundingClientRect();
            return [text.left - form.left, form.right - text.right];
        }""",
        selector,
    )
    return right_gap < left_gap


def seen_left_to_right(page: Page, selector: str, characters: str) -> str:
    """The `characters` of the element's text in the order they appear on the screen, left to
    right: how a reader sees a number or code that the bidi algorithm may have reordered."""
    return page.evaluate(
        """([selector, characters]) => {
            const seen = [];
            const walk = (node) => {
                if (node.nodeType !== Node.TEXT_NODE) return node.childNodes.forEach(walk);
                for (let i = 0; i < node.length; i++) {
                    if (!characters.includes(node.data[i])) continue;
                    const range = document.createRange();
                    range.setStart(node, i);
                    range.setEnd(node, i + 1);
                    const box = range.getBoundingClientRect();
                    if (box.width) seen.push([box.left, node.data[i]]);
                }
            };
            walk(document.querySelector(selector));
            return seen.sort((a, b) => a[0] - b[0]).map((pair) => pair[1]).join("");
        }""",
        [selector, characters],
    )


def status_of_row(page: Page, record: dict[str, Any]) -> str:
    return page.locator(f'tr[data-delivery="{record["id"]}"] .status').inner_text()


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_merchant_maps_a_payment_from_the_page_and_watches_it_delivered_failed_and_replayed(site: Site, page: Page, lang: str):
    say = Words(lang)
    page.goto(f"{site.url}/admin?lang={lang}")
    assert page.locator("h1").inner_text() == say("Sign in")
    page.locator("#token").fill(TOKEN)
    page.locator("#token").press("Enter")
    page.locator("nav").wait_for()
    page.wait_for_load_state("load")
    assert_laid_out(page, lang)
    screenshot(page, f"flow-{lang}-overview")

    # -- map payment_intent.succeeded from the page: refused, fixed, saved -------------------------
    page.locator('nav a[href="/admin/mappings"]').click()
    assert_laid_out(page, lang)
    page.locator('a[href="/admin/mappings/new"]').click()
    assert page.locator("h1").inner_text() == say("New mapping")
    page.locator("#name").fill(NAME)
    assert page.locator("#events").input_value() == EVENT_TYPE
    with expect_status(page, 422):  # page.js asks for the template's fields: they come with the finding that they are empty
        page.locator("#template").select_option("payment_receipt")
    page.locator("#body-3").wait_for()
    assert (field_starts_on_the_right(page, "template")) == (lang == "ar")
    assert page.evaluate("getComputedStyle(document.querySelector('#body-1')).direction") == "ltr", "an expression reads left to right"
    page.locator("#body-1").fill("{{ object.shipping.name }}")
    page.locator("#body-2").fill("{{ object.amount_received | }}")  # a Jinja syntax error
    page.locator("#body-3").fill("{{ object.id[-8:] }}")
    with expect_status(page, 422):  # refused: the form again, its findings the answer
        page.locator('#mapping-form .actions button[type="submit"]').click()
    assert say("Not saved: fix the problems shown next to the fields.") in page.locator(".flashes").inner_text()
    assert "template syntax error" in page.locator("#body-2-errors").inner_text()
    assert page.locator("#body-2").get_attribute("aria-invalid") == "true"
    assert_laid_out(page, lang)
    assert_accessible(page)
    screenshot(page, f"flow-{lang}-mapping-refused")
    assert site.bridge.worker_runtime.redis.hlen(site.bridge.worker_runtime.keys.saved_mappings) == 0, "nothing was saved"

    page.locator("#body-2").fill("{{ object.amount_received | money(object.currency) }}")
    page.locator('#mapping-form .actions button[type="submit"]').click()
    assert say("Mapping %(name)s saved: it applies to the next events.", name=NAME) in page.locator(".flashes").inner_text()
    saved = page.locator(f'article[data-mapping="{NAME}"]')
    assert say("saved on this page") in saved.inner_text() and say("No problems found.") in saved.inner_text()

    # -- preview and test send ----------------------------------------------------------------------
    saved.locator(f'a[href="/admin/mappings/{NAME}"]').click()
    page.locator("#preview-button").click()
    bubble = page.locator(".bubble-body").inner_text()
    assert re.fullmatch(r"Hi .+, we received your payment of \$\d+\.\d\d for order \w{8}\. Thank you!", bubble), bubble
    assert '"name": "payment_receipt"' in page.locator(".api-body").inner_text()
    screenshot(page, f"flow-{lang}-preview")
    page.locator("#phone").fill(CUSTOMER)
    page.locator('button[formaction$="/test-send#test-send"]').click()
    (test_sent,) = site.fake.accepted
    assert test_sent.wamid and page.locator(".wamid").inner_text() == test_sent.wamid
    assert say("Sent to %(phone)s.", phone=MASKED) in page.locator("#test-result").inner_text()
    assert CUSTOMER not in page.locator("main").inner_text(), "the number is masked once sent"
    assert seen_left_to_right(page, "#test-result .ok bdi", "+*0123456789") == MASKED, "the number is not reordered in a sentence"
    assert seen_left_to_right(page, "#when-help", "j>0") == "j>0", "nor is the example of a condition"
    screenshot(page, f"flow-{lang}-test-sent")

    # -- a real payment: queued, sent with the page's mapping, delivered ----------------------------
    paid = site.payment()
    record = site.delivery_of(paid)
    assert record["mapping"] == NAME, "the page's mapping made the delivery"
    page.locator('nav a[href="/admin/deliveries"]').click()
    assert status_of_row(page, record) == say("queued")
    site.bridge.work()
    page.reload()
    assert status_of_row(page, record) == say("sent")
    assert MASKED in page.locator(f'tr[data-delivery="{record["id"]}"]').inner_text(), "the number as the logs show it"
    sent = site.fake.accepted[-1]
    assert sent.json["template"]["name"] == "payment_receipt" and sent.json["to"] == CUSTOMER
    site.meta(status_post(sent.wamid, "delivered", recipient=CUSTOMER.removeprefix("+")))
    page.reload()
    assert status_of_row(page, record) == say("delivered")
    assert_laid_out(page, lang)
    screenshot(page, f"flow-{lang}-deliveries")
    page.locator(f'tr[data-delivery="{record["id"]}"] a').click()
    history = page.locator(".history li").all_inner_texts()
    assert [entry.split()[0] for entry in history] == [say(s).split()[0] for s in ("queued", "sending", "sent", "delivered")]

    # -- Meta refuses for good: the reason shown; fixed on Meta's side, replayed, sent once ---------
    site.fake.script(Reply.error(131026))
    failing = site.payment()
    site.bridge.work()
    failed = site.delivery_of(failing)
    assert failed["status"] == Status.FAILED
    page.locator('nav a[href="/admin/deliveries"]').click()
    page.locator("#status").select_option("failed")  # page.js applies the filter on change
    page.wait_for_url(re.compile(r"status=failed"))
    assert status_of_row(page, failed) == say("failed")
    page.locator(f'tr[data-delivery="{failed["id"]}"] a').click()
    failure = page.locator(".failure").inner_text()
    meaning = lookup(131026)
    assert meaning is not None
    assert "131026" in failure and say(meaning.meaning) in failure, "Meta's meaning, in the page's language"
    assert_laid_out(page, lang)
    assert_accessible(page)
    screenshot(page, f"flow-{lang}-delivery-failed")

    sent_before = len(site.fake.accepted)  # the fake answers 200 again: the customer's number works now
    page.locator('form[action$="/replay"] button').click()
    assert say("Queued again: the message will be sent in a moment.") in page.locator(".flashes").inner_text()
    site.bridge.work()
    page.reload()
    assert page.locator("#status").inner_text() == say("sent")
    assert len(site.fake.accepted) == sent_before + 1, "the replay sent the message once"
    assert page.locator('form[action$="/replay"] button').count() == 0, "nothing left to replay"
    site.bridge.work()
    assert len(site.fake.accepted) == sent_before + 1, "and nothing sends it again"
    screenshot(page, f"flow-{lang}-replayed")
