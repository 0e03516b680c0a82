"""What every route shares: the process's Runtime, and the raw body read within the size limit (1 MiB)."""

from __future__ import annotations

import contextlib
import json
import socket
import time

from flask import Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge, RequestTimeout

from bridge import defaults
from bridge.merchants.registry import MerchantRegistry
from bridge.runtime import Runtime


def runtime() -> Runtime:
    """The Runtime `create_app` built for this process."""
    return current_app.extensions["bridge"]


def merchants() -> MerchantRegistry:
    """The process's merchants (Stripe App installs), each with its Runtime."""
    return current_app.extensions["bridge.merchants"]


def limited_body() -> bytes:
    """The raw body, or RequestEntityTooLarge (answered 413) when it is over the limit, or
    RequestTimeout (408) when the client takes more than `defaults.BODY_READ_SECONDS` to send it.

    A declared Content-Length over the limit is refused before reading; a chunked body is cut by
    Werkzeug at the limit + 1 (the app's MAX_CONTENT_LENGTH), so one byte over is still seen. The
    deadline is what keeps a client that sends a byte a second from holding a connection (and its
    share of the server) for ever: Stripe and Meta send their few KB at once.
    """
    if request.content_length is not None and request.content_length > defaults.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    deadline = time.monotonic() + defaults.BODY_READ_SECONDS
    connection = request.environ.get("gunicorn.socket")
    previous = connection.gettimeout() if connection is not None else None
    chunks, size = [], 0
    while size <= defaults.MAX_BODY_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _too_slow(connection)
        if connection is not None:
            connection.settimeout(left)
        try:
            chunk = request.stream.read(_CHUNK)
        except (TimeoutError, OSError, ClientDisconnected):
            raise _too_slow(connection) from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if connection is not None:
        connection.settimeout(previous)
    if size > defaults.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


_CHUNK = 64 * 1024


def _too_slow(connection: socket.socket | None) -> RequestTimeout:
    """The 408 to answer, after shutting the connection's reading side: gunicorn would otherwise
    read (and discard) the rest of the body before the next request, at the client's pace."""
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RD)
    return RequestTimeout(f"the body took longer than {defaults.BODY_READ_SECONDS:g} s to arrive")


def status_response(status: str) -> Response:
    """`{"status": "queued"}` (or duplicate, ignored): built from bytes, not through Flask's JSON
    provider, which on the webhook's path cost as much as the signature check."""
    body = _STATUS_BODIES.get(status) or json.dumps({"status": status}, separators=(",", ":")).encode()
    return Response(body, status=200, mimetype="application/json")


_STATUS_BODIES = {status: json.dumps({"status": status}, separators=(",", ":")).encode() for status in ("queued", "duplicate", "ignored")}
