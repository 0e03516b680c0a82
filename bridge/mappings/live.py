"""The mappings a process uses: the config file's, with the ones saved in Redis laid over by name,
recompiled when the saved version changes.

Each process reads the version counter at most once per `defaults.MAPPINGS_REFRESH_SECONDS`
(monotonic clock), so a save reaches the web and the worker within about a second while the
webhook path pays at most one GET a second, never one per webhook. A saved mapping that no longer
validates or compiles (a filter renamed by an upgrade, say) is logged and skipped: the file's
mapping of that name, if there is one, applies, and the process keeps running.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bridge import defaults
from bridge.config import Config, validate_config
from bridge.errors import ConfigError, StoreUnavailable
from bridge.mappings.compile import CompiledMapping, compile_mappings
from bridge.mappings.saved import SavedMappings, SavedTables

logger = logging.getLogger(__name__)

SAVED_SOURCE = "saved mapping"
"""How findings about a saved mapping name where it is (where a file's name the file)."""


@dataclass(frozen=True)
class ActiveMappings:
    """One compiled set: what `Runtime.mappings` and `Runtime.by_event_type` answer."""

    version: int
    """The saved version this set was compiled at (-1: none read yet)."""
    mappings: dict[str, CompiledMapping]
    by_event_type: dict[str, tuple[CompiledMapping, ...]]
    saved: frozenset[str]
    """The names whose saved table is in use."""


def by_event_type(mappings: Iterable[CompiledMapping]) -> dict[str, tuple[CompiledMapping, ...]]:
    """Each event type's mappings, in the mappings' order."""
    by_type: dict[str, list[CompiledMapping]] = {}
    for mapping in mappings:
        for event_type in mapping.settings.events:
            by_type.setdefault(event_type, []).append(mapping)
    return {event_type: tuple(found) for event_type, found in by_type.items()}


def compose(config: Config, file_mappings: Iterable[CompiledMapping], saved: SavedTables) -> ActiveMappings:
    """The file's mappings with the saved ones laid over by name (a new name comes after the file's)."""
    mappings = {m.name: m for m in file_mappings}
    in_use = set()
    for name, table in saved.tables.items():
        compiled = compile_saved(config, name, table)
        if compiled is not None:
            mappings[name] = compiled
            in_use.add(name)
    return ActiveMappings(saved.version, mappings, by_event_type(mappings.values()), frozenset(in_use))


def compile_saved(config: Config, name: str, table: Mapping[str, Any]) -> CompiledMapping | None:
    """A saved table compiled against `config`, or None (logged) when it no longer validates or compiles."""
    reading = validate_config({"mappings": [table]}, source=SAVED_SOURCE, env={})
    problems = list(reading.problems)
    if not problems and [m.name for m in reading.config.mappings] != [name]:
        problems.append(f"saved under {name!r} but named {table.get('name')!r}")
    if not problems:
        try:
            return compile_mappings(replace(config, mappings=reading.config.mappings))[0]
        except ConfigError as exc:
            problems = list(exc.problems)
    logger.warning("saved mapping %r not used (the file's mapping of that name applies, if any): %s", name, "; ".join(map(str, problems)))
    return None


class LiveMappings:
    """The process's current `ActiveMappings`, refreshed from Redis at most once an interval."""

    def __init__(
        self,
        config: Config,
        file_mappings: list[CompiledMapping],
        saved: SavedMappings,
        *,
        interval: float = defaults.MAPPINGS_REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.file_mappings = file_mappings
        self.saved = saved
        self.interval = interval
        self.monotonic = monotonic
        self._active = ActiveMappings(-1, {m.name: m for m in file_mappings}, by_event_type(file_mappings), frozenset())
        self._next_check = -math.inf
        self._lock = threading.Lock()

    def current(self) -> ActiveMappings:
        """The set to use now: this call reads Redis only when the interval has passed."""
        if self.monotonic() < self._next_check:
            return self._active
        with self._lock:
            now = self.monotonic()
            if now >= self._next_check:  # another thread may have refreshed while this one waited
                self._refresh(now)
        return self._active

    def expire(self) -> None:
        """Read the version on the next use (after this process saved or deleted a mapping itself)."""
        self._next_check = -math.inf

    def _refresh(self, now: float) -> None:
        try:
            version = self.saved.version()
            if version != self._active.version:
                self._active = compose(self.config, self.file_mappings, self.saved.read())
        except StoreUnavailable:
            if self._active.version < 0:
                raise  # never read: guessing "no saved mappings" could ignore an event one of them wants
            logger.warning("saved mappings not re-read (Redis unavailable): using those of version %d", self._active.version)
        self._next_check = now + self.interval
