"""The analysis pipeline: topology slice → detectors → correlation → ranking.

``analyze_incident`` works on any ``GraphStore`` (live Neo4j, a collected MemoryStore); ``analyze`` is the same for a
case directory loaded into a throwaway in-memory store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from correlators.align import AlignConfig, correlate
from correlators.case_files import SeriesScope
from correlators.changes import changes_from_relations, merge_changes
from correlators.models import Case, Change, Incident
from detectors.detect import DetectConfig, detect
from detectors.models import Event, SeriesFrame
from topology.models import Entity, Relation, RelationKind
from topology.store import GraphStore

from .case_graph import CaseGraph
from .models import Analysis
from .rank import RankConfig, rank


@dataclass(frozen=True)
class AnalysisConfig:
    hops: int = 6
    detect: DetectConfig = field(default_factory=DetectConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    rank: RankConfig = field(default_factory=RankConfig)


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round((now - self._last) * 1000, 3)
        self._last = now


def analyze_incident(
    store: GraphStore,
    series: SeriesFrame,
    incident: Incident,
    changes: Sequence[Change] = (),
    events: Sequence[Event] = (),
    config: AnalysisConfig = AnalysisConfig(),
) -> Analysis:
    """Rank root-cause candidates for ``incident`` using the topology in ``store`` as it was over the lookback."""
    return _analyze_slices(store, series, incident, changes, events, config)


def _analyze_slices(
    store: GraphStore | CaseGraph,
    series: SeriesFrame,
    incident: Incident,
    changes: Sequence[Change],
    events: Sequence[Event],
    config: AnalysisConfig,
) -> Analysis:
    clock = _Clock()
    down = store.subgraph(incident.symptom, hops=config.hops, at=incident.at, since=incident.start, direction="down")
    up = store.subgraph(incident.symptom, hops=1, at=incident.at, since=incident.start, direction="up")
    impacted = sorted(
        r.src for r in up.relations
        if r.dst == incident.symptom and r.kind == RelationKind.CALLS and r.src.startswith("user:")
    )
    clock.lap("topology")
    members = down.entity_ids()
    anomalies = detect(
        series.for_entities(members), [e for e in events if e.entity in members],
        at=incident.at, lookback=incident.lookback, config=config.detect,
    )
    clock.lap("detect")
    derived = changes_from_relations(down.relations, incident.start, incident.at)
    merged = merge_changes([c for c in changes if c.at <= incident.at], derived, down.relations)
    correlation = correlate(down, anomalies, merged, config.align)
    clock.lap("correlate")
    candidates = rank(down, correlation, incident, impacted=impacted, config=config.rank)
    clock.lap("rank")
    return Analysis(
        incident=incident, candidates=tuple(candidates), anomalies=tuple(anomalies), changes=tuple(merged),
        unlinked_changes=correlation.unlinked_changes, subgraph_entities=len(down.entities),
        subgraph_relations=len(down.relations), timings_ms=clock.timings,
    )


def series_scope(config: AnalysisConfig = AnalysisConfig()) -> SeriesScope:
    """The entities whose series ``analyze`` reads, for ``correlators.load_case(..., series_scope=...)``.

    ``_analyze_slices`` reads the series of the symptom's ``config.hops``-hop dependency subgraph over the lookback and
    nothing else; reading a big case with this scope materialises only those series, with the same answer.
    Keep the two in step: ``tests/rca/test_series_scope.py`` compares analyses with and without the scope.
    """

    def scope(entities: Sequence[Entity], relations: Sequence[Relation], incident: Incident) -> set[str]:
        graph = CaseGraph(entities, relations)
        down = graph.subgraph(incident.symptom, hops=config.hops, at=incident.at, since=incident.start, direction="down")
        return down.entity_ids()

    return scope


def analyze(case: Case, config: AnalysisConfig = AnalysisConfig()) -> Analysis:
    """Analyse a loaded case (``correlators.load_case``).

    The case's topology goes into a ``CaseGraph`` (plain dicts, MemoryStore's versioning rules) rather than a
    networkx store: one slice around the symptom is all an analysis reads, so the fleet's size costs one pass.
    """
    started = time.perf_counter()
    graph = CaseGraph(case.entities, case.relations)
    load_ms = round((time.perf_counter() - started) * 1000, 3)
    analysis = _analyze_slices(graph, case.series, case.incident, case.changes, case.events, config)
    return analysis.model_copy(update={"timings_ms": {"load_graph": load_ms, **analysis.timings_ms}})
