"""A fake of the Stripe API served over real HTTP on 127.0.0.1, for tests of the stripe SDK's use.

`FakeStripe` listens on a real socket (stdlib `ThreadingHTTPServer`, HTTP/1.1) and serves:

- `GET /v1/customers/{id}`: the sample Customer (with a chosen phone and locales), or Stripe's 404.
- `GET /v1/events`: the events it holds, in Stripe's list shape (`object: "list"`, `data`,
  `has_more`, `url`), newest first, filtered by `created[gte|gt|lte|lt]` and by `type` (one name,
  or a group with `*` as a wildcard) or `types[]` (up to 20 exact names, never both), paged with
  `limit` (1 to 100, default 10) and `starting_after` / `ending_before`.

Every request is recorded as (path with query, Authorization header). A request without
`Authorization: Bearer <api_key>` gets Stripe's 401 body; a malformed request (unknown parameter,
a limit out of range, 21 types, `type` and `types` together, a wildcard in `types[]`, which
Stripe documents as exact names) is answered with Stripe's 400 body and appended to `problems`,
so a test can assert the bridge asked as Stripe expects. With `fail_with`, every request gets
Stripe's error body for that status instead.
"""

from __future__ import annotations

import fnmatch
import json
import re
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bridge.stripe_events import samples

API_KEY = "rk_test_51FakeKeyForTests"

STRIPE_ERRORS = {
    401: {"error": {"message": "Invalid API Key provided: rk_test_****ests", "type": "invalid_request_error"}},
    500: {"error": {"message": "An unknown error occurred", "type": "api_error"}},
}

MAX_TYPES = 20
_CREATED = re.compile(r"^created\[(gte|gt|lte|lt)\]$")
_TYPES = re.compile(r"^types\[(\d*)\]$")
_KNOWN = {"limit", "starting_after", "ending_before", "type", "created", "delivery_success"}


class FakeStripe:
    """The fake Stripe API; `events` are served by `GET /v1/events` (add more with `add_events`)."""

    def __init__(
        self,
        phone: str | None = None,
        *,
        fail_with: int | None = None,
        locales: list[str] | None = None,
        events: Iterable[dict[str, Any]] = (),
        api_key: str = API_KEY,
    ):
        self.phone = phone
        self.fail_with = fail_with
        self.locales = locales
        self.api_key = api_key
        self.events: list[dict[str, Any]] = list(events)
        self.requests: list[tuple[str, str | None]] = []
        self.problems: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization")))
                status, body = fake.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_test")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        self.events.extend(events)

    def event_requests(self) -> list[dict[str, list[str]]]:
        """The query of each `GET /v1/events` received, as {name: [values]}."""
        out = []
        for path, _auth in self.requests:
            parts = urlsplit(path)
            if parts.path == "/v1/events":
                query: dict[str, list[str]] = {}
                for name, value in parse_qsl(parts.query, keep_blank_values=True):
                    query.setdefault(name, []).append(value)
                out.append(query)
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeStripe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers ---------------------------------------------------------------------------

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        if self.fail_with is not None:
            return self.fail_with, STRIPE_ERRORS[self.fail_with]
        if authorization != f"Bearer {self.api_key}":
            return 401, STRIPE_ERRORS[401]
        parts = urlsplit(path)
        if parts.path == "/v1/events":
            return self._events(parse_qsl(parts.query, keep_blank_values=True))
        customer = samples.sample_customer()
        if parts.path == f"/v1/customers/{customer['id']}":
            customer["phone"] = self.phone
            if self.locales is not None:
                customer["preferred_locales"] = self.locales
            return 200, customer
        return 404, _error("resource_missing", "No such customer")

    def _events(self, query: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        try:
            params = _event_params(query)
        except ValueError as exc:
            self.problems.append(str(exc))
            return 400, _error("parameter_invalid", str(exc))
        matching = [e for e in self._newest_first() if _matches(e, params)]
        ids = [e["id"] for e in matching]
        if params["starting_after"] is not None:
            if params["starting_after"] not in ids:
                return 404, _error("resource_missing", f"No such event: '{params['starting_after']}'")
            page = matching[ids.index(params["starting_after"]) + 1 :][: params["limit"]]
            more = ids.index(params["starting_after"]) + 1 + len(page) < len(matching)
        elif params["ending_before"] is not None:
            if params["ending_before"] not in ids:
                return 404, _error("resource_missing", f"No such event: '{params['ending_before']}'")
            before = matching[: ids.index(params["ending_before"])]
            page, more = before[-params["limit"] :], len(before) > params["limit"]
        else:
            page, more = matching[: params["limit"]], len(matching) > params["limit"]
        return 200, {"object": "list", "data": page, "has_more": more, "url": "/v1/events"}

    def _newest_first(self) -> list[dict[str, Any]]:
        # Among events of the same second, the one added last is the newest.
        return [e for _, e in sorted(enumerate(self.events), key=lambda pair: (pair[1]["created"], pair[0]), reverse=True)]


def _event_params(query: list[tuple[str, str]]) -> dict[str, Any]:
    """The list parameters of a `GET /v1/events` query; ValueError names what Stripe would refuse."""
    params: dict[str, Any] = {"limit": 10, "starting_after": None, "ending_before": None, "type": None, "types": [], "created": {}}
    for name, value in query:
        if created := _CREATED.match(name):
            params["created"][created.group(1)] = int(value)
        elif _TYPES.match(name):
            if "*" in value:
                raise ValueError(f"types[] takes exact event names, not the group {value!r} (use type)")
            params["types"].append(value)
        elif name == "limit":
            params["limit"] = int(value)
        elif name in _KNOWN:
            params[name] = value
        else:
            raise ValueError(f"Received unknown parameter: {name}")
    if not 1 <= params["limit"] <= 100:
        raise ValueError(f"limit must be between 1 and 100, not {params['limit']}")
    if len(params["types"]) > MAX_TYPES:
        raise ValueError(f"types[] takes at most {MAX_TYPES} event names, not {len(params['types'])}")
    if params["type"] is not None and params["types"]:
        raise ValueError("You may pass either type or types, but not both")
    return params


def _matches(event: dict[str, Any], params: dict[str, Any]) -> bool:
    created = event["created"]
    bounds = params["created"]
    if ("gte" in bounds and created < bounds["gte"]) or ("gt" in bounds and created <= bounds["gt"]):
        return False
    if ("lte" in bounds and created > bounds["lte"]) or ("lt" in bounds and created >= bounds["lt"]):
        return False
    if params["types"] and event["type"] not in params["types"]:
        return False
    return params["type"] is None or fnmatch.fnmatchcase(event["type"], params["type"])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": "invalid_request_error"}}


def unused_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: Stripe unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
