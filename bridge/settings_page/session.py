"""Signing in to the settings page: the session cookie, its key, CSRF tokens, sign-in and sign-out.

The session is Flask's signed cookie (`bridge_admin`), its key derived from ADMIN_TOKEN: every
gunicorn worker and every restart accepts the cookie, and rotating ADMIN_TOKEN signs everyone out.
HttpOnly, SameSite=Lax, Secure when the request came over HTTPS (the socket, or Heroku's router
through X-Forwarded-Proto), 12 hours. Failed sign-ins count against the same per-address limit as
the admin API's bearer tokens (`bridge.api.auth.AdminDoor`).

CSRF: one random token per session (the visitor's session before sign-in too, so the sign-in form
carries one), in every form as `csrf_token`, compared in constant time on every POST; a new
token at sign-in, so one seen before signing in is worth nothing after.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from bridge.api.auth import AdminDoor, Verdict, client_address
from bridge.observability.logs import log_fields
from bridge.settings_page.i18n import _
from bridge.web.security import came_over_https

logger = logging.getLogger(__name__)

COOKIE_NAME = "bridge_admin"
LIFETIME = timedelta(hours=12)
"""A working day: long enough not to interrupt, short enough that a forgotten browser signs out."""
KEY_LABEL = b"bridge settings page session key v1"
"""What the session key is derived for: a key for nothing else than this cookie."""
CSRF_FIELD = "csrf_token"
SIGNED_IN = "admin"
LANGUAGE = "lang"

sign_in_pages = Blueprint("session", __name__)


def session_key(admin_token: str) -> str:
    """The cookie's signing key: HMAC-SHA256 of a fixed label under ADMIN_TOKEN (the token itself never signs anything)."""
    return hmac.new(admin_token.encode(), KEY_LABEL, hashlib.sha256).hexdigest()


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure exactly when this request came over HTTPS."""

    def __init__(self, proxy_hops: int):
        self.proxy_hops = proxy_hops

    def get_cookie_secure(self, app: Flask) -> bool:
        return came_over_https(request.scheme, request.headers.get("X-Forwarded-Proto"), self.proxy_hops)


def configure_session(app: Flask, admin_token: str, proxy_hops: int) -> None:
    """The cookie's name, flags, lifetime and key on the page's app."""
    app.secret_key = session_key(admin_token) if admin_token else secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/admin",
        PERMANENT_SESSION_LIFETIME=LIFETIME,
    )
    app.session_interface = PageSessionInterface(proxy_hops)


def signed_in() -> bool:
    return session.get(SIGNED_IN) is True


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Every POST carries this session's token, or is refused (403) before its view runs."""
    if request.method != "POST":
        return
    expected, given = session.get(CSRF_FIELD), request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(403, description=_("This form has expired or did not come from this page. Reload the page and try again."))


def door() -> AdminDoor:
    return current_app.extensions["bridge_page_door"]


def local_target(target: str | None) -> str | None:
    """`target` when it is a path on this page (after sign-in, go back there), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return None
    return target


def sign_in_form(status: int = 200, error: str | None = None) -> tuple[str, int]:
    return render_template("sign_in.html", error=error, next=local_target(request.values.get("next"))), status


@sign_in_pages.post("/sign-in")
def sign_in() -> Response | tuple[str, int]:
    """ADMIN_TOKEN as a password: the same count of failures per address as the admin API."""
    admission = door().admit(request, request.form.get("token") or None)
    if admission.verdict is Verdict.LIMITED:
        _log("sign-in refused: too many failures", 429)
        return sign_in_form(429, _("Too many failed sign-ins from this address. Wait a minute and try again."))
    if admission.verdict is Verdict.WRONG:
        _log("sign-in failed", 401)
        return sign_in_form(401, _("That is not the admin token."))
    language = session.get(LANGUAGE)
    session.clear()
    session.update({SIGNED_IN: True, LANGUAGE: language} if language else {SIGNED_IN: True})
    session.permanent = True
    csrf_token()
    _log("signed in", 303)
    return redirect(local_target(request.form.get("next")) or url_for("overview.show"), 303)


@sign_in_pages.post("/sign-out")
def sign_out() -> Response:
    language = session.get(LANGUAGE)
    session.clear()
    if language:
        session[LANGUAGE] = language
    flash(_("You are signed out."), "info")
    return redirect(url_for("overview.show"), 303)


def _log(what: str, status: int) -> None:
    address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), door().proxy_hops)
    fields = log_fields(status=status, client=address)
    logger.log(logging.WARNING if status >= 400 else logging.INFO, "settings page: %s", what, extra=fields)
