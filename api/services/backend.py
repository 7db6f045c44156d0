"""Where an insight's data comes from: a case directory (the embedded default) or the live stores from settings.

Both answer the same three questions — *which entities exist*, *what did the graph look like*, *which series, changes
and events fall into the window* — so the runner does not care which one it talks to. The live backend reads the
configured topology store (Neo4j, or the MemoryStore file ``faultline collect`` keeps), series from Prometheus when a
URL is set, and the changes/events (and, without Prometheus, the series) that ``faultline collect`` saved; changes are
also derived from the graph's relation history by the pipeline itself.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from correlators.case_files import load_case
from correlators.models import Case, Change, Incident
from detectors.exceptions import MetricSourceError
from detectors.models import Event, SeriesFrame
from detectors.sources.samples import Samples
from topology.case_files import DEFAULT_LIMITS, CaseLimits
from topology.exceptions import UnknownEntityError
from topology.memory_store import MemoryStore
from topology.store import GraphStore

from ..settings import Settings

if TYPE_CHECKING:
    from detectors.sources import PrometheusSource
    from detectors.sources.loki import LokiSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowData:
    """Series, changes and events of one analysis window."""

    series: SeriesFrame
    changes: tuple[Change, ...] = ()
    events: tuple[Event, ...] = ()
    partial: tuple[str, ...] = ()
    """What could not be read (e.g. Prometheus unreachable): the insight still runs on the rest and says so."""


MAX_TRACE_LOGS = 200
MAX_WINDOW_SPANS = 1_000_000
MAX_WINDOW_LOGS = 1_000_000
"""An insight reads at most this many spans and log records of a store: a bound on its memory (~100 MB of columns)."""


@dataclass(frozen=True)
class TraceView:
    """One trace's spans (plain rows, by start time) and the log lines that carry its id."""

    spans: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)


def _log_row(record) -> dict:
    return {"time_ns": record.time_ns, "level": record.level, "entity": record.entity, "body": record.body[:2000],
            "span_id": record.span_id}


class AnalysisBackend(Protocol):
    name: str

    def graph(self) -> GraphStore: ...

    def has_entity(self, entity_id: str) -> bool: ...

    def default_incident(self) -> Incident | None:
        """The incident the console offers first (the case's own alert), if there is one."""
        ...

    def default_time(self) -> datetime:
        """``at`` for a request that gives none: now for live data, the case's alert time for a recorded case."""
        ...

    def window(self, entities: set[str], start: datetime, end: datetime) -> WindowData: ...


class CaseBackend:
    """A case loaded once into an in-memory graph; every insight reads the same frozen world."""

    def __init__(self, case: Case, name: str = "") -> None:
        self.case = case
        self.name = name or f"case:{case.name or 'inline'}"
        self._store = MemoryStore()
        self._store.upsert_entities(case.entities)
        self._store.upsert_relations(case.relations)
        self._ids = {e.id for e in case.entities}

    @classmethod
    def from_dir(cls, case_dir: str | Path, limits: CaseLimits = DEFAULT_LIMITS) -> "CaseBackend":
        return cls(load_case(case_dir, limits), name=f"case:{Path(case_dir)}")

    def graph(self) -> GraphStore:
        return self._store

    def has_entity(self, entity_id: str) -> bool:
        return entity_id in self._ids

    def default_incident(self) -> Incident | None:
        return self.case.incident

    def default_time(self) -> datetime:
        return self.case.incident.at

    def trace(self, trace_id: str) -> TraceView:
        """One trace of the case's ``traces.jsonl`` and the log lines that carry its id (the console's waterfall)."""
        telemetry = self.case.telemetry
        if telemetry is None:
            return TraceView()
        trace_id = trace_id.lower()
        logs = [r for r in telemetry.logs if r.trace_id == trace_id]
        return TraceView(spans=telemetry.spans.trace_rows(trace_id), logs=[_log_row(r) for r in logs[:MAX_TRACE_LOGS]])

    def window(self, entities: set[str], start: datetime, end: datetime) -> WindowData:
        return WindowData(
            series=self.case.series.for_entities(entities).until(end),
            changes=tuple(c for c in self.case.changes if c.at <= end),
            events=tuple(e for e in self.case.events if e.at <= end),
        )


