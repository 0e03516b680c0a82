"""Mappings saved in Redis (from the admin API or the settings page): each one's `[[mappings]]`
table as JSON in one hash, and a version counter bumped in the same atomic step as every save and
delete, so a process learns that something changed with one GET (`bridge.mappings.live`).

A saved mapping overrides the file's mapping of the same name; the file stays the default and
what `bridge check-config` and the `release` phase check. Checking a table before it is saved is
the service's job (`bridge.services.mappings.save_mapping`): this module stores what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from bridge.keys import Keys
from bridge.redis_conn import text, translates_redis_errors

# KEYS: the hash, the version. ARGV: name, table (JSON). Returns the new version.
_SAVE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
"""

# KEYS: the hash, the version. ARGV: name. Returns the new version, or 0 when nothing was saved
# under the name (the version stays: no process has anything to recompile).
_DELETE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('INCR', KEYS[2])
"""


@dataclass(frozen=True)
class SavedTables:
    """Every saved table by name, and the version they are at (0: nothing was ever saved)."""

    version: int
    tables: dict[str, dict[str, Any]]


class SavedMappings:
    """One merchant's saved mappings."""

    def __init__(self, redis: Redis, *, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._save = redis.register_script(_SAVE)
        self._delete = redis.register_script(_DELETE)

    @property
    def _keys(self) -> list[str]:
        return [self.keys.saved_mappings, self.keys.saved_mappings_version]

    @translates_redis_errors
    def save(self, table: Mapping[str, Any]) -> int:
        """Store `table` under its `name` (replacing what was saved under it); the new version."""
        return int(self._save(keys=self._keys, args=[str(table["name"]), json.dumps(table, ensure_ascii=False, sort_keys=True)]))

    @translates_redis_errors
    def delete(self, name: str) -> bool:
        """Forget the table saved under `name`; False when there was none."""
        return bool(self._delete(keys=self._keys, args=[name]))

    @translates_redis_errors
    def version(self) -> int:
        """The version counter: what a process compares with the version it compiled."""
        return int(text(self.redis.get(self.keys.saved_mappings_version)) or 0)

    @translates_redis_errors
    def read(self) -> SavedTables:
        """Every saved table and the version they are at, read in one transaction (so they agree)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.keys.saved_mappings_version)
        pipe.hgetall(self.keys.saved_mappings)
        version, raw = pipe.execute()
        tables = {text(name): json.loads(value) for name, value in raw.items()}
        return SavedTables(int(text(version) or 0), dict(sorted(tables.items())))
