"""The browser-test machinery itself (tests/browser.py): Debian's Chromium opens pages a real Flask
app serves over a socket, computed styles and layout are read back, axe-core finds a missing label
and passes a labelled form, screenshots land in the run's artifacts, other hosts are blocked, and an
answer with an error status fails a strict page unless the test expected exactly that form post's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask, abort, request

from tests.browser import check_accessibility, expect_status, launched_chromium, live_server, open_page, run_artifacts_dir, screenshot

if TYPE_CHECKING:  # Playwright may be missing: then the browser fixture skips these tests, collection must not fail
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

FORM = """<!doctype html>
<html lang="ar" dir="rtl">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>الإعدادات</title></head>
<body><main>
<h1>الإعدادات</h1>
<form method="post">{field}<button type="submit">حفظ</button></form>
</main></body>
</html>"""
LABELLED = FORM.format(field='<label for="phone">رقم الهاتف</label> <input id="phone" name="phone" type="tel">')
UNLABELLED = FORM.format(field='<input id="phone" name="phone" type="tel">')
WITH_CDN = LABELLED.replace("</head>", '<link rel="stylesheet" href="https://cdn.example.invalid/site.css"></head>')
PAGES = {"labelled": LABELLED, "unlabelled": UNLABELLED, "with-cdn": WITH_CDN}
FETCH_POST = "fetch(location.href, {method: 'POST', body: new FormData(document.forms[0])}).then(r => r.status)"
STRICT_CSP = "default-src 'self'; frame-ancestors 'none'"
"""As strict as the admin page's will be: no inline or injected script may run under it."""


def make_site() -> Flask:
    """A tiny app serving PAGES at /<name>, with a strict Content-Security-Policy unless ?csp=off."""
    app = Flask(__name__)

    @app.post("/<name>")
    def refuse(name: str):
        """Every form post is refused, as the settings page refuses a form with findings."""
        return PAGES.get(name, ""), 422, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/<name>")
    def show(name: str):
        if name == "refused":
            return LABELLED, 422, {"Content-Type": "text/html; charset=utf-8"}
        if name not in PAGES:
            abort(404)  # Chromium asks for /favicon.ico now and then
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if request.args.get("csp") != "off":
            headers["Content-Security-Policy"] = STRICT_CSP
        return PAGES[name], 200, headers

    return app


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with live_server(make_site()) as url:
        yield url


def test_a_right_to_left_page_is_laid_out_right_to_left(page: Page, site: str):
    page.goto(f"{site}/labelled")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    label, field = page.locator("label").bounding_box(), page.locator("#phone").bounding_box()
    assert label is not None and field is not None
    assert label["x"] > field["x"], "the label comes first in the markup, so in RTL it sits to the right of its field"


def test_a_field_without_a_label_is_a_critical_accessibility_violation(page: Page, site: str):
    page.goto(f"{site}/unlabelled")
    violations = check_accessibility(page)
    assert [(v.rule, v.impact) for v in violations] == [("label", "critical")]
    assert violations[0].targets == ("#phone",)


def test_a_labelled_form_has_no_serious_accessibility_violations(page: Page, site: str):
    page.goto(f"{site}/labelled")
    assert check_accessibility(page) == []


def test_a_screenshot_is_saved_as_a_png_in_the_test_s_artifacts_folder(page: Page, site: str):
    page.goto(f"{site}/labelled")
    path = screenshot(page, "settings (ar)")
    assert path.parent.parent == run_artifacts_dir()
    assert path.name == "settings-ar.png"
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")
    assert width == 1280


@pytest.mark.parametrize(
    ("query", "reported_as"),
    [
        ("csp=off", "asked another host"),  # Playwright's route blocks it before it leaves the machine
        ("csp=on", "violates the following Content Security Policy"),  # the page's CSP refuses it first
    ],
)
def test_a_stylesheet_from_another_host_fails_a_strict_page(browser: Browser, site: str, query: str, reported_as: str):
    with pytest.raises(AssertionError, match=reported_as) as failure, open_page(browser) as page:
        page.goto(f"{site}/with-cdn?{query}")
        assert page.locator("h1").is_visible()
    assert "https://cdn.example.invalid/site.css" in str(failure.value)


def test_a_form_post_answered_422_fails_a_strict_page_unless_the_test_expects_it(browser: Browser, site: str):
    with pytest.raises(AssertionError, match="status of 422"), open_page(browser) as page:
        page.goto(f"{site}/labelled")
        page.get_by_role("button").click()
        page.wait_for_load_state()
    with open_page(browser) as page:
        page.goto(f"{site}/labelled")
        with expect_status(page, 422):
            page.get_by_role("button").click()
        with expect_status(page, 422):
            assert page.evaluate(FETCH_POST) == 422


def test_an_expected_status_excuses_one_answer_and_nothing_else(browser: Browser, site: str):
    with pytest.raises(AssertionError, match="status of 422") as failure, open_page(browser) as page:
        page.goto(f"{site}/labelled")
        with expect_status(page, 422):
            assert page.evaluate(FETCH_POST) == 422
            assert page.evaluate(FETCH_POST) == 422  # a second refusal nobody announced
    reported = [line for line in str(failure.value).splitlines() if line.strip().startswith("console: Failed to load resource")]
    assert len(reported) == 1, reported
    with pytest.raises(AssertionError, match="status of 422") as failure, open_page(browser) as page:
        page.goto(f"{site}/labelled")
        with expect_status(page, 422):
            page.get_by_role("button").click()
        page.goto(f"{site}/refused")  # a page answered 422 is no form post: still an error
    assert "/refused" in str(failure.value)


def test_a_page_that_is_not_strict_tolerates_console_errors(browser: Browser, site: str):
    with open_page(browser, strict=False) as page:
        page.goto(f"{site}/with-cdn")
        assert page.locator("h1").is_visible()


@pytest.mark.parametrize(
    ("chromium_path", "reason"),
    [
        (None, "no Chromium on this machine: apt-get install chromium"),  # and none on PATH
        ("/nonexistent/chromium", "Chromium at /nonexistent/chromium did not start"),
        ("/bin/false", "Chromium at /bin/false did not start"),
    ],
)
@pytest.mark.parametrize("ci", ["", "true"])
def test_without_a_browser_the_tests_skip_with_the_reason_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chromium_path: str | None, reason: str, ci: str
):
    monkeypatch.setenv("CI", ci)
    if chromium_path is None:
        monkeypatch.delenv("CHROMIUM_PATH", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
    else:
        monkeypatch.setenv("CHROMIUM_PATH", chromium_path)
    with ThreadPoolExecutor(1) as thread:  # this thread's Playwright is the module's browser: one per thread
        stopped = thread.submit(try_to_launch).result()
    assert isinstance(stopped, pytest.fail.Exception if ci else pytest.skip.Exception)
    assert reason in str(stopped)
    assert ("CI=true" in str(stopped)) == bool(ci)


def test_without_playwright_the_tests_skip_and_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # what `import` meets when the package is absent
    stopped = try_to_launch()
    assert isinstance(stopped, pytest.skip.Exception)
    assert "Playwright is not installed: make install" in str(stopped)


def try_to_launch() -> BaseException | None:
    """What launched_chromium() raised (a skip or a fail), None if a browser started."""
    try:
        with launched_chromium():
            return None
    except BaseException as stopped:  # pytest's skip and fail are BaseExceptions
        return stopped
