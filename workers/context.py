"""The worker process's Runtime: installed once by `bridge worker`, or built on first use."""

from __future__ import annotations

import threading

from bridge.config import load_config
from bridge.runtime import Runtime, build_runtime

_runtime: Runtime | None = None
_lock = threading.Lock()


def install(runtime: Runtime | None) -> None:
    """Use `runtime` for every job this process runs (tests and `bridge worker` call this)."""
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    """The process's Runtime, built from the environment's config the first time if none was installed."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = build_runtime(load_config(), role="worker")
    return _runtime
