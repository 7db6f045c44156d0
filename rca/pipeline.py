"""The analysis pipeline: topology slice → detectors → correlation → ranking.

``analyze_incident`` works on any ``GraphStore`` (live Neo4j, a collected MemoryStore); ``analyze`` is the same for a
case directory loaded into a throwaway in-memory store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from correlators.align import AlignConfig, Correlation, correlate
from correlators.canary import RolloutFinding, judge_rollouts
from correlators.case_files import SeriesScope
from correlators.changes import changes_from_relations, merge_changes, rollouts_from_relations
from correlators.models import Case, Change, Incident
from detectors.detect import DetectConfig, Detection, detect_all
from detectors.models import Event, SeriesFrame
from detectors.roles import MetricInfo, MetricRoles
from topology.models import Entity, Relation, RelationKind, Subgraph
from topology.store import GraphStore

from .case_graph import CaseGraph
from .model import default_model
from .models import Analysis
from .rank import RankConfig, featurize, rank_with_confidence


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
    metrics_meta: Mapping[str, MetricInfo] | None = None,
) -> Analysis:
    """Rank root-cause candidates for ``incident`` using the topology in ``store`` as it was over the lookback."""
    return _analyze_slices(store, series, incident, changes, events, config, metrics_meta)


@dataclass(frozen=True)
class Slices:
    """Everything the ranker reads for one incident, before the model scores it."""

    down: Subgraph
    impacted: list[str]
    detection: Detection
    merged: list[Change]
    correlation: Correlation
    rollouts: list[RolloutFinding]


def prepare(
    store: GraphStore | CaseGraph,
    series: SeriesFrame,
    incident: Incident,
    changes: Sequence[Change],
    events: Sequence[Event],
    config: AnalysisConfig,
    metrics_meta: Mapping[str, MetricInfo] | None = None,
    clock: "_Clock | None" = None,
) -> Slices:
    """Topology slice, detection, correlation and canary analysis: the inputs of the features."""
    clock = clock or _Clock()
    down = store.subgraph(incident.symptom, hops=config.hops, at=incident.at, since=incident.start, direction="down")
    up = store.subgraph(incident.symptom, hops=1, at=incident.at, since=incident.start, direction="up")
    impacted = sorted(
        r.src for r in up.relations
        if r.dst == incident.symptom and r.kind == RelationKind.CALLS and r.src.startswith("user:")
    )
    clock.lap("topology")
    members = down.entity_ids()
    roles = MetricRoles.default(metrics_meta)
    own_events = [e for e in events if e.entity in members]
    detection = detect_all(
        series.for_entities(members), own_events, at=incident.at, lookback=incident.lookback, config=config.detect,
        roles=roles,
    )
    clock.lap("detect")
    derived = changes_from_relations(down.relations, incident.start, incident.at) + rollouts_from_relations(
        down.relations, incident.start, incident.at
    )
    merged = merge_changes([c for c in changes if c.at <= incident.at], derived, down.relations)
    correlation = correlate(down, detection.anomalies, merged, config.align)
    step = detection.scores.split.step_s if detection.scores.split else 60.0
    rollouts = judge_rollouts(
        [c for c in merged if c.at >= incident.start], down.relations, detection.scores.frame, own_events, roles,
        until=incident.at, step_s=step,
    )
    clock.lap("correlate")
    return Slices(down, impacted, detection, merged, correlation, rollouts)


def _analyze_slices(
    store: GraphStore | CaseGraph,
    series: SeriesFrame,
    incident: Incident,
    changes: Sequence[Change],
    events: Sequence[Event],
    config: AnalysisConfig,
    metrics_meta: Mapping[str, MetricInfo] | None = None,
) -> Analysis:
    clock = _Clock()
    sl = prepare(store, series, incident, changes, events, config, metrics_meta, clock)
    candidates, confidence = rank_with_confidence(sl.down, sl.detection, sl.correlation, incident,
                                                  rollouts=sl.rollouts, impacted=sl.impacted, config=config.rank)
    clock.lap("rank")
    model = config.rank.model or default_model()

    return Analysis(
        incident=incident, candidates=tuple(candidates), anomalies=sl.detection.anomalies, changes=tuple(sl.merged),
        unlinked_changes=sl.correlation.unlinked_changes, subgraph_entities=len(sl.down.entities),
        subgraph_relations=len(sl.down.relations), timings_ms=clock.timings, confidence=confidence,
        calibrated_on=model.calibration.cases if confidence is not None else None,
        model_version=model.version,
    )


def case_graph(case: Case) -> CaseGraph:
    return CaseGraph(case.entities, case.relations)


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
    graph = case_graph(case)
    load_ms = round((time.perf_counter() - started) * 1000, 3)
    analysis = _analyze_slices(graph, case.series, case.incident, case.changes, case.events, config, case.metrics_meta)
    return analysis.model_copy(update={"timings_ms": {"load_graph": load_ms, **analysis.timings_ms}})


def case_features(case: Case, config: AnalysisConfig = AnalysisConfig()) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Every candidate's features for a case, without the model (what ``benchmarks/fit_ranker.py`` fits on)."""
    sl = prepare(case_graph(case), case.series, case.incident, case.changes, case.events, config, case.metrics_meta)
    pool, features, _, _ = featurize(sl.down, sl.detection, sl.correlation, sl.rollouts, case.incident, config.rank)
    return pool, features
