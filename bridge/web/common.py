"""What every route shares: the process's Runtime, and the raw body read within the size limit (1 MiB)."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from bridge import defaults
from bridge.runtime import Runtime


def runtime() -> Runtime:
    """The Runtime `create_app` built for this process."""
    return current_app.extensions["bridge"]


def limited_body() -> bytes:
    """The raw body, or RequestEntityTooLarge (answered 413 by the app) when it is over the limit.

    A declared Content-Length over the limit is refused before reading; a chunked body is cut by
    Werkzeug at the limit + 1 (the app's MAX_CONTENT_LENGTH), so one byte over is still seen.
    """
    if request.content_length is not None and request.content_length > defaults.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    payload = request.get_data(cache=False)
    if len(payload) > defaults.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return payload
