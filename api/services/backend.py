"""Where an insight's data comes from: a case directory (the embedded default) or the live stores from settings.

Both answer the same three questions — *which entities exist*, *what did the graph look like*, *which series, changes
and events fall into the window* — so the runner does not care which one it talks to. The live backend reads the
configured topology store (a collectors-maintained MemoryStore file or Neo4j) and, when a Prometheus URL is set, the
metric series from it; changes are derived from the graph's relation history by the pipeline itself.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from correlators.case_files import load_case
from correlators.models import Case, Change, Incident
from detectors.models import Event, SeriesFrame
from topology.exceptions import UnknownEntityError
from topology.memory_store import MemoryStore
from topology.store import GraphStore

from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowData:
    """Series, changes and events of one analysis window."""

    series: SeriesFrame
    changes: tuple[Change, ...] = ()
    events: tuple[Event, ...] = ()


class SeriesSource(Protocol):
    def fetch(self, entities: Sequence[str], start: datetime, end: datetime) -> SeriesFrame:
        """Series of these entities over ``[start, end]`` on one grid. ``MetricSourceError`` when unreachable."""
        ...


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
    def from_dir(cls, case_dir: str | Path) -> "CaseBackend":
        return cls(load_case(case_dir), name=f"case:{Path(case_dir)}")

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


class LiveBackend:
    """The configured topology store plus (optionally) a live series source."""

    def __init__(self, store: GraphStore, series: SeriesSource | None, name: str = "live") -> None:
        self.name = name
        self._store = store
        self._series = series

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
        if self._series is None:
            return WindowData(series=SeriesFrame.empty())
        return WindowData(series=self._series.fetch(sorted(entities), start, end))


def _demo_case_dir() -> Path:
    """Build the bundled demo case once per process into a temporary directory."""
    from ..demo import build_demo_case  # the lead's demo world; imported lazily (it needs GitPython)

    root = Path(tempfile.mkdtemp(prefix="faultline-demo-"))
    atexit.register(shutil.rmtree, root, True)
    return build_demo_case(root).case_dir


def _live_store(settings: Settings) -> GraphStore | None:
    if settings.neo4j_uri:
        from topology import neo4j_store  # type: ignore[attr-defined]  # present when the Neo4j backend is installed

        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        return neo4j_store.Neo4jStore(settings.neo4j_uri, auth=(settings.neo4j_user, password),
                                      database=settings.neo4j_database)
    if settings.graph_file:
        return MemoryStore(settings.graph_file)
    return None


def _live_series(settings: Settings) -> SeriesSource | None:
    if not settings.prometheus_url:
        return None
    from .prometheus_series import PrometheusSeries

    return PrometheusSeries(settings.prometheus_url, step_s=settings.prometheus_step_s, entity_label=settings.entity_label)


BackendFactory = Callable[[Settings], AnalysisBackend]


def backend_from_settings(settings: Settings) -> AnalysisBackend:
    """Live stores when configured, else ``case_dir``, else the bundled demo case (so the magic wand always works)."""
    store = _live_store(settings)
    if store is not None:
        return LiveBackend(store, _live_series(settings))
    if settings.case_dir is not None:
        return CaseBackend.from_dir(settings.case_dir)
    return CaseBackend.from_dir(_demo_case_dir())


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
