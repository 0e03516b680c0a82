"""The admin API's door: a bearer token compared in constant time, and a limit on failed tries
per client address (kept in Redis, so every gunicorn worker and web dyno counts the same tries).

Order: no ADMIN_TOKEN configured → 503 naming it; the address over its failures → 429; no or
wrong token → 401 (and one more failure counted); else the request goes on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from flask import Request, Response, current_app, request
from flask_smorest import Blueprint
from redis import Redis
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from bridge import defaults
from bridge.keys import Keys
from bridge.observability.logs import log_fields
from bridge.redis_conn import unavailable_on_redis_error
from bridge.web.bearer import bearer_token, token_matches
from bridge.web.errors import json_error

logger = logging.getLogger(__name__)


def client_address(remote_addr: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The client's address: `proxy_hops` entries from the end of X-Forwarded-For (each proxy
    appends the address it saw), else the socket's peer. Entries a client wrote itself sit before
    those and are never used."""
    if proxy_hops > 0 and forwarded_for:
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        if len(entries) >= proxy_hops:
            return entries[-proxy_hops][:64]
    return (remote_addr or "unknown")[:64]


class Verdict(StrEnum):
    OPEN = "open"
    WRONG = "wrong"
    """No token or the wrong one (counted as a failure)."""
    LIMITED = "limited"
    """The address failed too often lately: not even compared."""


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    retry_after: int = 0
    """Seconds until the address may try again (LIMITED)."""


class AdminDoor:
    """Checks one request's credentials; `check` raises the HTTP answer when they fail."""

    def __init__(self, redis: Redis, keys: Keys, token: str, proxy_hops: int):
        self.redis = redis
        self.keys = keys
        self.token = token
        self.proxy_hops = proxy_hops

    def check(self, request: Request) -> None:
        if not self.token:
            raise _answer(503, "the admin API is off: set ADMIN_TOKEN (at least 16 characters) to turn it on")
        admission = self.admit(request, bearer_token(request.headers.get("Authorization")))
        if admission.verdict is Verdict.LIMITED:
            raise _answer(429, "too many failed sign-ins from this address: wait a minute", {"Retry-After": str(admission.retry_after)})
        if admission.verdict is Verdict.WRONG:
            raise _answer(401, "missing or wrong bearer token (Authorization: Bearer $ADMIN_TOKEN)", _CHALLENGE)

    def admit(self, request: Request, given: str | None) -> Admission:
        """Whether `given` is the token, for this request's address: refused unheard while the
        address is over its failures; a wrong token counts one more. The settings page's sign-in
        goes through here too, so the API and the page share one count per address."""
        address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), self.proxy_hops)
        key = self.keys.admin_auth(address)
        with unavailable_on_redis_error("checking admin sign-in failures"):
            failures, ttl = self._failures(key)
        if failures >= defaults.ADMIN_AUTH_FAILURES_PER_MINUTE:
            return Admission(Verdict.LIMITED, max(1, ttl))
        if self.token and token_matches(given, self.token):
            return Admission(Verdict.OPEN)
        with unavailable_on_redis_error("counting a failed admin sign-in"):
            self._count_failure(key)
        return Admission(Verdict.WRONG)

    def _failures(self, key: str) -> tuple[int, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return int(count or 0), int(ttl) if ttl and ttl > 0 else defaults.ADMIN_AUTH_WINDOW_SECONDS

    def _count_failure(self, key: str) -> None:
        # A fixed window that opens at the first failure: INCR, and EXPIRE only when none is set.
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, math.ceil(defaults.ADMIN_AUTH_WINDOW_SECONDS), nx=True)
        pipe.execute()


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    """The HTTP answer to raise: Flask sends an HTTPException's own response as it is."""
    response = json_error(status, message)
    response.headers.update(headers or {})
    return HTTPException(response=response)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bridge admin"'}


def check_credentials() -> None:
    """Every admin blueprint's `before_request`: the app's door checks the request."""
    current_app.extensions["bridge_admin_door"].check(request)


def audit(response: Response) -> Response:
    """One line for each admin change and each refusal (reads that succeed are not logged): the
    route's pattern, never its query (a phone number may be in it)."""
    if request.method != "GET" or response.status_code >= 400:
        door = current_app.extensions["bridge_admin_door"]
        address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), door.proxy_hops)
        route = request.url_rule.rule if request.url_rule else "(no route)"
        fields = log_fields(method=request.method, route=route, status=response.status_code, client=address)
        logger.log(logging.WARNING if response.status_code in (401, 429) else logging.INFO, "admin request", extra=fields)
    return response


class _StrictParser(FlaskParser):
    """webargs drops unknown query parameters by default: here the schema decides (Strict: 422),
    so `?state=failed` (a typo) is an error, not a silent list of everything."""

    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict[str, str | None]] = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }


class _AdminBlueprint(Blueprint):
    ARGUMENTS_PARSER = _StrictParser()


def admin_blueprint(name: str, description: str) -> Blueprint:
    """A blueprint of the admin API under /api/v1, behind the door."""
    blueprint = _AdminBlueprint(name, f"bridge.api.{name}", url_prefix=API_PREFIX, description=description)
    blueprint.before_request(check_credentials)
    blueprint.after_request(audit)
    return blueprint


API_PREFIX = "/api/v1"
