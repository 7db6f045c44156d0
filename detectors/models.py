"""Series, events and anomalies.

Series are held as one ``SeriesFrame``: every series of a case resampled onto one regular time grid, so detectors
score thousands of series with a handful of numpy operations instead of a Python loop per series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from topology.timeutil import UtcDatetime


@dataclass(frozen=True, slots=True)
class SeriesKey:
    entity: str
    metric: str


@dataclass(frozen=True)
class SeriesNote:
    """What stands behind one sample of a series derived from spans or logs, for the evidence a reader checks:
    exemplar trace ids, a log template with example lines, and a short detail (exception types and counts)."""

    traces: tuple[str, ...] = ()
    template: str | None = None
    examples: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True)
class SeriesFrame:
    """``values[i, t]`` is series ``keys[i]`` at ``times[t]`` (epoch seconds); NaN marks a missing sample.

    ``notes`` (optional) maps a series and a sample time to its ``SeriesNote``: trace- and log-derived series carry
    their exemplars this way, so an anomaly found on them can name the traces and log lines behind it.
    """

    keys: tuple[SeriesKey, ...]
    times: np.ndarray
    values: np.ndarray
    _index: dict[SeriesKey, int] = field(default_factory=dict, compare=False, repr=False)
    notes: Mapping[SeriesKey, Mapping[float, SeriesNote]] = field(default_factory=dict, compare=False, repr=False)
    fine: "SeriesFrame | None" = field(default=None, compare=False, repr=False)
    """Optional finer-grained copies of some rows (trace and log evidence bucketed finer than one-minute metrics):
    rows that lack a baseline on this grid are scored on that one (``detectors.sparse``)."""

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.keys), len(self.times)):
            raise ValueError(f"values shape {self.values.shape} does not match {len(self.keys)} keys x {len(self.times)} times")
        self._index.update({key: i for i, key in enumerate(self.keys)})

    @property
    def step_s(self) -> float:
        return float(np.median(np.diff(self.times))) if len(self.times) > 1 else 60.0

    def row(self, key: SeriesKey) -> np.ndarray | None:
        i = self._index.get(key)
        return None if i is None else self.values[i]

    def for_entities(self, entities: set[str]) -> "SeriesFrame":
        """The series of these entities only (the symptom's subgraph), sharing the time grid."""
        rows = [i for i, key in enumerate(self.keys) if key.entity in entities]
        notes = {k: v for k, v in self.notes.items() if k.entity in entities} if self.notes else {}
        fine = self.fine.for_entities(entities) if self.fine is not None else None
        return SeriesFrame(tuple(self.keys[i] for i in rows), self.times, self.values[rows], notes=notes, fine=fine)

    def until(self, moment: datetime) -> "SeriesFrame":
        """Drop samples after ``moment``: an analysis at time T must not see the future."""
        stop = int(np.searchsorted(self.times, moment.timestamp(), side="right"))
        if stop == len(self.times) and (self.fine is None or self.fine.until(moment) is self.fine):
            return self  # nothing after the moment: no copy of a large frame
        fine = self.fine.until(moment) if self.fine is not None else None
        return SeriesFrame(self.keys, self.times[:stop], self.values[:, :stop], notes=self.notes, fine=fine)

    @staticmethod
    def empty() -> "SeriesFrame":
        return SeriesFrame((), np.zeros(0), np.zeros((0, 0)))


def epoch_to_datetime(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


class Event(BaseModel):
    """A Kubernetes-style event or container state (OOMKilled, BackOff, XidError …) on an entity."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    entity: str = Field(min_length=3)
    reason: str = Field(min_length=1)
    at: UtcDatetime
    """When it happened — for a repeating event (a BackOff every few minutes), its first occurrence."""
    message: str = ""
    last_at: UtcDatetime | None = None
    """A repeating event's last occurrence (``None``: it happened once). A window that ``[at, last_at]`` reaches into
    sees the event even when its first occurrence lies before the window."""


Direction = Literal["up", "down"]


class Anomaly(BaseModel):
    """One anomalous series (or event) on an entity.

    ``score`` is a robust z-like magnitude comparable across metrics of different scales; ``severity`` squashes it
    into [0, 1) for the ranker. ``baseline`` and ``current`` are the values the narrator may quote.
    """

    model_config = ConfigDict(frozen=True)

    entity: str
    metric: str
    onset: UtcDatetime
    score: float
    direction: Direction
    detector: str
    baseline: float | None = None
    current: float | None = None
    role: str = "other"
    """saturation / errors / latency / traffic / other (``detectors.roles``); events are ``errors``."""
    pvalue: float | None = None
    bad_direction: bool = True
    """The move is the bad way for this metric (latency up, success rate down); a good-way move is still reported."""
    traces: tuple[str, ...] = ()
    """Exemplar trace ids behind a trace-derived series since the onset (at most three)."""
    template: str | None = None
    """The log template behind a log-derived series."""
    examples: tuple[str, ...] = ()
    """Example log lines of that template since the onset (at most three)."""
    detail: str | None = None

    @property
    def severity(self) -> float:
        return float(self.score / (self.score + 5.0)) if self.score > 0 else 0.0
