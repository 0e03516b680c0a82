"""gunicorn's own lines (start, workers booted and stopped, timeouts) in the bridge's log format.

gunicorn logs through its own handlers on `gunicorn.error` (and `gunicorn.access`, which the
Procfile leaves off), in its own format; with `LOG_FORMAT=json` a log drain would get two kinds
of line from one dyno. `bridge.web.gunicorn_conf` names this class as gunicorn's `logger_class`.
"""

from __future__ import annotations

from gunicorn.config import Config
from gunicorn.glogging import Logger

from bridge.observability.logs import configure_handler


class GunicornLogger(Logger):
    """gunicorn's Logger, with the bridge's formatter and redaction on each of its handlers."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            configure_handler(handler)
