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
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
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

    from ..collect import CollectedState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowData:
    """Series, changes and events of one analysis window."""

    series: SeriesFrame
    changes: tuple[Change, ...] = ()
    events: tuple[Event, ...] = ()
    partial: tuple[str, ...] = ()
    """What could not be read (e.g. Prometheus unreachable): the insight still runs on the rest and says so."""


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

    def window(self, entities: set[str], start: datetime, end: datetime) -> WindowData:
        return WindowData(
            series=self.case.series.for_entities(entities).until(end),
            changes=tuple(c for c in self.case.changes if c.at <= end),
            events=tuple(e for e in self.case.events if e.at <= end),
        )


class CollectedCache:
    """What ``faultline collect`` saved, parsed once and kept until one of its files changes.

    Why: every insight of the live server reads the collected directory, and parsing its ``metrics.csv`` costs far
    more than an analysis; the files change only when a collection round rewrites them (always by replacing the file,
    so its inode, size or modification time moves). The key is each file's (mtime_ns, size, inode): an unchanged
    directory is never read twice, a rewritten one is read again on the next insight.
    """

    FILES = ("metrics.csv", "events.json", "changes.json")

    def __init__(self, directory: Path, step_s: float | None, *, with_samples: bool) -> None:
        self.directory = directory
        self._step_s = step_s
        self._with_samples = with_samples
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._state: "CollectedState | None" = None
        self._samples: Samples | None = None
        self.reads = 0
        """How many times the files were parsed (tests check that unchanged files are not read again)."""

    def _stamp(self) -> tuple:
        stamp = []
        for name in self.FILES:
            try:
                info = os.stat(self.directory / name)
                stamp.append((name, info.st_mtime_ns, info.st_size, info.st_ino))
            except OSError:
                stamp.append((name, None))
        return tuple(stamp)

    def get(self) -> tuple["CollectedState", Samples | None]:
        """The parsed state (series on the grid, events, changes) and, when asked for, the raw samples."""
        from ..collect import load_collected, load_collected_samples

        with self._lock:
            key = self._stamp()  # taken before reading: a file replaced meanwhile is read again next time
            if key != self._key or self._state is None:
                self._state = load_collected(self.directory, step_s=self._step_s)
                self._samples = load_collected_samples(self.directory) if self._with_samples else None
                self._key = key
                self.reads += 1
            return self._state, self._samples


class LiveBackend:
    """The configured topology store, plus series from Prometheus (live) and/or a ``faultline collect`` directory.

    Prometheus is asked per insight for the window ``[at - lookback, at]``; the collected directory supplies the
    changes and events the collectors saved (and series; with Prometheus configured, the collected series Prometheus does not have are kept beside its own).
    """

    def __init__(self, store: GraphStore, *, prometheus: "PrometheusSource | None" = None,
                 collected_dir: Path | None = None, step_s: float | None = None, name: str = "live") -> None:
        self.name = name
        self._store = store
        self._prometheus = prometheus
        self._collected_dir = collected_dir
        self._step_s = step_s
        self._collected = (None if collected_dir is None else
                           CollectedCache(collected_dir, step_s, with_samples=prometheus is not None))

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
        series = SeriesFrame.empty()
        changes: tuple[Change, ...] = ()
        events: tuple[Event, ...] = ()
        collected = self._collected_dir is not None and self._collected_dir.exists()
        saved: Samples | None = None
        if collected:
            assert self._collected is not None
            state, saved = self._collected.get()
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
            if collected and saved is not None:
                # Series only the collectors know (trace-derived latency/TTFT, restart counts) are kept beside
                # Prometheus's; where both have a series, Prometheus wins.
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
        return LiveBackend(store, prometheus=_prometheus(settings), collected_dir=settings.collected_dir,
                           step_s=settings.prometheus_step_s if settings.prometheus_url else None,
                           name="live:" + ("neo4j" if settings.neo4j_uri else "graph-file"))
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
