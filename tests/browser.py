"""Browser tests' support: Debian's Chromium driven by Playwright, axe-core checks, screenshots.

Chromium is Debian's package (`apt-get install chromium`; .ci/run installs it as root), launched
through Playwright with `executable_path`: Playwright's own download (`playwright install`) comes
from a CDN these machines cannot reach. Where no browser starts, the browser tests skip and say
why, except under CI=true: .ci/run has installed one there, so a missing browser fails them.

axe-core is the copy bundled in the axe-playwright-python wheel (pinned in pyproject.toml), so the
accessibility check needs no npm step and no network.

Registered as a pytest plugin by tests/conftest.py; Playwright is imported only when a browser
test runs, so the rest of the suite does not depend on it. Playwright's sync API allows one
instance per thread: browser tests share the module's `browser` fixture rather than start their own.

A strict page fails its test on any console error. Chromium logs one for every answer with an
error status ("Failed to load resource: the server responded with a status of 422 ..."), the
settings page's refusals included (a form answered 422 with its findings); a test that means to
be refused says so around the post with `expect_status(page, 422)`, which waits for that answer
and lets its one console error pass, and nothing else.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser")
"""Debian's package installs /usr/bin/chromium; older Ubuntu packages call it chromium-browser."""
LAUNCH_ARGS = ["--disable-gpu"]
"""No GPU on these machines: Chromium renders in software either way, without probing for one."""
DEFAULT_TIMEOUT_MS = 10_000
"""Every page here is served from this machine: a wait longer than this is a bug, and Playwright's
default of 30 s only makes the failure slower to read."""
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}
"""A common phone's CSS pixels, for the "readable on a phone screen" checks."""
SERIOUS_IMPACTS = frozenset({"serious", "critical"})
"""The axe-core impacts a page must have none of; "minor" and "moderate" are reported, not failed."""
WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
LOAD_FAILED = re.compile(r"^Failed to load resource: the server responded with a status of (?P<status>\d{3})\b")
"""How Chromium reports an answer with an error status in the console."""
FORM_POST_RESOURCES = frozenset({"document", "fetch"})
"""How a form's post is loaded: as the page (an ordinary submission) or by page.js's fetch."""


def in_ci() -> bool:
    """Whether CI=true (or 1/yes) is set, as .ci/run's environment has it."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def browser_unavailable(reason: str) -> NoReturn:
    """Skip a browser test with `reason` on a developer's machine; fail it in CI, where .ci/run
    installs Chromium, so that a broken install cannot pass as a run of skips."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run installs Chromium, so a missing browser fails the browser tests)", pytrace=False)
    pytest.skip(reason)


