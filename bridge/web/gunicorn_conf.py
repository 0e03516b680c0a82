"""gunicorn's config module for the Procfile's `web` line (`--config python:bridge.web.gunicorn_conf`).

It sets up prometheus_client's multiprocess mode, so that `/metrics` answered by any of gunicorn's
workers counts what all of them did, with no setting to make by hand:
  - PROMETHEUS_MULTIPROC_DIR, when unset, becomes a fresh private temporary directory. gunicorn
    loads this module in its master before any worker imports the app, and prometheus_client
    chooses its mode when first imported: so this must not import it (nor the app) at the top;
  - files left in the directory by an earlier run are removed when gunicorn starts;
  - a worker that exits is marked dead (its live gauges are dropped; its counters stay counted).
The directory this module made is removed when gunicorn exits. gunicorn's own lines (start,
workers, timeouts) are written in the app's log format (`logger_class`). Everything else stays on
the command line, where the Procfile shows it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

logger_class = "bridge.observability.gunicorn_logger.GunicornLogger"
"""gunicorn's own lines in the same format as the app's (LOG_FORMAT)."""

if os.environ.get(_VARIABLE):
    _made_here = False
else:
    os.environ[_VARIABLE] = tempfile.mkdtemp(prefix="bridge-prometheus-")  # mode 0700: this user's only
    _made_here = True


def _directory() -> Path:
    return Path(os.environ[_VARIABLE])


def on_starting(server: Any) -> None:
    """Before the first worker: an empty directory, whatever an earlier run left in it."""
    directory = _directory()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone (ended, killed, recycled): prometheus_client forgets its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_directory()))


def on_exit(server: Any) -> None:
    """Remove the directory this module made (one set from outside is the owner's to keep)."""
    if _made_here:
        shutil.rmtree(_directory(), ignore_errors=True)
