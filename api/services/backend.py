"""Where an insight's data comes from: a case directory (the embedded default) or the live stores from settings.

Both answer the same three questions — *which entities exist*, *what did the graph look like*, *which series, changes
and events fall into the window* — so the one insight builder (``api.insight.analyse``) does not care which one it
talks to. ``store_from_settings`` is the one way from settings to a topology store (``FAULTLINE_STORE``, Neo4j with
its retry budget, or the MemoryStore file ``faultline collect`` keeps), for the server and for ``faultline collect``.

The live backend reads, per insight, the symptom's neighbourhood from Prometheus **with its history**: the window and
one lookback before it at ``prometheus_step_s``, and ``baseline`` (24 h) before that at ``baseline_step_s`` — what a
case directory holds, so the detectors get a real baseline. Everything Prometheus could not answer in time is listed
in ``partial``. The changes and events (and series Prometheus does not have) come from what ``faultline collect``
saved, read once and reused until the files change.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from correlators.case_files import load_case, parse_changes, parse_meta
from correlators.models import Case, Change, Incident
from detectors.case_files import load_events, load_metrics
from detectors.exceptions import MetricSourceError
from detectors.models import Event, SeriesFrame
from detectors.roles import MetricInfo
from detectors.sources.samples import Samples
from topology.case_files import DEFAULT_LIMITS, CaseLimits, case_file, read_json
from topology.config import StoreSettings, open_store
from topology.exceptions import CaseFormatError, UnknownEntityError
from topology.memory_store import MemoryStore
from topology.problems import SourceProblem
from topology.store import GraphStore

from ..insight import WindowData, case_window
from ..settings import Settings

if TYPE_CHECKING:
    from detectors.sources import PrometheusResult, PrometheusSource
    from detectors.sources.loki import LokiSource

log = logging.getLogger(__name__)

__all__ = ["AnalysisBackend", "CaseBackend", "LiveBackend", "WindowData", "backend_from_settings",
           "store_from_settings"]


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
        return case_window(self.case, entities, start, end)


# -- what `faultline collect` saved ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectedState:
    """The collected directory as one insight reads it; ``problems`` say which file could not be read and why."""

    samples: Samples = field(default_factory=Samples.empty)
    events: tuple[Event, ...] = ()
    changes: tuple[Change, ...] = ()
    metrics_meta: Mapping[str, MetricInfo] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _frame_samples(frame: SeriesFrame) -> Samples:
    """The finite cells of a frame as long-format samples (to be merged with Prometheus's on its grid)."""
    rows, cols = np.nonzero(np.isfinite(frame.values))
    if rows.size == 0:
        return Samples.empty()
    entities = np.array([k.entity for k in frame.keys], dtype=object)
    metrics = np.array([k.metric for k in frame.keys], dtype=object)
    return Samples(frame.times[cols].astype(float), entities[rows], metrics[rows], frame.values[rows, cols])


class CollectedFiles:
    """``metrics.csv``, ``events.json``, ``changes.json`` and ``metrics_meta.json`` of a collected directory, parsed
    with the case format's limits once and reused until a file's size or modification time changes.

    Why cached: a collected ``metrics.csv`` holds a day of series; parsing it per insight (twice, as the server used
    to) costs more than the analysis. Why bounded: the collector writes it, but the server must not trust its size.
    """

    FILES = ("metrics.csv", "events.json", "changes.json", "metrics_meta.json")

    def __init__(self, directory: Path, limits: CaseLimits = DEFAULT_LIMITS) -> None:
        self.directory = Path(directory)
        self.limits = limits
        self._lock = threading.Lock()
        self._stamp: tuple[object, ...] | None = None
        self._state = CollectedState()
        self.reads = 0
        """How many times the files were parsed (tests check the cache holds)."""

    def _stamps(self) -> tuple[object, ...]:
        out: list[object] = []
        for name in self.FILES:
            try:
                st = (self.directory / name).stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))  # a file replaced within the same second too
            except OSError:
                out.append(None)
        return tuple(out)

    def state(self) -> CollectedState:
        stamp = self._stamps()
        with self._lock:
            if stamp != self._stamp:
                self._state = self._load()
                self._stamp = stamp
                self.reads += 1
            return self._state

    def _load(self) -> CollectedState:
        problems: list[str] = []
        samples, events, changes, meta = Samples.empty(), (), (), {}
        d, limits = self.directory, self.limits
        try:
            if (d / "metrics.csv").is_file():
                samples = _frame_samples(load_metrics(d, limits))
        except CaseFormatError as exc:
            problems.append(f"collected series: {exc}")
        try:
            events = tuple(load_events(d, limits))
        except CaseFormatError as exc:
            problems.append(f"collected events: {exc}")
        try:
            path = case_file(d, "changes.json", required=False, max_bytes=limits.max_json_bytes)
            changes = tuple(parse_changes(read_json(path, limits), str(path))) if path else ()
        except CaseFormatError as exc:
            problems.append(f"collected changes: {exc}")
        try:
            path = case_file(d, "metrics_meta.json", required=False, max_bytes=limits.max_json_bytes)
            meta = parse_meta(read_json(path, limits), str(path)) if path else {}
        except CaseFormatError as exc:
            problems.append(f"collected metrics_meta: {exc}")
        for problem in problems:
            log.warning("%s", problem)
        return CollectedState(samples, events, changes, meta, tuple(problems))