class LiveBackend:
    """The configured topology store, plus series from Prometheus (live) and/or a ``faultline collect`` directory.

    Prometheus is asked per insight for the window ``[at - lookback, at]``; the collected directory supplies the
    changes and events the collectors saved (and series; with Prometheus configured, the collected series Prometheus does not have are kept beside its own).
    """

    def __init__(self, store: GraphStore, *, prometheus: "PrometheusSource | None" = None,
                 collected_dir: Path | None = None, step_s: float | None = None, name: str = "live",
                 telemetry: tuple[Path, ...] = (), loki: "LokiSource | None" = None) -> None:
        self.name = name
        self._store = store
        self._prometheus = prometheus
        self._collected_dir = collected_dir
        self._step_s = step_s
        self._telemetry = telemetry
        self._loki = loki

    def graph(self) -> GraphStore:
        return self._store

    def has_entity(self, entity_id: str) -> bool:
        try:
            self._store.get_entity(entity_id)
        except UnknownEntityError:
            return False
        return True

    def default_incident(self) -> Incident | None:
        return None

    def default_time(self) -> datetime:
        return datetime.now(timezone.utc)

    def window(self, entities: set[str], start: datetime, end: datetime) -> WindowData:
        data = self._window(entities, start, end)
        partial: list[str] = []
        telemetry = self._read_telemetry(start, end, partial)
        from dataclasses import replace

        if partial:
            data = replace(data, partial=data.partial + tuple(partial))
        if telemetry is None:
            return data
        from detectors.sources.case_telemetry import telemetry_rows

        series = telemetry_rows(data.series, telemetry, at=end, lookback=end - start, known=entities)
        return replace(data, series=series.for_entities(entities))

    def trace(self, trace_id: str) -> TraceView:
        """One trace from the telemetry stores, and the log lines that carry its id."""
        from detectors.sources.span_table import SpanTable
        from detectors.sources.telemetry_store import TelemetryStore

        spans, logs = [], []
        for path in self._telemetry:
            if path.exists():
                with TelemetryStore(path) as store:
                    found = store.trace(trace_id)
                    spans.extend(found)
                    if found:
                        lo = min(s.start_ns for s in found) - 60 * 10**9
                        hi = max(s.end_ns for s in found) + 60 * 10**9
                        logs.extend(r for r in store.logs(lo, hi) if r.trace_id == trace_id.lower())
        return TraceView(spans=SpanTable.from_spans(spans).trace_rows(trace_id),
                         logs=[_log_row(r) for r in logs[:MAX_TRACE_LOGS]])

    def _read_telemetry(self, start: datetime, end: datetime, partial: list[str]):
        """Spans and logs of the window from the OTLP receivers' store, the collected one (``faultline collect
        --traces/--logs``) and Loki when configured, as the case files' would be read."""
        from detectors.sources.case_telemetry import CaseTelemetry
        from detectors.sources.span_table import SpanTable
        from detectors.sources.telemetry_store import TelemetryStore

        spans, logs = [], []
        if self._loki is not None:
            try:
                result = self._loki.read(start, end)
                logs.extend(result.records)
                partial.extend(str(p) for p in result.problems[:3])
            except MetricSourceError as exc:
                log.warning("logs from Loki unavailable for an insight: %s", exc)
                partial.append(f"logs: {exc}; ranked without Loki's lines")
        lo, hi = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
        for path in self._telemetry:
            if not path.exists():
                continue
            with TelemetryStore(path) as store:
                window = store.spans(lo - 300 * 10**9, hi, limit=MAX_WINDOW_SPANS)  # requests begun just before
                spans.append(SpanTable.from_spans(window))
                logs.extend(store.logs(lo, hi, limit=MAX_WINDOW_LOGS))
            if len(window) >= MAX_WINDOW_SPANS or len(logs) >= MAX_WINDOW_LOGS:
                partial.append(f"telemetry: more than {MAX_WINDOW_SPANS} spans or {MAX_WINDOW_LOGS} log records in "
                               f"the window of {path.name}; the earliest were read")
        table = SpanTable.concat(spans)
        return CaseTelemetry(spans=table, logs=tuple(logs)) if len(table) or logs else None

    def _window(self, entities: set[str], start: datetime, end: datetime) -> WindowData:
        series = SeriesFrame.empty()
        changes: tuple[Change, ...] = ()
        events: tuple[Event, ...] = ()
        collected = self._collected_dir is not None and self._collected_dir.exists()
        if collected:
            from ..collect import load_collected

            state = load_collected(self._collected_dir, step_s=self._step_s)
            series = state.series.for_entities(entities).until(end)
            changes = tuple(c for c in state.changes if start - (end - start) <= c.at <= end)
            events = tuple(e for e in state.events if e.entity in entities and start <= e.at <= end)
        if self._prometheus is not None:
            try:
                result = self._prometheus.read(start, end)
            except MetricSourceError as exc:
                # Degrade, do not fail: topology, changes and events (and collected series) still point somewhere,
                # and an on-call engineer is better served by a partial answer that says it is partial.
                log.warning("metrics unavailable for an insight: %s", exc)
                return WindowData(series=series, changes=changes, events=events, partial=(
                    f"metrics: {exc}; ranked on topology, changes and events"
                    + (" and the collected series" if collected else "") + " only",))
            samples = result.samples
            if collected:
                # Series only the collectors know (trace-derived latency/TTFT, restart counts) are kept beside
                # Prometheus's; where both have a series, Prometheus wins.
                from ..collect import load_collected_samples

                saved = load_collected_samples(self._collected_dir)
                known = samples.series_keys()
                extra = np.array([(e, m) not in known for e, m in zip(saved.entities, saved.metrics)], dtype=bool)
                window = (saved.times >= start.timestamp()) & (saved.times <= end.timestamp())
                keep = extra & window
                samples = Samples.concat([samples, Samples(saved.times[keep], saved.entities[keep],
                                                           saved.metrics[keep], saved.values[keep])])
            series = samples.to_frame(self._step_s).for_entities(entities)
            events = events + tuple(e for e in result.events if e.entity in entities)
        return WindowData(series=series, changes=changes, events=events)


