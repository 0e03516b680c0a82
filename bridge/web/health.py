"""`GET /healthz` (the process answers), `GET /readyz` (it can take and send events), `GET /metrics` (Prometheus).

The routes only gather values: the verdicts are `bridge.observability.readiness`, the figures
`bridge.observability.metrics`. Neither /readyz nor /metrics ever answers 500: whatever cannot be
read (Redis away, an unreadable snapshot) is a failed check or a missing figure, said so in the body.
"""

from __future__ import annotations

import functools
import os
import time

from flask import Blueprint, Response, jsonify, request

from bridge.delivery.control import pause_info
from bridge.errors import ConfigError, StoreUnavailable
from bridge.keys import DRY_RUN_NUMBER
from bridge.observability import metrics
from bridge.observability.readiness import (
    Check,
    SnapshotState,
    Verdict,
    config_verdict,
    readiness,
    redis_verdict,
    sending_verdict,
    skip,
    templates_verdict,
)
from bridge.redis_conn import unavailable_on_redis_error
from bridge.runtime import Runtime
from bridge.web.bearer import bearer_token, token_matches
from bridge.web.common import runtime
from bridge.web.errors import json_error
from bridge.whatsapp.catalogue import load_snapshot

health = Blueprint("health", __name__)

_OK = b'{"status":"ok"}'


@health.get("/healthz")
def healthz() -> Response:
    """The process is up: no I/O, for a load balancer or a platform's health check."""
    return Response(_OK, status=200, mimetype="application/json")


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every readiness check with its verdict; 200 when all pass, 503 naming the failed ones."""
    rt = runtime()
    redis = _redis(rt)
    verdicts = {
        Check.REDIS: redis,
        Check.CONFIG: config_verdict(rt.config),
        Check.SENDING: _sending(rt) if redis.ok else skip("Redis did not answer"),
        Check.TEMPLATES: templates_verdict(
            _snapshot(rt.config.whatsapp.templates_file), now=rt.clock(), max_age_hours=rt.config.health.templates_max_age_hours
        ),
    }
    status, body = readiness(verdicts)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, status


@health.get("/metrics")
def scrape() -> Response:
    """Prometheus's scrape: this process's counters (all gunicorn workers') and the workers' figures from Redis.
    With METRICS_TOKEN set, only for `Authorization: Bearer` it (Prometheus's `authorization` scrape setting)."""
    token = runtime().config.health.metrics_token
    if token and not token_matches(bearer_token(request.headers.get("Authorization")), token):
        response = json_error(401, "missing or wrong bearer token (Authorization: Bearer $METRICS_TOKEN)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="bridge metrics"'
        return response
    body, content_type = metrics.exposition(runtime(), request.headers.get("Accept"))
    return Response(body, status=200, content_type=content_type)


def _redis(rt: Runtime) -> Verdict:
    started = time.perf_counter()
    try:
        with unavailable_on_redis_error("answering PING"):
            rt.redis.ping()
    except StoreUnavailable as exc:
        return redis_verdict(None, type(exc.__cause__).__name__)
    return redis_verdict(time.perf_counter() - started)


def _sending(rt: Runtime) -> Verdict:
    try:
        return sending_verdict(pause_info(rt), rt.phone_number_id or DRY_RUN_NUMBER)
    except (StoreUnavailable, ValueError) as exc:  # Redis went away since PING, or the flag is not JSON
        return Verdict(ok=False, details={"error": f"the pause flag could not be read: {type(exc).__name__}"})


def _snapshot(path: str) -> SnapshotState:
    """The snapshot's pull time, read again only when the file changes."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return SnapshotState(path)
    except OSError as exc:
        return SnapshotState(path, error=f"cannot be read: {exc.strerror}")
    return _snapshot_of(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _snapshot_of(path: str, _mtime_ns: int, _size: int) -> SnapshotState:
    try:
        catalogue = load_snapshot(path)
    except ConfigError as exc:
        return SnapshotState(path, error=str(exc))
    return SnapshotState(path, pulled_at=catalogue.pulled_at if catalogue is not None else None)
