"""What every response and request goes through: security headers, and the 1 MiB body limit.

Every body is read through `common.limited_body` (a deadline, and one byte over the limit to tell
"too large" from "exactly 1 MiB", which Werkzeug's own limit would silently cut a chunked body
at): the webhooks call it themselves, every other route gets it before its view runs.
"""

from __future__ import annotations

from flask import Flask, Response, request

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
    """Register the request limit and the response headers on `app`."""

    @app.before_request
    def limit_body() -> None:
        if request.method in WITH_BODY and request.endpoint not in SELF_LIMITED:
            # Read here, within the limit and the deadline, and leave it where get_data() and
            # get_json() look first: the view never reads the socket itself.
            request._cached_data = limited_body()  # type: ignore[attr-defined]

    @app.after_request
    def secure(response: Response) -> Response:
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
        if came_over_https(request.scheme, request.headers.get("X-Forwarded-Proto"), proxy_hops):
            headers.setdefault(*HSTS)
        if request.path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        return response


def came_over_https(scheme: str, forwarded_proto: str | None, proxy_hops: int) -> bool:
    """Whether the client's request was HTTPS: the socket's scheme, or what the nearest trusted
    proxy (Heroku's router) wrote in X-Forwarded-Proto."""
    if scheme == "https":
        return True
    if proxy_hops > 0 and forwarded_proto:
        entries = [e.strip().lower() for e in forwarded_proto.split(",")]
        return len(entries) >= proxy_hops and entries[-proxy_hops] == "https"
    return False
