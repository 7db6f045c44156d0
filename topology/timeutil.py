"""Time parsing shared by every reader: one strict rule for what counts as a timestamp.

All times inside faultline are timezone-aware UTC datetimes (or epoch seconds in numpy arrays). A naive ISO
timestamp is taken as UTC because the case format says times are UTC; anything unparseable is an error, never
silently "now".
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(value: object) -> datetime:
    """Parse ISO-8601 (``Z`` or offset; naive = UTC) or epoch seconds into an aware UTC datetime.

    Raises ``ValueError`` with a short reason on anything else.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"not a finite epoch timestamp: {value!r}")
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        except (ValueError, OverflowError):
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 or epoch timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    raise ValueError(f"not a timestamp: {value!r}")


def parse_duration(value: object) -> timedelta:
    """Parse ``"60m"``, ``"2h"``, ``"90s"``, ``"500ms"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"not a duration (e.g. '60m', '2h', '90s'): {value!r}")


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def iso(moment: datetime | None) -> str | None:
    """Render a time the way the case format writes it (``Z`` suffix, second precision unless sub-second)."""
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _utc_or_none(value: object) -> datetime | None:
    return None if value is None else parse_time(value)


from typing import Annotated  # noqa: E402

from pydantic import BeforeValidator, PlainSerializer  # noqa: E402

UtcDatetime = Annotated[datetime, BeforeValidator(parse_time), PlainSerializer(iso, return_type=str, when_used="json")]
"""A pydantic field type: accepts ISO-8601 (naive = UTC) or epoch seconds, always holds an aware UTC datetime."""
