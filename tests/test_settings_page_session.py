"""The settings page's door: the session cookie (flags, a key derived from ADMIN_TOKEN), CSRF on
every form, the per-address failure limit it shares with the admin API, and the page being off
without ADMIN_TOKEN. Flask's test client over the whole web app, real Redis."""

from __future__ import annotations

import hashlib
import hmac
import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from redis import Redis

from bridge import defaults
from bridge.settings_page.session import KEY_LABEL, local_target, session_key
from bridge.web.app import create_app
from tests.conftest import Bridge, make_config
from tests.settings_page_support import TOKEN, admin_bridge, csrf_of, sign_in


@pytest.fixture
def site(redis: Redis, redis_url: str) -> Iterator[Bridge]:
    bridge = admin_bridge(redis_url)
    try:
        yield bridge
    finally:
        bridge.close()


def cookie_header(response) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("bridge_admin=")]
    return cookie


def test_the_session_key_is_an_hmac_of_a_fixed_label_under_admin_token_and_never_the_token():
    key = session_key(TOKEN)
    assert key == hmac.new(TOKEN.encode(), KEY_LABEL, hashlib.sha256).hexdigest()
    assert TOKEN not in key
    assert session_key(TOKEN + "x") != key


def test_signing_in_sets_an_httponly_samesite_lax_cookie_for_admin_that_lasts_12_hours(site: Bridge):
    response = sign_in(site.client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    cookie = cookie_header(response)
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Path=/admin" in cookie
    assert "; Secure" not in cookie, "plain HTTP without a proxy saying HTTPS: a Secure cookie would never come back"
    assert "Expires=" in cookie
    assert site.client.get("/admin/deliveries").status_code == 200


@pytest.mark.parametrize(
    ("proxy_hops", "headers", "secure"),
    [
        (1, {"X-Forwarded-Proto": "https"}, True),  # Heroku's router
        (1, {"X-Forwarded-Proto": "http"}, False),
        (0, {"X-Forwarded-Proto": "https"}, False),  # no trusted proxy: a client could write that header itself
        (2, {"X-Forwarded-Proto": "https, http"}, True),  # the proxy two hops out saw HTTPS
    ],
)
def test_the_cookie_is_secure_exactly_when_the_request_came_over_https(
    redis: Redis, redis_url: str, proxy_hops: int, headers: dict[str, str], secure: bool
):
    bridge = admin_bridge(redis_url, web={"proxy_hops": proxy_hops})
    try:
        response = sign_in(bridge.client, **headers)
        assert response.status_code == 303
        assert ("; Secure" in cookie_header(response)) == secure
    finally:
        bridge.close()


def test_the_cookie_is_secure_when_the_socket_itself_is_https(site: Bridge):
    form = site.client.get("/admin", base_url="https://localhost")
    assert "; Secure" in cookie_header(form)


def test_another_worker_with_the_same_admin_token_accepts_the_cookie(site: Bridge):
    sign_in(site.client)
    cookie = site.client.get_cookie("bridge_admin", path="/admin")
    assert cookie is not None
    other = create_app(site.config).test_client()  # another gunicorn worker, or the same one after a restart
    other.set_cookie("bridge_admin", cookie.value, path="/admin")
    response = other.get("/admin/deliveries")
    assert response.status_code == 200
    assert "Sign out" in response.get_data(as_text=True)


def test_rotating_admin_token_signs_everyone_out(site: Bridge, redis_url: str):
    sign_in(site.client)
    cookie = site.client.get_cookie("bridge_admin", path="/admin")
    assert cookie is not None
    rotated = create_app(make_config(redis_url, dry_run=True, admin={"token": "rotated-admin-token-9876543210"})).test_client()
    rotated.set_cookie("bridge_admin", cookie.value, path="/admin")
    response = rotated.get("/admin/deliveries")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/?next=")
    assert rotated.get("/admin").get_data(as_text=True).count('name="token"') == 1, "the overview is the sign-in form again"


def test_signing_out_ends_the_session(site: Bridge):
    sign_in(site.client)
    overview = site.client.get("/admin")
    response = site.client.post("/admin/sign-out", data={"csrf_token": csrf_of(overview)})
    assert response.status_code == 303
    assert site.client.get("/admin/deliveries").status_code == 303
    assert "You are signed out." in site.client.get("/admin").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({}, 403),  # no token at all
        ({"csrf_token": "forged-0123456789"}, 403),
        ({"csrf_token": ""}, 403),
        ({"csrf_token": "<this session's>"}, 303),
    ],
)
def test_the_sign_in_form_needs_its_own_csrf_token(site: Bridge, form: dict[str, str], status: int):
    page = site.client.get("/admin")
    data = {name: csrf_of(page) if value == "<this session's>" else value for name, value in form.items()}
    response = site.client.post("/admin/sign-in", data={**data, "token": TOKEN})
    assert response.status_code == status
    if status == 403:
        assert "This form has expired" in response.get_data(as_text=True)
        assert site.client.get("/admin/deliveries").status_code == 303, "not signed in"


def test_a_csrf_token_is_bound_to_its_session(site: Bridge):
    other = site.app.test_client()
    their_token = csrf_of(other.get("/admin"))
    site.client.get("/admin")
    response = site.client.post("/admin/sign-in", data={"csrf_token": their_token, "token": TOKEN})
    assert response.status_code == 403


