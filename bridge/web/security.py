"""What every response and request goes through: security headers, and the 1 MiB body limit.

Every body is read through `common.limited_body` (a deadline, and one byte over the limit to tell
"too large" from "exactly 1 MiB", which Werkzeug's own limit would silently cut a chunked body
at): the webhooks call it themselves, every other route gets it before its view runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request

from bridge.web.common import limited_body

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    # JSON and text only so far: nothing may load, nothing may frame it. A page sets its own.
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
SELF_LIMITED = frozenset({"stripe_webhook.receive", "whatsapp_webhook.receive"})
"""Endpoints that read their body through `limited_body`."""
WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def install(app: Flask, *, proxy_hops: int) -> None:
    """Register the request limit on `app` and wrap it in the response headers."""
    app.before_request(limit_body)
    app.wsgi_app = SecurityHeaders(app.wsgi_app, proxy_hops=proxy_hops)  # type: ignore[method-assign]


def limit_body() -> None:
    """A before_request hook: read a body within the limit and the deadline, and leave it where
    get_data(), get_json() and the form parser look first, so no view reads the socket itself.
    Register it before any hook that reads the form (the settings page's CSRF check)."""
    if request.method in WITH_BODY and request.endpoint not in SELF_LIMITED:
        request._cached_data = limited_body()  # type: ignore[attr-defined]


class SecurityHeaders:
    """WSGI middleware adding `SECURITY_HEADERS` (those a response did not set itself) to every
    response, HSTS over HTTPS and `Cache-Control: no-store` under /api/.

    At the WSGI level, not in `after_request`: Werkzeug's `Headers.setdefault` scans the headers
    once per name, which cost a webhook 3% of its time; here it is one set and one list append.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], *, proxy_hops: int):
        self.app = app
        self.proxy_hops = proxy_hops

    def __call__(self, wsgi_environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(header for header in SECURITY_HEADERS if header[0].lower() not in present)
            scheme, proto = wsgi_environ.get("wsgi.url_scheme", "http"), wsgi_environ.get("HTTP_X_FORWARDED_PROTO")
            if came_over_https(scheme, proto, self.proxy_hops) and "strict-transport-security" not in present:
                headers.append(HSTS)
            if wsgi_environ.get("PATH_INFO", "").startswith("/api/") and "cache-control" not in present:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(wsgi_environ, start)


def came_over_https(scheme: str, forwarded_proto: str | None, proxy_hops: int) -> bool:
    """Whether the client's request was HTTPS: the socket's scheme, or what the nearest trusted
    proxy (Heroku's router) wrote in X-Forwarded-Proto."""
    if scheme == "https":
        return True
    if proxy_hops > 0 and forwarded_proto:
        entries = [e.strip().lower() for e in forwarded_proto.split(",")]
        return len(entries) >= proxy_hops and entries[-proxy_hops] == "https"
    return False
