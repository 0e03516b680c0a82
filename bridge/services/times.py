"""Times as operators write them: a duration back from now (`3d`, `12h`, `90m`, `1d12h`), an ISO 8601
date/time (UTC unless it says otherwise), or a unix time."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(r"^(?=\d)(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_FORMS = "neither a duration (3d, 12h, 90m), an ISO date/time nor a unix timestamp"


def parse_moment(value: Any, *, now: float | None = None) -> float:
    """`value` as a unix time (a duration counts back from `now`, default the clock); ValueError
    saying what is accepted when it is none of the forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is {_FORMS}")
    if isinstance(value, str) and (duration := _DURATION.match(value.strip())):
        seconds = sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in duration.groupdict().items() if amount)
        value = (time.time() if now is None else now) - seconds
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
        raise ValueError(f"{text!r} is {_FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError):
        raise ValueError(f"{text!r} is not a time between 1970 and 9999") from None
