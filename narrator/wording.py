"""How numbers, times and durations are written for a person: one format for each, used by every narrator and view.

Why one module: the answer is read in a terminal, a browser and a PagerDuty note, and mixed formats (``11:00:00Z``
here, ``1:00:00`` there, a clipped robust z printed as if measured) cost the reader time and trust.

* times: ``HH:MM:SS`` on the incident's day, with the day and the UTC offset stated once (``day_and_offset``);
  a time on another day gets its date in front (``2026-11-19 23:58:00``);
* durations: as the user wrote them (``60m``); otherwise the largest whole unit (``90s``, ``45m``, ``2h``);
* robust z: one decimal, and ``> 20`` when the detector clipped it (``detectors.changepoint.TailShift.clip``);
* measured values: three significant digits.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from detectors.changepoint import TailShift

Z_CLIP = TailShift().clip
"""The detector clips robust z at this value: a z that reached it is a lower bound, not a measurement."""

__all__ = ["Z_CLIP", "clock", "day_and_offset", "duration", "stamp", "value", "z_text"]


def value(number: float | None) -> str:
    """A measured value with three significant digits (``0.463``, ``3.13``, ``2.4e+03`` stays ``2400``)."""
    if number is None:
        return "?"
    text = f"{number:.3g}"
    if "e" in text and abs(number) < 1e6:
        text = f"{number:.0f}"
    return text


def z_text(score: float) -> str:
    """``z 19.5``, or ``z > 20`` for a clipped score."""
    if round(score, 1) >= Z_CLIP:  # the score is a mean of clipped residuals: 19.96 means nearly all hit the clip
        return f"z > {Z_CLIP:g}"
    return f"z {score:.1f}"


def clock(moment: datetime, day: datetime | None = None) -> str:
    """``10:50:00`` when ``moment`` falls on ``day``'s date (UTC), else ``2026-11-19 23:58:00``."""
    moment = moment.astimezone(timezone.utc)
    if day is not None and moment.date() != day.astimezone(timezone.utc).date():
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%H:%M:%S")


def stamp(moment: datetime) -> str:
    """A full time with its offset, for the one place it is stated: ``2026-11-20 11:00:00 +00:00``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +00:00")


def day_and_offset(moment: datetime) -> str:
    """The phrase that makes the bare clock times below it unambiguous."""
    return f"times are UTC+00:00 on {moment.astimezone(timezone.utc):%Y-%m-%d} unless dated"


def duration(span: timedelta, given: str | None = None) -> str:
    """``given`` (what the user typed, e.g. ``60m``) when there is one, else the largest whole unit."""
    if given:
        return given.strip()
    seconds = span.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