@pytest.mark.parametrize("with_token", ["none", "wrong", "before sign-in"])
def test_every_form_of_a_signed_in_session_needs_the_session_s_token(site: Bridge, with_token: str):
    before = csrf_of(site.client.get("/admin"))
    sign_in(site.client)
    token = {"none": None, "wrong": "forged-0123456789", "before sign-in": before}[with_token]
    data = {"csrf_token": token} if token else {}
    for action in ("/admin/resume", "/admin/deliveries/replay", "/admin/optouts/add", "/admin/sign-out"):
        assert site.client.post(action, data={**data, "phone": "+14155550123", "scope": "all"}).status_code == 403, action
    assert site.client.get("/admin/optouts").status_code == 200, "still signed in: the refused sign-out did nothing"
    assert "+1******0123" not in site.client.get("/admin/optouts").get_data(as_text=True)


def test_a_wrong_admin_token_is_refused_and_counted(site: Bridge, redis: Redis):
    response = sign_in(site.client, token="not-the-token-0123456789")
    assert response.status_code == 401
    assert "That is not the admin token." in response.get_data(as_text=True)
    assert int(redis.get("bridge:admin-auth:127.0.0.1") or 0) == 1
    assert site.client.get("/admin/deliveries").status_code == 303


def test_too_many_failures_from_one_address_is_429_even_with_the_right_token(site: Bridge):
    for _ in range(defaults.ADMIN_AUTH_FAILURES_PER_MINUTE):
        assert sign_in(site.client, token="not-the-token-0123456789").status_code == 401
    response = sign_in(site.client)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


def test_the_page_and_the_admin_api_count_failures_together(site: Bridge):
    for _ in range(defaults.ADMIN_AUTH_FAILURES_PER_MINUTE):
        assert site.client.get("/api/v1/status", headers={"Authorization": "Bearer wrong-0123456789abcdef"}).status_code == 401
    assert sign_in(site.client).status_code == 429
    assert site.client.get("/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429


def test_another_address_behind_the_proxy_is_not_limited_by_the_first(site: Bridge):
    for _ in range(defaults.ADMIN_AUTH_FAILURES_PER_MINUTE):
        sign_in(site.client, token="wrong-0123456789abcdef", **{"X-Forwarded-For": "203.0.113.7"})
    assert sign_in(site.client, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert sign_in(site.client, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 303


def test_without_admin_token_every_page_says_the_admin_is_off_and_names_it(redis: Redis, redis_url: str):
    bridge = admin_bridge(redis_url, token="")
    try:
        for path in ("/admin", "/admin/deliveries", "/admin/optouts", "/admin/mappings"):
            response = bridge.client.get(path)
            assert response.status_code == 503, path
            assert "ADMIN_TOKEN" in response.get_data(as_text=True)
        assert bridge.client.post("/admin/sign-in", data={"token": ""}).status_code == 503
        with bridge.client.get("/admin/static/page.css") as stylesheet:  # served: the "off" page has its style
            assert stylesheet.status_code == 200
        assert redis.keys("bridge:admin-auth:*") == []
    finally:
        bridge.close()


def test_a_page_asked_for_before_sign_in_is_shown_after_it(site: Bridge):
    response = site.client.get("/admin/optouts")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/?next=/admin/optouts"
    form = site.client.get(response.headers["Location"])
    assert 'name="next" value="/admin/optouts"' in form.get_data(as_text=True)
    signed = site.client.post("/admin/sign-in", data={"csrf_token": csrf_of(form), "token": TOKEN, "next": "/admin/optouts"})
    assert signed.headers["Location"] == "/admin/optouts"


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/admin/optouts", "/admin/optouts"),
        ("/admin/deliveries?status=failed", "/admin/deliveries?status=failed"),
        ("https://evil.example/admin", None),
        ("//evil.example/admin", None),
        ("/\\evil.example", None),
        ("/api/v1/status", None),
        ("", None),
    ],
)
def test_after_sign_in_only_a_page_of_the_settings_is_a_destination(target: str, kept: str | None):
    assert local_target(target) == kept


def test_the_page_sets_its_own_strict_csp_and_is_never_cached(site: Bridge):
    response = site.client.get("/admin")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_webhook_app_never_opens_a_session(site: Bridge):
    assert site.client.get("/healthz").headers.getlist("Set-Cookie") == []
    assert site.client.post("/stripe/webhook", data=b"{}").headers.getlist("Set-Cookie") == []


def test_the_language_chosen_with_lang_is_remembered_by_the_session_through_sign_in(site: Bridge):
    form = site.client.get("/admin?lang=ar")
    assert '<html lang="ar" dir="rtl">' in form.get_data(as_text=True)
    assert "تسجيل الدخول" in form.get_data(as_text=True)
    site.client.post("/admin/sign-in", data={"csrf_token": csrf_of(form), "token": TOKEN})
    assert '<html lang="ar" dir="rtl">' in site.client.get("/admin/deliveries").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in site.client.get("/admin/deliveries?lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in site.client.get("/admin/optouts").get_data(as_text=True)


def test_without_a_choice_the_browser_s_language_is_used(site: Bridge):
    page = site.client.get("/admin", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"})
    assert '<html lang="ar" dir="rtl">' in page.get_data(as_text=True)


def test_a_form_over_1_mib_is_413_declared_or_streamed_and_counts_no_failure(site: Bridge, redis: Redis, served):
    big = b"csrf_token=x&token=" + b"x" * defaults.MAX_BODY_BYTES
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    declared = site.client.post("/admin/sign-in", data=big, headers=form)
    assert declared.status_code == 413 and "The form is larger than 1 MiB." in declared.get_data(as_text=True)
    # Chunked, over a real socket: nothing to refuse up front; limited_body stops one byte over the limit.
    url = urlsplit(served(site.app))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        parts = (big[start : start + 65536] for start in range(0, len(big), 65536))
        connection.request("POST", "/admin/sign-in", body=parts, headers=form, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413 and "The form is larger than 1 MiB." in response.read().decode()
    finally:
        connection.close()
    assert redis.keys("bridge:admin-auth:*") == [], "refused before the sign-in looked at it"
