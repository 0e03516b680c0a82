"""The mapping form in a real browser (Debian's Chromium under Playwright) against the whole web
app on a real socket, real Redis and the fake Graph API: a merchant maps payment_intent.succeeded
to an approved template from the page alone, sees a mistake refused with its finding next to the
field (answered 422), fixes and saves it, previews it, and test-sends it (a wamid, then Meta's
131026 explained, answered 409); a preview with a mistake shows its finding without leaving the page;
a mapping's header and button fields are edited like its body's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis import Redis

from tests.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, assert_accessible, expect_status, live_server, open_page, screenshot
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI, Reply
from tests.settings_page_support import TOKEN, admin_bridge
from tests.test_settings_page_mapping_form import write_snapshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

NAME = "receipt_paid"
PHONE = "+14155550123"
MASKED = "+1******0123"


Site = tuple[Bridge, str, FakeGraphAPI]


@pytest.fixture
def site(redis: Redis, redis_url: str, fake_graph: FakeGraphAPI, tmp_path: Path) -> Iterator[tuple[Bridge, str, FakeGraphAPI]]:
    fake_graph.know_templates()
    bridge = admin_bridge(redis_url, fake_graph, whatsapp={"templates_file": write_snapshot(tmp_path)})
    try:
        with live_server(bridge.app) as url:
            yield bridge, url, fake_graph
    finally:
        bridge.close()


def sign_in(page: Page, url: str, lang: str = "en") -> None:
    page.goto(f"{url}/admin?lang={lang}")
    page.locator("#token").fill(TOKEN)
    page.locator("#token").press("Enter")
    page.locator("nav").wait_for()


def test_map_a_payment_to_a_template_refused_fixed_saved_previewed_and_test_sent(site: Site, page: Page):
    _bridge, url, fake = site
    sign_in(page, url)
    page.get_by_role("link", name="Mappings").click()
    page.get_by_role("link", name="New mapping").click()
    page.get_by_label("Name", exact=True).fill(NAME)
    assert page.get_by_label("Stripe events", exact=True).input_value() == "payment_intent.succeeded"
    assert "payment_receipt (ar, en_US, es): {{1}} {{2}} {{3}}" in page.locator("#template").inner_text()
    page.get_by_label("Template", exact=True).focus()  # as a person choosing with the keyboard or the mouse
    with expect_status(page, 422):  # page.js fetches a preview: the template's fields appear, each finding that it is empty beside it
        page.get_by_label("Template", exact=True).select_option("payment_receipt")
    page.locator("#body-3").wait_for()
    assert page.locator("#body-1-errors").count() == 1 and page.evaluate("document.activeElement.id") == "template"
    assert page.get_by_role("textbox", name="Language").input_value() == "en_US"
    assert "Hi {{1}}, we received your payment of {{2}}" in page.locator("#template-text").inner_text()
    page.get_by_label("Parameter {{1}}", exact=True).fill("{{ object.shipping.name }}")
    page.get_by_label("Parameter {{2}}", exact=True).fill("{{ object.amount_received | }}")  # a Jinja syntax error
    page.get_by_label("Parameter {{3}}", exact=True).fill("{{ object.id[-8:] }}")
    with expect_status(page, 422):
        page.get_by_role("button", name="Save").click()

    finding = page.locator("#body-2-errors").inner_text()
    assert "body[1]" in finding and "template syntax error" in finding, finding
    assert page.get_by_label("Parameter {{2}}", exact=True).get_attribute("aria-invalid") == "true"
    assert "body-2-errors" in (page.get_by_label("Parameter {{2}}", exact=True).get_attribute("aria-describedby") or "")
    assert_accessible(page)
    screenshot(page, "mapping-form-refused")
    page.goto(f"{url}/admin/mappings")
    assert page.locator(f'article[data-mapping="{NAME}"]').count() == 0, "nothing was saved"
    with expect_status(page, 422):  # the refused page again: Chromium posts its form anew (no-store)
        page.go_back()

    page.get_by_label("Parameter {{2}}", exact=True).fill("{{ object.amount_received | money(object.currency) }}")
    page.get_by_role("button", name="Save").click()
    assert f"Mapping {NAME} saved" in page.locator(".flashes").inner_text()
    saved = page.locator(f'article[data-mapping="{NAME}"]')
    assert "saved on this page" in saved.inner_text() and "No problems found." in saved.inner_text()

    saved.get_by_role("link", name=f"Edit {NAME}").click()
    page.evaluate("window.sameDocument = true")
    page.get_by_role("button", name="Preview").click()
    bubble = page.locator(".bubble-body").inner_text()
    assert page.evaluate("window.sameDocument === true"), "page.js fetched the preview into the page, no reload"
    assert re.fullmatch(r"Hi .+, we received your payment of \$\d+\.\d\d for order \w{8}\. Thank you!", bubble), bubble
    body = page.locator(".api-body").inner_text()
    assert '"name": "payment_receipt"' in body and re.search(r'"to": "\+\d{1,3}\*+\d{4}"', body), body
    assert_accessible(page)
    screenshot(page, "mapping-form-preview")

    page.get_by_label("Send to phone number", exact=True).fill(PHONE)
    page.get_by_role("button", name="Send a test").click()
    result = page.locator("#test-result").inner_text()
    (sent,) = fake.accepted
    assert sent.wamid and sent.wamid in page.locator(".wamid").inner_text()
    assert f"Sent to {MASKED}." in result and PHONE not in page.locator("main").inner_text()
    screenshot(page, "mapping-form-test-sent")

    fake.script(Reply.error(131026))
    page.get_by_label("Send to phone number", exact=True).fill(PHONE)
    with expect_status(page, 409):  # as the admin API answers Meta's refusal
        page.get_by_role("button", name="Send a test").click()
    refused = page.locator(".meta-error").inner_text()
    assert "error 131026" in refused
    assert "the number is not on WhatsApp or cannot receive this message" in refused, refused
    assert len(fake.accepted) == 1
    assert_accessible(page)
    screenshot(page, "mapping-form-meta-error")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_form_with_header_and_button_fields_is_accessible_and_fits_the_screen(browser: Browser, site: Site, lang: str, viewport: str):
    _bridge, url, _fake = site
    with open_page(browser, PHONE_VIEWPORT if viewport == "phone" else DESKTOP_VIEWPORT) as page:
        sign_in(page, url, lang)
        page.goto(f"{url}/admin/mappings/invoice_paid")
        assert page.evaluate("document.documentElement.dir") == ("rtl" if lang == "ar" else "ltr")
        page.locator("#preview-button").click()
        page.locator(".bubble-body").wait_for()
        assert_accessible(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the form is {overflow} px wider than the {viewport} screen"
        screenshot(page, f"mapping-form-{lang}-{viewport}")


def test_a_preview_with_a_mistake_shows_its_finding_in_the_page_then_the_message_once_fixed(site: Site, page: Page):
    _bridge, url, _fake = site
    sign_in(page, url)
    page.goto(f"{url}/admin/mappings/payment_received")
    page.evaluate("window.sameDocument = true")
    page.get_by_label("Only when (optional)", exact=True).fill("object.amount_received >")
    with expect_status(page, 422):  # page.js takes the 422 as the answer it is: the form with its findings
        page.get_by_role("button", name="Preview").click()
    finding = page.locator("#when-errors").inner_text()
    assert "when" in finding and page.get_by_label("Only when (optional)", exact=True).get_attribute("aria-invalid") == "true"
    assert page.evaluate("window.sameDocument === true"), "no reload"
    assert_accessible(page)
    page.get_by_label("Only when (optional)", exact=True).fill("object.amount_received > 0")
    page.get_by_role("button", name="Preview").click()
    page.locator(".bubble-body").wait_for()
    assert page.locator("#when-errors").count() == 0 and page.evaluate("window.sameDocument === true")


def test_a_mapping_s_header_and_button_are_edited_on_the_page(site: Site, page: Page):
    _bridge, url, _fake = site
    sign_in(page, url)
    page.goto(f"{url}/admin/mappings/invoice_paid")
    assert page.get_by_label("Document link", exact=True).input_value() == "{{ object.invoice_pdf }}"
    assert page.get_by_label("File name shown (optional)", exact=True).input_value() == "Invoice {{ object.number }}.pdf"
    suffix = page.get_by_label("Button “View receipt”: link suffix", exact=True)
    assert suffix.input_value() == "{{ object.hosted_invoice_url | replace('https://invoice.stripe.com/', '') }}"
    suffix.fill("{{ object.hosted_invoice_url | }}")
    with expect_status(page, 422):
        page.get_by_role("button", name="Save").click()
    assert "buttons[0].url" in page.locator("#button-0-url-errors").inner_text()
    assert page.get_by_label("Button “View receipt”: link suffix", exact=True).get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    screenshot(page, "mapping-form-button-refused")
    page.get_by_label("Button “View receipt”: link suffix", exact=True).fill("{{ object.hosted_invoice_url[27:] }}")
    page.get_by_label("File name shown (optional)", exact=True).fill("Receipt {{ object.number }}.pdf")
    page.get_by_role("button", name="Save").click()
    saved = page.locator('article[data-mapping="invoice_paid"]')
    assert "saved on this page, over the config file's" in saved.inner_text() and "No problems found." in saved.inner_text()
    saved.get_by_role("link", name="Edit invoice_paid").click()
    assert page.get_by_label("File name shown (optional)", exact=True).input_value() == "Receipt {{ object.number }}.pdf"
    assert page.get_by_label("Button “View receipt”: link suffix", exact=True).input_value() == "{{ object.hosted_invoice_url[27:] }}"
