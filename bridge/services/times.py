"""Times as operators write them: an ISO 8601 date/time (UTC unless it says otherwise) or a unix time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def parse_moment(value: Any) -> float:
    """`value` as a unix time; ValueError saying what is accepted when it is neither form."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is neither an ISO date/time nor a unix timestamp")
    moment = float(value) if isinstance(value, int | float) else _from_text(str(value))
    if not math.isfinite(moment) or not 0 <= moment < 253402300800:  # before year 10000
        raise ValueError(f"{value!r} is not a time between 1970 and 9999")
    return moment


def _from_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date/time nor a unix timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError):
        raise ValueError(f"{text!r} is not a time between 1970 and 9999") from None
