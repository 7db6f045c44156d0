"""Time parsing shared by every reader: one strict rule for what counts as a timestamp.

All times inside faultline are timezone-aware UTC datetimes (or epoch seconds in numpy arrays). A naive ISO
timestamp is taken as UTC because the case format says times are UTC; anything unparseable is an error, never
silently "now".
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

EARLIEST_EPOCH_S = 0.0
"""1970-01-01: nothing faultline analyses happened before the Unix epoch."""
LATEST_EPOCH_S = 7_258_118_400.0
"""2200-01-01: a bound far beyond any real sample, but well inside what ``datetime`` and pandas can represent, so a
hostile timestamp (``1e300``, year 9999) is a clear error at the reader instead of an ``OverflowError`` deep inside."""
MAX_DURATION_S = 3650 * 86400.0
"""Ten years: longer look-backs or windows are typos or attacks, and would overflow date arithmetic."""


def _as_float(value: int | float) -> float:
    """A JSON integer may have hundreds of digits; past float range it counts as infinite, not as an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _in_range(seconds: float, value: object) -> float:
    if not EARLIEST_EPOCH_S <= seconds < LATEST_EPOCH_S:
        raise ValueError(f"timestamp {str(value)[:40]!r} is outside 1970-01-01..2200-01-01")
    return seconds


def parse_time(value: object) -> datetime:
    """Parse ISO-8601 (``Z`` or offset; naive = UTC) or epoch seconds into an aware UTC datetime.

    Raises ``ValueError`` with a short reason on anything else.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        number = _as_float(value)
        if not math.isfinite(number):
            raise ValueError(f"not a finite epoch timestamp: {str(value)[:40]!r}")
        return datetime.fromtimestamp(_in_range(number, value), tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            if not math.isfinite(number):
                raise ValueError(f"not a finite epoch timestamp: {value[:40]!r}")
            return datetime.fromtimestamp(_in_range(number, value), tz=timezone.utc)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 or epoch timestamp: {value[:60]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        try:
            parsed = parsed.astimezone(timezone.utc)
            _in_range(parsed.timestamp(), value)
        except (OverflowError, OSError):
            raise ValueError(f"timestamp {value[:40]!r} is outside 1970-01-01..2200-01-01") from None
        return parsed
    raise ValueError(f"not a timestamp: {value!r}")


def parse_duration(value: object) -> timedelta:
    """Parse ``"60m"``, ``"2h"``, ``"90s"``, ``"500ms"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(_as_float(value)) and value > 0:
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None:
        raise ValueError(f"not a duration (e.g. '60m', '2h', '90s'): {str(value)[:60]!r}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {str(value)[:40]!r} is longer than ten years")
    return timedelta(seconds=seconds)


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def iso(moment: datetime | None) -> str | None:
    """Render a time the way the case format writes it (``Z`` suffix, second precision unless sub-second)."""
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, BeforeValidator(parse_time), PlainSerializer(iso, return_type=str, when_used="json")]
"""A pydantic field type: accepts ISO-8601 (naive = UTC) or epoch seconds, always holds an aware UTC datetime."""