def window_events(events: Sequence[Event], since: datetime, start: datetime, end: datetime) -> tuple[Event, ...]:
    """Events an analysis of ``[start, end]`` may see: nothing after ``end`` (the alert) nor older than ``since``
    (the history read); a recurring event whose ``last_at`` reaches into the window although it began before
    ``start`` is kept, at ``start`` (its first occurrence inside the window)."""
    out: list[Event] = []
    for event in events:
        if event.at > end:
            continue
        last = getattr(event, "last_at", None) or event.at
        if last < since:
            continue
        if event.at < start <= last:
            event = event.model_copy(update={"at": start})
        out.append(event)
    return tuple(out)


def _problems_text(problems: Sequence[SourceProblem], limit: int = 5) -> str:
    shown = "; ".join(f"{p.where}: {p.reason}" for p in problems[:limit])
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return shown + more


class LiveBackend:
    """The configured topology store, plus series from Prometheus (live) and/or a ``faultline collect`` directory.

    Prometheus is asked per insight for the neighbourhood's series over ``[at - lookback - recent - history, at]``
    (``recent`` defaults to the lookback); the collected directory supplies the changes and events the collectors
    saved, and the series Prometheus does not have (Prometheus wins where both have one).
    """

    def __init__(self, store: GraphStore, *, prometheus: "PrometheusSource | None" = None,
                 collected_dir: Path | None = None, step_s: float | None = None, name: str = "live",
                 history: timedelta = timedelta(hours=24), history_step_s: float = 300.0,
                 recent: timedelta | None = None, limits: CaseLimits = DEFAULT_LIMITS,
                 telemetry: tuple[Path, ...] = (), loki: "LokiSource | None" = None) -> None:
        self.name = name
        self._store = store
        self._prometheus = prometheus
        self._collected = CollectedFiles(collected_dir, limits) if collected_dir is not None else None
        self._step_s = step_s
        self._telemetry = telemetry
        self._loki = loki
        self.history = history
        self.history_step_s = history_step_s
        self.recent = recent
        self.last_read: "PrometheusResult | None" = None
        """The latest Prometheus read (``/healthz`` reports its absent and empty families)."""

    @property
    def prometheus(self) -> "PrometheusSource | None":
        return self._prometheus

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

    def collected(self) -> CollectedState | None:
        if self._collected is None or not self._collected.directory.exists():
            return None
        return self._collected.state()

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
        recent = self.recent if self.recent is not None else end - start
        since = start - recent - self.history
        partial: list[str] = []
        saved = self.collected()
        parts: list[Samples] = []
        events: list[Event] = []
        if saved is not None:
            partial += saved.problems
            events += saved.events
        prometheus_keys: set[tuple[str, str]] = set()
        if self._prometheus is not None:
            try:
                result = self._prometheus.read(start, end, entities=entities, history_s=self.history.total_seconds(),
                                               history_step_s=self.history_step_s, recent_s=recent.total_seconds())
            except MetricSourceError as exc:
                # Degrade, do not fail: topology, changes and events (and collected series) still point somewhere,
                # and an on-call engineer is better served by a partial answer that says it is partial.
                log.warning("metrics unavailable for an insight: %s", exc)
                partial.append(f"metrics: {exc}; ranked on topology, changes and events"
                               + (" and the collected series" if saved is not None else "") + " only")
            else:
                self.last_read = result
                parts.append(result.samples)
                prometheus_keys = set(result.keys)
                events += result.events
                late = [p for p in result.problems if "deadline" in p.reason]
                failed = [p for p in result.problems if "deadline" not in p.reason and "no entity rule" not in p.reason
                          and "both name" not in p.reason]
                if late:
                    partial.append(f"metrics: {len(late)} Prometheus queries did not answer within the "
                                   f"{self._prometheus.config.deadline_s:g} s deadline and were cancelled "
                                   f"({_problems_text(late)}); ranked on what arrived")
                if failed:
                    partial.append(f"metrics: {len(failed)} Prometheus queries failed ({_problems_text(failed)})")
        if saved is not None and len(saved.samples):
            s = saved.samples
            keep = (s.times >= since.timestamp()) & (s.times <= end.timestamp())
            keep &= np.isin(s.entities, np.array(sorted(entities), dtype=object))
            s = Samples(s.times[keep], s.entities[keep], s.metrics[keep], s.values[keep])
            if prometheus_keys and len(s):  # where both have a series, Prometheus wins
                both = pd.MultiIndex.from_arrays([s.entities, s.metrics]).isin(list(prometheus_keys))
                s = Samples(s.times[~both], s.entities[~both], s.metrics[~both], s.values[~both])
            parts.append(s)
        samples = Samples.concat(parts)
        series = samples.to_frame(self._step_s if self._prometheus is not None else None).for_entities(entities)
        changes = tuple(c for c in (saved.changes if saved else ()) if since <= c.at <= end)
        return WindowData(series=series.until(end), changes=changes, events=window_events(events, since, start, end),
                          partial=tuple(partial), metrics_meta=saved.metrics_meta if saved else {})


