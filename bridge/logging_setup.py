"""Process-wide logging: one line per record to stderr, level from LOG_LEVEL."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Configure the root logger once; leave it alone if the host (gunicorn, pytest) already did."""
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), format=_FORMAT)
    # httpx logs every request URL at INFO; the URL holds the phone number id, not secrets, but
    # it is noise at our message rates.
    logging.getLogger("httpx").setLevel(logging.WARNING)
