"""An insight: the ranked analysis plus its narrative, and its JSON form (docs/case-format.md's analyze output).

``analyse`` is the one builder: ``faultline analyze CASE_DIR``, the server on a case directory and the server on live
Prometheus/Neo4j data all go through it, so the benchmarks measure what the server does. It reads the symptom's
neighbourhood **once** (``ReadOnce``): the pipeline's slices and the console's drawing are the same objects, so the
console never draws a graph other than the one analysed. The series, changes and events of that neighbourhood come
from a ``WindowReader`` (a case directory, or the live sources) as one ``WindowData``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from correlators.models import Case, Change, Incident
from detectors.models import Event, SeriesFrame
from detectors.roles import MetricInfo
from narrator.models import Narrative
from narrator.template import narrate_template
from rca.models import Analysis
from rca.pipeline import AnalysisConfig, analyze_incident, case_graph
from topology.models import Subgraph
from topology.store import Direction


class Insight(BaseModel):
    model_config = ConfigDict(frozen=True)

    analysis: Analysis
    narrative: Narrative
    timings_ms: dict[str, float]

    def to_public(self) -> dict[str, Any]:
        """The JSON document of ``faultline analyze --json`` and of the API."""
        a = self.analysis
        return {
            "incident": a.incident.model_dump(mode="json"),
            "candidates": [
                {
                    "rank": i,
                    "entity": c.entity,
                    "kind": c.kind,
                    "score": c.score,
                    "terms": c.terms.model_dump(),
                    "evidence": [e.model_dump(mode="json", exclude_none=True) for e in c.evidence],
                    "chain": c.chain.entities,
                    "chain_hops": [h.model_dump(mode="json") for h in c.chain.hops],
                }
                for i, c in enumerate(a.candidates, start=1)
            ],
            "anomalies": [x.model_dump(mode="json") for x in a.anomalies],
            "changes": [x.model_dump(mode="json") for x in a.changes],
            "unlinked_changes": [x.model_dump(mode="json") for x in a.unlinked_changes],
            "subgraph": {"entities": a.subgraph_entities, "relations": a.subgraph_relations},
            "narrative": self.narrative.model_dump(mode="json"),
            "timings_ms": self.timings_ms,
        }


@dataclass(frozen=True)
class WindowData:
    """Series, changes and events of one analysis window, and the roles of metrics the catalogue may not know."""

    series: SeriesFrame
    changes: tuple[Change, ...] = ()
    events: tuple[Event, ...] = ()
    partial: tuple[str, ...] = ()
    """What could not be read (e.g. Prometheus unreachable): the insight still runs on the rest and says so."""
    metrics_meta: Mapping[str, MetricInfo] = field(default_factory=dict)


class SubgraphReader(Protocol):
    """What the analysis reads of a topology store (``GraphStore``, ``CaseGraph``)."""

    def subgraph(self, root: str, *, hops: int, at: datetime, since: datetime | None = None,
                 direction: Direction = "down") -> Subgraph: ...


WindowReader = Callable[[set[str], datetime, datetime], WindowData]
"""``(neighbourhood entity ids, window start, window end) -> WindowData``."""


class ReadOnce:
    """A topology view that reads each subgraph from the store once and hands out the same object afterwards.

    Why: the analysis slices the graph (``rca.prepare``) and the console draws it; reading twice from a live store
    could give two different graphs (a collector wrote in between) and costs a second round trip to Neo4j.
    """

    def __init__(self, store: SubgraphReader) -> None:
        self.store = store
        self._read: dict[tuple[Any, ...], Subgraph] = {}

    def subgraph(self, root: str, *, hops: int, at: datetime, since: datetime | None = None,
                 direction: Direction = "down") -> Subgraph:
        key = (root, hops, at, since, direction)
        if key not in self._read:
            self._read[key] = self.store.subgraph(root, hops=hops, at=at, since=since, direction=direction)
        return self._read[key]


@dataclass(frozen=True)
class InsightRun:
    """An insight and what it was built from: the subgraphs read (down towards causes, up one hop) and the window."""

    insight: Insight
    down: Subgraph
    up: Subgraph
    data: WindowData


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def analyse(
    graph: SubgraphReader,
    incident: Incident,
    read: WindowReader,
    *,
    config: AnalysisConfig = AnalysisConfig(),
    narrate: Callable[[Analysis], Narrative] = narrate_template,
    on_stage: Callable[[str], None] = lambda stage: None,
    timings: Mapping[str, float] | None = None,
) -> InsightRun:
    """Read the neighbourhood of ``incident`` once, read its window, rank, narrate.

    ``timings`` are earlier stages to report first (e.g. loading a case's graph).
    """
    clock: dict[str, float] = dict(timings or {})
    started = time.perf_counter()
    on_stage("reading topology")
    view = ReadOnce(graph)
    # the same two slices rca.prepare reads; ReadOnce hands them to it again
    down = view.subgraph(incident.symptom, hops=config.hops, at=incident.at, since=incident.start, direction="down")
    up = view.subgraph(incident.symptom, hops=1, at=incident.at, since=incident.start, direction="up")
    on_stage("reading metrics")
    data = read(down.entity_ids() | up.entity_ids(), incident.start, incident.at)
    clock["read"] = _ms(started)
    on_stage("detecting anomalies and ranking causes")
    analysis = analyze_incident(view, data.series, incident, data.changes, data.events, config,  # type: ignore[arg-type]
                                data.metrics_meta)
    clock.update(analysis.timings_ms)
    on_stage("writing the narrative")
    t0 = time.perf_counter()
    narrative = narrate(analysis)
    clock["narrate"] = _ms(t0)
    clock["total"] = round(sum(clock.values()), 3)
    return InsightRun(Insight(analysis=analysis, narrative=narrative, timings_ms=clock), down, up, data)


def case_window(case: Case, entities: set[str], start: datetime, end: datetime) -> WindowData:
    """A case's data for a window: its series up to ``end``, its changes and events up to ``end``, its metrics_meta.

    The analysis itself picks the baseline (everything before ``start``) and the window; nothing after ``end`` (the
    alert) is handed over, as a live read cannot see the future either.
    """
    return WindowData(
        series=case.series.for_entities(entities).until(end),
        changes=tuple(c for c in case.changes if c.at <= end),
        events=tuple(e for e in case.events if e.at <= end),
        metrics_meta=case.metrics_meta,
    )


def build_insight(case: Case, config: AnalysisConfig = AnalysisConfig(), narrate=narrate_template) -> Insight:
    """Analyse a loaded case and narrate the result (``faultline analyze`` / ``faultline demo``)."""
    started = time.perf_counter()
    graph = case_graph(case)
    load_ms = _ms(started)
    run = analyse(graph, case.incident, lambda entities, start, end: case_window(case, entities, start, end),
                  config=config, narrate=narrate, timings={"load_graph": load_ms})
    return run.insight
