"""One collection round over every configured source, and the collected state on disk.

Why here: only ``api`` may import every package, and a round crosses all of them — the Kubernetes snapshot feeds the
topology (``topology``), events and restart counts (``detectors``) and rollouts (``correlators``); the git collector
needs the images the Kubernetes collector found; rollout changes need the commits the git collector linked.

Each source runs on its own: its failure is logged with the reason and reported in its ``SourceReport``, and the
round goes on with the next source. The graph goes to the ``GraphStore``; series, events and changes accumulate in
``out_dir`` as the case format's ``metrics.csv``, ``events.json`` and ``changes.json`` (merged with what earlier
rounds wrote, older than ``retention`` dropped), so ``analyze_collected`` — or anyone reading case files — can use them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from correlators.case_files import parse_changes
from correlators.models import Change, Incident
from correlators.sources import attach_commits, changes_from_snapshot
from detectors.case_files import load_events, load_metrics
from detectors.exceptions import MetricSourceError
from detectors.models import Event, SeriesFrame
from detectors.sources import PrometheusConfig, PrometheusSource, Samples, events_from_snapshot, restart_samples
from detectors.sources.otlp_logs import LogRecord, read_logs_file
from detectors.sources.telemetry_store import TelemetryStore
from detectors.sources.traces import trace_samples
from rca.models import Analysis
from rca.pipeline import AnalysisConfig, analyze_incident
from topology.collectors import (
    GitRepository,
    WorkloadMapping,
    collect_git,
    collect_kubernetes,
    collect_traces,
    image_hints,
    resolve_revisions,
    workloads,
)
from topology.exceptions import UnknownEntityError
from topology.genai import TraceNaming, calls_from_spans
from topology.kube import api_client_from_config, read_cluster
from topology.models import RelationKind
from topology.otlp import Span, read_otlp_file
from topology.store import GraphStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectOptions:
    """What to collect from. A source whose option is unset is skipped."""

    kubeconfig: str | None = None
    kube_context: str | None = None
    in_cluster: bool = False
    namespaces: tuple[str, ...] = ()
    kubernetes: bool = False
    prometheus_url: str | None = None
    prometheus: PrometheusConfig = PrometheusConfig()
    trace_files: tuple[Path, ...] = ()
    trace_step_s: float = 60.0
    log_files: tuple[Path, ...] = ()
    telemetry_db: Path | None = None
    """Where spans and log records from files go (the store ``faultline serve`` reads); None: not stored."""
    git_repo: Path | None = None
    image_commits: Mapping[str, str] = field(default_factory=dict)
    lookback: timedelta = timedelta(hours=1)
    retention: timedelta = timedelta(hours=24)
    out_dir: Path = Path("var/collected")
    mapping: WorkloadMapping = WorkloadMapping()
    naming: TraceNaming = TraceNaming()


@dataclass
class SourceReport:
    """How one source went in one round: counts, duration, what was skipped, or why it failed."""

    source: str
    ok: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    duration_ms: float = 0.0
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        what = ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "nothing"
        state = "ok" if self.ok else f"FAILED: {self.error}"
        extra = f", {len(self.problems)} skipped" if self.problems else ""
        return f"{self.source}: {state} — {what}{extra} in {self.duration_ms:.0f} ms"


@dataclass
class Collected:
    """What one round produced besides the graph."""

    samples: list[Samples] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    images: dict[str, dict[str, str | None]] = field(default_factory=dict)


def _run(name: str, reports: list[SourceReport], step: Callable[[SourceReport], None]) -> None:
    report = SourceReport(source=name)
    started = time.perf_counter()
    try:
        step(report)
    except Exception as exc:  # noqa: BLE001 - one source failing must not stop the others; the reason is kept
        report.ok = False
        report.error = f"{type(exc).__name__}: {exc}"
        known = type(exc).__module__.split(".")[0] in ("topology", "detectors", "correlators")
        log.error("collect: %s failed: %s", name, report.error, exc_info=not known)
    report.duration_ms = (time.perf_counter() - started) * 1000
    log.info("collect: %s", report.line())
    reports.append(report)


def collect_once(
    store: GraphStore, options: CollectOptions, *, now: datetime | None = None
) -> tuple[list[SourceReport], Collected]:
    """Run every configured source once, writing the graph to ``store``; returns per-source reports and data."""
    now = now or datetime.now(timezone.utc)
    reports: list[SourceReport] = []
    out = Collected()
    state: dict[str, Any] = {}

    if options.kubernetes:
        def kubernetes(report: SourceReport) -> None:
            with api_client_from_config(options.kubeconfig, context=options.kube_context,
                                        in_cluster=options.in_cluster) as api:
                snapshot = read_cluster(api, namespaces=options.namespaces or None, now=now)
            report.problems = [str(p) for p in snapshot.problems]
            if len(snapshot.failed) == 5:
                raise RuntimeError("no resource could be read: " + "; ".join(report.problems))
            gpus: dict[str, list[str]] = {}
            if options.prometheus_url:  # which pod holds which GPU, as dcgm-exporter labels say
                try:
                    gpus = PrometheusSource(options.prometheus_url, config=options.prometheus).gpu_pods(now)
                except MetricSourceError as exc:
                    report.problems.append(f"prometheus GPU allocations: {exc} (first-fit guess used)")
                    log.warning("collect: GPU allocations from Prometheus failed: %s", exc)
            result = collect_kubernetes(snapshot, store, mapping=options.mapping, gpu_assignments=gpus)
            named = workloads(snapshot, options.mapping)
            events = events_from_snapshot(snapshot, named)
            changes = changes_from_snapshot(snapshot, named)
            if options.kube_context:  # fix commands then say --context, not whatever context the shell has
                changes = [c.model_copy(update={"attrs": {**c.attrs, "context": options.kube_context}}) for c in changes]
            out.events += events
            out.changes += changes
            out.samples.append(restart_samples(snapshot))
            out.images.update(image_hints(snapshot))
            report.counts = {"pods": len(snapshot.pods), "nodes": len(snapshot.nodes), "entities": result.entities,
                             "relations": result.relations, "closed": result.closed, "events": len(events),
                             "changes": len(changes), "dcgm_gpu_pods": len(gpus)}
        _run("kubernetes", reports, kubernetes)

    if options.trace_files:
        def traces(report: SourceReport) -> None:
            spans: list[Span] = []
            stored = 0
            for path in options.trace_files:
                parsed = read_otlp_file(path)
                spans.extend(parsed.spans)
                report.problems += [str(p) for p in parsed.problems]
                stored += _store_telemetry(options, path, spans=parsed.spans)
            calls, problems = calls_from_spans(spans, options.naming)
            report.problems += [str(p) for p in problems]
            result = collect_traces(calls, store)
            out.samples.append(trace_samples(calls, step_s=options.trace_step_s))
            report.counts = {"spans": len(spans), "calls": len(calls), "entities": result.entities,
                             "relations": result.relations, "stored": stored}
        _run("traces", reports, traces)

    if options.log_files:
        def logs(report: SourceReport) -> None:
            records: list[LogRecord] = []
            stored = 0
            for path in options.log_files:
                parsed = read_logs_file(path)
                records.extend(parsed.records)
                report.problems += [str(p) for p in parsed.problems]
                stored += _store_telemetry(options, path, records=parsed.records)
            report.counts = {"records": len(records), "entities": len({r.entity for r in records}), "stored": stored}
        _run("logs", reports, logs)

    if options.git_repo is not None:
        def git(report: SourceReport) -> None:
            hints = dict(_images_in_store(store))
            hints.update(out.images)
            revisions = resolve_revisions(hints, options.image_commits)
            repository = GitRepository(options.git_repo)
            try:
                result = collect_git(store, repository, revisions)
            finally:
                repository.close()
            report.problems = [str(p) for p in result.problems]
            report.counts = {"images": len(hints), "commits": len(result.commits), "linked": result.linked}
            state["git"] = True
        _run("git", reports, git)

    if options.prometheus_url:
        def prometheus(report: SourceReport) -> None:
            result = PrometheusSource(options.prometheus_url, config=options.prometheus).read(now - options.lookback, now)
            out.samples.append(result.samples)
            out.events += result.events
            report.problems = [str(p) for p in result.problems]
            # A family whose metrics Prometheus has but that gave nothing speaks other label conventions: say so,
            # or "ok" would hide that every LLM signal vanished.
            for family in result.empty_families:
                warning = (f"warning: {family}: Prometheus has this family's metrics but its query returned no "
                           "series; check the labels its entity rules need (detectors/catalogue.json)")
                log.warning("collect: prometheus %s", warning)
                report.problems.append(warning)
            series = len(result.samples.series_keys())
            if result.families and series == 0:
                report.problems.append("warning: no metric family returned any series")
                log.warning("collect: prometheus: no metric family returned any series")
            report.counts = {"queries": result.queries_ok, "families": len(result.families),
                             "families_absent": len(result.absent), "series": series,
                             "samples": len(result.samples), "events": len(result.events)}
        _run("prometheus", reports, prometheus)

    if out.changes:
        out.changes = attach_commits(out.changes, store)
    return reports, out


_STORED_FILES: set[tuple[str, str, int, int]] = set()
"""Files already stored by this process (path, store, mtime, size): ``--watch`` rounds re-read them for the topology
and series but must not store their spans twice."""


def _store_telemetry(options: CollectOptions, path: Path, *, spans: Sequence[Span] = (),
                     records: Sequence[LogRecord] = ()) -> int:
    """Spans and log records read from ``path`` into the telemetry store the server's analysis reads (once per file
    version)."""
    if options.telemetry_db is None:
        return 0
    stat = path.stat()
    key = (str(path.resolve()), str(options.telemetry_db), stat.st_mtime_ns, stat.st_size)
    if key in _STORED_FILES:
        return 0
    _STORED_FILES.add(key)
    with TelemetryStore(options.telemetry_db) as telemetry:
        return telemetry.add_spans(spans) + telemetry.add_logs(records)


def _images_in_store(store: GraphStore) -> dict[str, dict[str, str | None]]:
    """Images pods run now, with the reference and revision the Kubernetes collector recorded on them."""
    hints: dict[str, dict[str, str | None]] = {}
    for relation in store.open_relations([RelationKind.RUNS]):
        try:
            attrs = store.get_entity(relation.dst).attrs
        except UnknownEntityError:
            continue
        hints[relation.dst] = {"reference": attrs.get("reference"), "revision": attrs.get("revision")}
    return hints


# -- the collected state on disk --------------------------------------------------------------------------------------
def _dump(path: Path, items: Sequence[Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps([i.model_dump(mode="json") for i in items], indent=1), encoding="utf-8")
    tmp.replace(path)


def save_collected(out_dir: Path, collected: Collected, *, now: datetime, retention: timedelta) -> dict[str, int]:
    """Merge this round into ``out_dir`` (``metrics.csv``, ``events.json``, ``changes.json``); returns totals."""
    out_dir.mkdir(parents=True, exist_ok=True)
    horizon = (now - retention).timestamp()
    new = Samples.concat(collected.samples)
    old = load_collected_samples(out_dir)
    merged = Samples.concat([old, new])
    keep = merged.times >= horizon
    merged = Samples(merged.times[keep], merged.entities[keep], merged.metrics[keep], merged.values[keep])
    table = merged.to_table().drop_duplicates(["timestamp", "entity", "metric"], keep="last")
    tmp = out_dir / "metrics.csv.tmp"
    table.to_csv(tmp, index=False, na_rep="NaN")
    tmp.replace(out_dir / "metrics.csv")
    events = {(e.entity, e.reason, e.at): e for e in [*_load_events(out_dir), *collected.events]
              if e.at.timestamp() >= horizon}
    changes = {(c.entity, c.kind, c.at): c for c in [*_load_changes(out_dir), *collected.changes]
               if c.at.timestamp() >= horizon}
    _dump(out_dir / "events.json", sorted(events.values(), key=lambda e: e.at))
    _dump(out_dir / "changes.json", sorted(changes.values(), key=lambda c: c.at))
    return {"samples": len(table), "events": len(events), "changes": len(changes)}


def load_collected_samples(out_dir: Path) -> Samples:
    if not (out_dir / "metrics.csv").is_file():
        return Samples.empty()
    import pandas as pd

    table = pd.read_csv(out_dir / "metrics.csv", keep_default_na=False, dtype=str)
    if table.empty:
        return Samples.empty()
    times = (pd.to_datetime(table["timestamp"], utc=True, format="ISO8601") - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    values = pd.to_numeric(table["value"], errors="coerce")
    return Samples(times.to_numpy(dtype=float), table["entity"].to_numpy(dtype=object),
                   table["metric"].to_numpy(dtype=object), values.to_numpy(dtype=float))


def _load_events(out_dir: Path) -> list[Event]:
    return load_events(out_dir) if (out_dir / "events.json").is_file() else []


def _load_changes(out_dir: Path) -> list[Change]:
    path = out_dir / "changes.json"
    return parse_changes(json.loads(path.read_text(encoding="utf-8")), str(path)) if path.is_file() else []


@dataclass(frozen=True)
class CollectedState:
    series: SeriesFrame
    events: tuple[Event, ...]
    changes: tuple[Change, ...]


def load_collected(out_dir: Path, *, step_s: float | None = None) -> CollectedState:
    """What earlier rounds saved, as the analysis reads it."""
    series = load_metrics(out_dir) if step_s is None else load_collected_samples(out_dir).to_frame(step_s)
    return CollectedState(series=series, events=tuple(_load_events(out_dir)), changes=tuple(_load_changes(out_dir)))


def analyze_collected(
    store: GraphStore, out_dir: Path, incident: Incident, *, step_s: float | None = None,
    config: AnalysisConfig = AnalysisConfig(),
) -> Analysis:
    """Analyse ``incident`` over the collected graph and the collected series, events and changes."""
    state = load_collected(out_dir, step_s=step_s)
    series = state.series
    if len(series.times):
        keep = series.times <= incident.at.timestamp()
        series = SeriesFrame(series.keys, series.times[keep], series.values[:, keep])
    return analyze_incident(store, series, incident, state.changes, state.events, config)