def _demo_case_dir() -> Path:
    """Build the bundled demo case once per process into a temporary directory."""
    from ..demo import build_demo_case  # the lead's demo world; imported lazily (it needs GitPython)

    root = Path(tempfile.mkdtemp(prefix="faultline-demo-"))
    atexit.register(shutil.rmtree, root, True)
    return build_demo_case(root).case_dir


def _live_store(settings: Settings) -> GraphStore | None:
    if settings.neo4j_uri:
        from topology.neo4j_store import Neo4jStore

        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_user, password, database=settings.neo4j_database)
    if settings.graph_file:
        return MemoryStore(settings.graph_file)
    return None


def _prometheus(settings: Settings) -> "PrometheusSource | None":
    if not settings.prometheus_url:
        return None
    from detectors.sources import PrometheusConfig, PrometheusSource

    config = PrometheusConfig(step_s=settings.prometheus_step_s, entity_label=settings.entity_label)
    return PrometheusSource(settings.prometheus_url, config=config)


BackendFactory = Callable[[Settings], AnalysisBackend]


def backend_from_settings(settings: Settings) -> AnalysisBackend:
    """Live stores when configured, else ``case_dir``, else the bundled demo case (so the magic wand always works)."""
    store = _live_store(settings)
    if store is not None:
        telemetry = (settings.telemetry_path,) + (
            (settings.collected_dir / "telemetry.sqlite3",) if settings.collected_dir else ())
        loki = None
        if settings.loki_url:
            from detectors.sources.loki import LokiConfig, LokiSource

            loki = LokiSource(settings.loki_url, LokiConfig(query=settings.loki_query))
        return LiveBackend(store, prometheus=_prometheus(settings), collected_dir=settings.collected_dir,
                           step_s=settings.prometheus_step_s if settings.prometheus_url else None,
                           name="live:" + ("neo4j" if settings.neo4j_uri else "graph-file"), telemetry=telemetry,
                           loki=loki)
    if settings.case_dir is not None:
        return CaseBackend.from_dir(settings.case_dir, settings.case_limits())
    return CaseBackend.from_dir(_demo_case_dir(), settings.case_limits())


class LazyBackend:
    """Builds the real backend on first use, off the event loop, so the server answers /healthz while loading."""

    def __init__(self, factory: Callable[[], AnalysisBackend]) -> None:
        self._factory = factory
        self._backend: AnalysisBackend | None = None
        self._lock = threading.Lock()

    def get(self) -> AnalysisBackend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self._factory()
                    log.info("analysis backend ready: %s", self._backend.name)
        return self._backend


def lookback_window(at: datetime, lookback: timedelta) -> tuple[datetime, datetime]:
    return at - lookback, at