# -- from settings ------------------------------------------------------------------------------------------------
def _demo_case_dir() -> Path:
    """Build the bundled demo case once per process into a temporary directory."""
    from ..demo import build_demo_case  # the lead's demo world; imported lazily (it needs GitPython)

    root = Path(tempfile.mkdtemp(prefix="faultline-demo-"))
    atexit.register(shutil.rmtree, root, True)
    return build_demo_case(root).case_dir


def store_settings(settings: Settings) -> StoreSettings:
    """The topology part of the server's settings, as ``topology.config`` (and ``faultline topology``) reads it."""
    return StoreSettings(store=settings.store, graph_file=settings.graph_file, neo4j_uri=settings.neo4j_uri,
                         neo4j_user=settings.neo4j_user, neo4j_password=settings.neo4j_password,
                         neo4j_database=settings.neo4j_database, neo4j_retry_s=settings.neo4j_retry_s)


def store_from_settings(settings: Settings) -> GraphStore | None:
    """The live topology store the settings name, or ``None`` when they name none (then a case is analysed).

    ``FAULTLINE_STORE=neo4j`` (or a Neo4j URI) opens Neo4j with ``FAULTLINE_NEO4J_RETRY_S``; ``FAULTLINE_GRAPH_FILE``
    (or ``FAULTLINE_STORE=memory`` with it) the collector's MemoryStore file. The one function the server and
    ``faultline collect`` share.
    """
    chosen = store_settings(settings)
    if chosen.backend == "memory" and chosen.graph_file is None:
        return None
    return open_store(chosen)


_live_store = store_from_settings  # the name `faultline collect` imports


def _prometheus(settings: Settings) -> "PrometheusSource | None":
    if not settings.prometheus_url:
        return None
    from detectors.sources import PrometheusConfig, PrometheusSource

    config = PrometheusConfig(step_s=settings.prometheus_step_s, entity_label=settings.entity_label,
                              deadline_s=settings.prometheus_deadline_s,
                              concurrency=settings.prometheus_concurrency, rate_window=settings.prometheus_rate_window)
    return PrometheusSource(settings.prometheus_url, config=config)


BackendFactory = Callable[[Settings], AnalysisBackend]


def backend_from_settings(settings: Settings) -> AnalysisBackend:
    """Live stores when configured, else ``case_dir``, else the bundled demo case (so the magic wand always works)."""
    store = store_from_settings(settings)
    if store is not None:
        backend_name = store_settings(settings).backend
        telemetry = (settings.telemetry_path,) + (
            (settings.collected_dir / "telemetry.sqlite3",) if settings.collected_dir else ())
        loki = None
        if settings.loki_url:
            from detectors.sources.loki import LokiConfig, LokiSource

            loki = LokiSource(settings.loki_url, LokiConfig(query=settings.loki_query))
        return LiveBackend(store, prometheus=_prometheus(settings), collected_dir=settings.collected_dir,
                           step_s=settings.prometheus_step_s if settings.prometheus_url else None,
                           history=settings.baseline_delta, history_step_s=settings.baseline_step_s,
                           limits=settings.case_limits(),
                           name="live:" + ("neo4j" if backend_name == "neo4j" else "graph-file"), telemetry=telemetry,
                           loki=loki)
    if settings.case_dir is not None:
        return CaseBackend.from_dir(settings.case_dir, settings.case_limits())
    return CaseBackend.from_dir(_demo_case_dir(), settings.case_limits())
