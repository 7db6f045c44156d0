"""Small incidents with real series, built in code, for ranker tests: a call graph, series made of noise plus the
moves a test wants, then the same ``rca.analyze`` that ``faultline analyze`` runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from correlators.models import Case, Change, Incident
from detectors.models import Event, SeriesFrame, SeriesKey
from rca.pipeline import analyze
from topology.models import Entity, Relation

T0 = datetime(2026, 11, 20, 8, tzinfo=timezone.utc)


@dataclass
class World:
    """``minutes`` of history on a ``step_s`` grid; ``at(minute)`` is a time on it."""

    minutes: float = 180
    step_s: float = 60.0
    seed: int = 0
    relations: list[Relation] = field(default_factory=list)
    series: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.n = int(round(self.minutes * 60 / self.step_s))
        self.times = T0.timestamp() + self.step_s * np.arange(self.n)

    def at(self, minute: float) -> datetime:
        return T0 + timedelta(minutes=minute)

    def index(self, minute: float) -> int:
        return int(round(minute * 60 / self.step_s))

    def relate(self, src: str, kind: str, dst: str, start: float | None = None, end: float | None = None) -> "World":
        self.relations.append(Relation(src=src, kind=kind, dst=dst,
                                       valid_from=self.at(start) if start is not None else None,
                                       valid_to=self.at(end) if end is not None else None))
        return self

    def chain(self, *ids: str, kind: str = "CALLS") -> "World":
        for a, b in zip(ids, ids[1:]):
            self.relate(a, kind, b)
        return self

    def noise(self, entity: str, metric: str, level: float, sd: float | None = None) -> np.ndarray:
        values = level + (sd if sd is not None else 0.03 * abs(level) + 1e-6) * self.rng.standard_normal(self.n)
        self.series[(entity, metric)] = values
        return values

    def step(self, entity: str, metric: str, from_minute: float, delta: float, until_minute: float | None = None) -> None:
        s = self.series[(entity, metric)]
        stop = self.index(until_minute) if until_minute is not None else self.n
        s[self.index(from_minute):stop] += delta

    def incident(self, symptom: str, metric: str | None, alert_minute: float, lookback: str = "60m") -> Case:
        ids = sorted({r.src for r in self.relations} | {r.dst for r in self.relations} | {e for e, _ in self.series})
        keys = tuple(SeriesKey(e, m) for e, m in self.series)
        frame = SeriesFrame(keys, self.times.copy(), np.array(list(self.series.values()), dtype=float)) if keys else SeriesFrame.empty()
        return Case(
            entities=tuple(Entity(id=i, kind=i.split(":", 1)[0]) for i in ids), relations=tuple(self.relations),
            series=frame, incident=Incident(symptom=symptom, metric=metric, at=self.at(alert_minute), lookback=lookback),
            changes=tuple(self.changes), events=tuple(self.events),
        )


def ranking(case: Case) -> list[str]:
    return [c.entity for c in analyze(case).candidates]


def top(case: Case, k: int = 1) -> list[str]:
    return ranking(case)[:k]


def services(world: World, names: Iterable[str], metrics: Sequence[tuple[str, float]] = (("latency_p95_s", 0.2),
                                                                                          ("error_rate", 0.001),
                                                                                          ("rps", 50.0))) -> None:
    for name in names:
        for metric, level in metrics:
            world.noise(name, metric, level)
