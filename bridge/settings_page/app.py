"""The settings page's Flask app, mounted at /admin beside the webhooks (bridge.web.app).

A separate app so that the webhook path never opens a session nor renders a template: only
requests under /admin reach this one. It shares the web process's Runtime and reaches every
state through the service layer (bridge.services), as the CLI and the admin API do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from bridge import defaults
from bridge.api.auth import AdminDoor
from bridge.errors import ServiceError, StoreUnavailable
from bridge.runtime import Runtime
from bridge.settings_page import deliveries, i18n, mappings, optouts, overview
from bridge.settings_page import session as sessions
from bridge.settings_page.i18n import _
from bridge.settings_page.refusals import word_refusal
from bridge.web.security import limit_body

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = frozenset({"static", "favicon", "session.sign_in"})
"""Reachable without signing in (the sign-in form itself is the overview's answer when signed out)."""


def create_page_app(runtime: Runtime) -> Flask:
    """The settings page for the process's `runtime` (mount it at /admin)."""
    app = Flask(__name__)
    app.extensions["bridge"] = runtime
    token, hops = runtime.config.admin.token, runtime.config.web.proxy_hops
    app.extensions["bridge_page_door"] = AdminDoor(runtime.redis, runtime.keys, token, hops)
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_BODY_BYTES + 1  # as the web app's: limited_body tells one byte over
    sessions.configure_session(app, token, hops)
    _install_i18n(app)
    for blueprint in (sessions.sign_in_pages, overview.pages, deliveries.pages, optouts.pages, mappings.pages):
        app.register_blueprint(blueprint)
    app.add_url_rule("/favicon.ico", "favicon", lambda: redirect(url_for("static", filename="favicon.svg"), 301))
    app.before_request(limit_body)  # first: the CSRF check reads the form
    app.before_request(_admin_on)
    app.before_request(_choose_language)
    app.before_request(sessions.check_csrf)
    app.before_request(_signed_in_only)
    app.after_request(_headers)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.wsgi_app = _bare_root(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _bare_root(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Mounted at /admin, a request for /admin itself arrives with an empty path: serve it as the
    overview instead of redirecting to /admin/ (the address the merchant is given is /admin)."""

    def serve(wsgi_env: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not wsgi_env.get("PATH_INFO"):
            wsgi_env["PATH_INFO"] = "/"
        return wsgi_app(wsgi_env, start_response)

    return serve


def _install_i18n(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(i18n.translate, lambda one, many, n: i18n.translate(one if n == 1 else many), newstyle=True)  # type: ignore[attr-defined]
    app.jinja_env.filters.update(number=i18n.number, moment=i18n.moment, money=i18n.money, ltr=i18n.ltr, translated=i18n.translate)
    app.jinja_env.globals.update(
        csrf_token=sessions.csrf_token,
        languages=i18n.LANGUAGES,
        language=i18n.current_language,
        signed_in=sessions.signed_in,
        skip_reason=overview.skip_reason,
    )


def _admin_on() -> Any:
    """ADMIN_TOKEN unset: the page is off, and says which setting turns it on."""
    if request.endpoint in ("static", "favicon"):
        return None
    if not current_app.extensions["bridge"].config.admin.token:
        return render_template("off.html"), 503
    return None


def _choose_language() -> None:
    asked = request.args.get("lang")
    g.language = i18n.choose_language(asked, session.get(sessions.LANGUAGE), request.accept_languages.values())
    if asked and asked == g.language and session.get(sessions.LANGUAGE) != asked:
        session[sessions.LANGUAGE] = asked


def _signed_in_only() -> Any:
    if request.endpoint in OPEN_ENDPOINTS or sessions.signed_in():
        return None
    if request.endpoint == "overview.show":
        return sessions.sign_in_form()
    return redirect(
        url_for("overview.show", next=request.script_root + request.full_path.rstrip("?") if request.method == "GET" else None), 303
    )


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    # The site's default is no-referrer; within the page the referrer is how a refused form finds its way back.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"  # customers' (masked) numbers and delivery details
    return response


def _service_error(exc: ServiceError) -> Any:
    """A request the service refused: back to the page with the reason (POST), or the reason as the page (GET),
    in the page's language where the refusal has a wording."""
    worded = word_refusal(exc)
    if request.method == "POST":
        flash({"text": worded.text, "lang": worded.language}, "error")
        return redirect(request.referrer if _same_page(request.referrer) else url_for("overview.show"), 303)
    return render_template("error.html", status=exc.status, message=worded.text, message_language=worded.language), exc.status


def _store_unavailable(_exc: StoreUnavailable) -> Any:
    return render_template("error.html", status=503, message=_("Redis is unavailable: try again in a moment.")), 503


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status == 403:
        message = exc.description
    elif status == 404:
        message = _("This page does not exist.")
    elif status == 408:
        message = _("The form took longer than %(seconds)s s to arrive: send it again.", seconds=f"{defaults.BODY_READ_SECONDS:g}")
    elif status == 413:
        message = _("The form is larger than 1 MiB.")
    else:
        message = exc.name
    return render_template("error.html", status=status, message=message), status


def _same_page(url: str | None) -> bool:
    """A referrer on this host under /admin (where to send a refused form back to)."""
    return bool(url) and url.startswith(request.host_url + "admin")  # type: ignore[union-attr]
