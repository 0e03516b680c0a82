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
    # A line is written for every webhook and delivery: skip what no line shows (the logging
    # HOWTO's "Optimization": the caller's frame, thread, process and multiprocessing names).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # httpx logs every request URL at INFO; the URL holds the phone number id, not secrets, but
    # it is noise at our message rates.
    logging.getLogger("httpx").setLevel(logging.WARNING)