def chromium_executable() -> str | None:
    """Debian's Chromium: $CHROMIUM_PATH when set, else the first of CHROMIUM_NAMES on PATH."""
    return os.environ.get("CHROMIUM_PATH") or next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright; skips (fails in CI) when none can be started."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        browser_unavailable("Playwright is not installed: make install (the `test` extra pins it)")
    executable = chromium_executable()
    if executable is None:
        browser_unavailable("no Chromium on this machine: apt-get install chromium (as root), or set CHROMIUM_PATH")
    with sync_playwright() as playwright:
        try:
            # As root in a container Chromium's sandbox cannot start: chromium_sandbox=False passes --no-sandbox.
            browser = playwright.chromium.launch(executable_path=executable, headless=True, chromium_sandbox=False, args=LAUNCH_ARGS)
        except Error as error:
            browser_unavailable(f"Chromium at {executable} did not start: {error.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


def is_offsite(url: str) -> bool:
    """Whether a request for `url` would leave this machine (web schemes to a non-loopback host)."""
    parts = urlsplit(url)
    if parts.scheme not in WEB_SCHEMES:
        return False  # data:, blob:, about:, chrome-extension: never touch the network
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


@dataclass
class _Watch:
    """What a strict page reported, and the error answers its test said it expects."""

    offsite: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    """(text, the URL Chromium names with it) of each console error."""
    expected: list[tuple[str, int]] = field(default_factory=list)
    """(URL, status) of each answer `expect_status` saw: each lets one console error about it pass."""

    def unexpected_console_errors(self) -> list[str]:
        allowed = list(self.expected)
        unexpected = []
        for text, url in self.console_errors:
            failed = LOAD_FAILED.match(text)
            answer = (_without_fragment(url), int(failed["status"])) if failed else None
            if answer in allowed:
                allowed.remove(answer)
            else:
                unexpected.append(f"console: {text}" + (f" ({url})" if url else ""))
        return unexpected


_watches: dict[int, _Watch] = {}
"""The strict pages open now, by id(page)."""


@contextmanager
def open_page(
    browser: Browser, viewport: dict[str, int] = DESKTOP_VIEWPORT, *, strict: bool = True, **context_options: Any
) -> Iterator[Page]:
    """A page in a fresh context (its own cookies and storage); requests to other hosts are blocked
    before they leave the machine. When `strict`, the caller fails on the way out if the page asked
    another host for anything, threw an uncaught error or logged a console error (which is how
    Chromium reports what the page's own Content-Security-Policy refused, and an answer with an
    error status the test did not announce with `expect_status`)."""
    context = browser.new_context(viewport=viewport, **context_options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    watch = _Watch()

    def block(route: Route) -> None:
        watch.offsite.append(route.request.url)
        route.abort("blockedbyclient")

    context.route(is_offsite, block)
    page = context.new_page()
    page.on("pageerror", lambda error: watch.problems.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: watch.console_errors.append((message.text, message.location.get("url", ""))) if message.type == "error" else None,
    )
    _watches[id(page)] = watch
    try:
        yield page
    finally:
        context.close()
        _watches.pop(id(page), None)
    if strict:
        assert not watch.offsite, f"the page asked another host for something (everything must be served by the app): {watch.offsite}"
        problems = watch.problems + watch.unexpected_console_errors()
        assert not problems, "the page reported errors:\n" + "\n".join(problems)


@contextmanager
def expect_status(page: Page, status: int) -> Iterator[None]:
    """Say that the form post made inside the block is answered `status` (422: refused, the form
    again with its findings): waits for that answer and lets the one console error Chromium logs
    about it pass the strict check. Only a POST to the page's own origin, loaded as the document
    or by fetch, is such an answer; every other error still fails the test."""
    origin = _origin(page.url)

    def is_it(response: Any) -> bool:
        request = response.request
        same_origin = _origin(response.url) == origin
        return response.status == status and request.method == "POST" and request.resource_type in FORM_POST_RESOURCES and same_origin

    with page.expect_response(is_it) as answer:
        yield
    _watches[id(page)].expected.append((_without_fragment(answer.value.url), status))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 over a real socket from a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Violation:
    """One axe-core rule a page breaks, with the elements that break it."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets)}"


@functools.cache
def axe_source() -> str:
    """axe.min.js as bundled in the axe-playwright-python wheel (read once per run)."""
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def check_accessibility(page: Page, impacts: frozenset[str] = SERIOUS_IMPACTS) -> list[Violation]:
    """axe-core's violations of the page as it is now, those with one of `impacts` (serious and
    critical by default). Injected through the DevTools protocol, so the page's CSP does not apply."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    results = page.evaluate("options => axe.run(document, options)", {"resultTypes": ["violations"]})
    return [
        Violation(rule=v["id"], impact=v["impact"], help=v["help"], targets=tuple(" ".join(map(str, n["target"])) for n in v["nodes"]))
        for v in results["violations"]
        if v["impact"] in impacts
    ]


def assert_accessible(page: Page) -> None:
    """Fail with axe-core's findings when the page has any serious or critical violation."""
    violations = check_accessibility(page)
    assert not violations, "accessibility violations:\n" + "\n".join(map(str, violations))


_run_dir: list[Path] = []


def run_artifacts_dir() -> Path:
    """Where this run keeps its artifacts: $TEST_ARTIFACTS when set, else .artifacts/<run> in the
    repository (one folder per pytest run, named by its start time and process id)."""
    if not _run_dir:
        given = os.environ.get("TEST_ARTIFACTS")
        folder = Path(given) if given else ROOT / ".artifacts" / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        _run_dir.append(folder.resolve())
    return _run_dir[0]


def slug(text: str) -> str:
    """`text` as a file name: runs of anything but letters, digits, dots and dashes become one dash."""
    return re.sub(r"[^\w.-]+", "-", text, flags=re.ASCII).strip("-") or "unnamed"


def current_test_artifacts_dir() -> Path:
    """The running test's own folder in the run's artifacts (named from PYTEST_CURRENT_TEST)."""
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test").rsplit(" ", 1)[0]
    folder = run_artifacts_dir() / slug(test_id.removeprefix("tests/"))
    folder.mkdir(exist_ok=True)
    return folder


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as `<name>.png` in the running test's artifacts folder; returns the path."""
    path = current_test_artifacts_dir() / f"{slug(name)}.png"
    page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (about 1 s to start with Playwright's driver). Not per
    session: while Playwright's sync API is started it marks an asyncio loop as running in this
    thread, so any later module's asyncio.run() would fail."""
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page of its own, strict (see open_page: other hosts, page errors and console errors fail the test)."""
    with open_page(browser) as fresh:
        yield fresh


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots went, when a test saved any."""
    if _run_dir:
        terminalreporter.write_line(f"browser test artifacts: {_run_dir[0]}")
