"""Process-wide logging: one line per record to stderr, readable text or JSON, never personal data.

`LOG_FORMAT=text` (the default, what `bridge dev` shows): `time LEVEL logger: message key=value …`.
`LOG_FORMAT=json`: one object per line, `{"time": ISO-8601 UTC, "level", "logger", "message", …fields}`.
`LOG_LEVEL` sets the level (default INFO).

A line's facts go in fields, not in its message, so both formats carry them as keys:

    logger.info("delivery sent", extra=log_fields(delivery_id=..., event_id=..., wamid=..., phone=mask_phone(to)))

The names used across the bridge: `event_id`, `event_type`, `delivery_id`, `mapping`, `wamid`,
`phone` (always masked: `+1******4567`), `status`, `outcome`, `error_code` (Meta's), `reason`,
`retry_in` (seconds), `post` (a Meta post's digest). None and empty values are left out. Data goes in
fields or %-style arguments, never into the message string itself: the redaction filter
(`bridge.observability.redact`) scrubs arguments, fields and tracebacks, and leaves a record
that has none of them alone, which keeps it off the cost of most lines.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from bridge.observability.redact import REDACTOR, Redactor

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def log_fields(**values: Any) -> dict[str, dict[str, Any]]:
    """`extra=` for a log call: the record's structured fields."""
    return {"fields": values}


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value …`: for people reading a terminal or `heroku logs`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        values = getattr(record, "fields", None)
        if not values:
            return line
        return line + "".join(f" {key}={_text(value)}" for key, value in values.items() if value is not None and value != "")


def _text(value: Any) -> str:
    """A field's value as `key=value` shows it: quoted when it has spaces (or is empty)."""
    text = str(value)
    if not text or " " in text or '"' in text or "=" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log drain to index: a small dict and one json.dumps."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        values = getattr(record, "fields", None)
        if values:
            for key, value in values.items():
                if value is not None and value != "" and key not in document:
                    document[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str)


PLAIN_FIELDS = frozenset({"event_id", "event_type", "delivery_id", "mapping", "outcome", "status", "post", "method", "route"})
"""Fields that only ever hold ids and words the bridge checked or chose itself (a signed event's id
and type, a delivery id, an outcome): not scrubbed, which saves each webhook's line most of the
filter's cost. Free text (a reason, an error) and anything naming a customer are."""


class RedactionFilter(logging.Filter):
    """Scrub a record's arguments, fields and traceback (secrets out, phone-shaped numbers masked)."""

    def __init__(self, redactor: Redactor = REDACTOR):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self.redactor.scrub
        if record.args or not isinstance(record.msg, str):
            record.msg, record.args = scrub(record.getMessage()), None
        values = getattr(record, "fields", None)
        if values:
            for key, value in values.items():
                if type(value) is str and key not in PLAIN_FIELDS:
                    values[key] = scrub(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return True


def log_format(env: Mapping[str, str] | None = None) -> tuple[LogFormat, str | None]:
    """The format LOG_FORMAT asks for, and a warning when it names none (text is used then)."""
    env = os.environ if env is None else env
    raw = env.get("LOG_FORMAT", "").strip().lower()
    if not raw:
        return LogFormat.TEXT, None
    try:
        return LogFormat(raw), None
    except ValueError:
        return LogFormat.TEXT, f"LOG_FORMAT={raw!r} is neither 'text' nor 'json': text is used"


def make_formatter(chosen: LogFormat) -> logging.Formatter:
    return JsonFormatter() if chosen is LogFormat.JSON else TextFormatter()


def configure_handler(handler: logging.Handler) -> str | None:
    """Give `handler` the bridge's format and redaction; returns the LOG_FORMAT warning, if any."""
    chosen, problem = log_format()
    handler.setFormatter(make_formatter(chosen))
    handler.addFilter(RedactionFilter())
    return problem


def configure_logging() -> None:
    """Configure the root logger once; leave it alone if the host (pytest, say) already did."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    problem = configure_handler(handler)
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # A line is written for every webhook and delivery: skip what no line shows (the logging
    # HOWTO's "Optimization": the caller's frame, thread, process and multiprocessing names).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # httpx logs every request URL at INFO; the URL holds the phone number id, not secrets, but
    # it is noise at our message rates.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
