"""One insight, start to finish, as a plain (blocking) function the runner calls in a worker thread.

It runs the one insight builder (``api.insight.analyse``: neighbourhood read once, window read, pipeline, narrative)
on the backend's graph and window, and adds what the console needs to draw the result: the subgraph itself, a score
per entity for colouring, and the evidence series for sparklines (the window and one lookback before it; the day of
history the detectors read would squash the window to a few pixels). ``on_stage`` reports progress so the console can show which step is running.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from correlators.models import Incident
from detectors.models import SeriesFrame, SeriesKey
from narrator.template import narrate_template
from rca.pipeline import AnalysisConfig
from topology.models import Subgraph
from topology.timeutil import iso, parse_duration

from ..insight import analyse
from ..storage.records import InsightRequest
from .backend import AnalysisBackend

StageCallback = Callable[[str], None]
MAX_SPARK_POINTS = 120
MAX_SPARKLINES = 24


def _topology_json(down: Subgraph, up: Subgraph) -> dict[str, Any]:
    entities = {e.id: e for e in down.entities}
    entities.update({e.id: e for e in up.entities})
    relations = {(r.src, r.kind.value, r.dst, iso(r.valid_from)): r for r in (*down.relations, *up.relations)}
    return {
        "root": down.root,
        "entities": [{"id": e.id, "kind": e.kind, "attrs": e.attrs} for e in sorted(entities.values(), key=lambda e: e.id)],
        "relations": [
            {"src": r.src, "kind": r.kind.value, "dst": r.dst, "valid_from": iso(r.valid_from), "valid_to": iso(r.valid_to)}
            for r in relations.values()
        ],
    }


def _since(series: SeriesFrame, t0: float) -> SeriesFrame:
    first = int(np.searchsorted(series.times, t0, side="left"))
    return series if first == 0 else SeriesFrame(series.keys, series.times[first:], series.values[:, first:])


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _sparklines(public: dict[str, Any], series, symptom: str, metric: str | None) -> list[dict[str, Any]]:
    """Evidence series of the top candidates (and the symptom's metric), downsampled for inline SVG."""
    wanted: list[tuple[str, str]] = []
    if metric:
        wanted.append((symptom, metric))
    for candidate in public["candidates"][:5]:
        for ev in candidate["evidence"]:
            if ev.get("metric"):
                wanted.append((ev["entity"], ev["metric"]))
    for anomaly in public["anomalies"]:
        wanted.append((anomaly["entity"], anomaly["metric"]))
    onsets = {(a["entity"], a["metric"]): a["onset"] for a in public["anomalies"]}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for key in wanted:
        if key in seen or len(out) >= MAX_SPARKLINES:
            continue
        seen.add(key)
        row = series.row(SeriesKey(*key))
        if row is None or len(row) == 0:
            continue
        stride = max(1, math.ceil(len(row) / MAX_SPARK_POINTS))
        times = series.times[::stride]
        values = row[::stride]
        out.append({
            "entity": key[0], "metric": key[1], "onset": onsets.get(key),
            "t": [int(t) for t in times], "v": [_finite(v) for v in values.astype(float)],
        })
    return out


def _entity_scores(public: dict[str, Any]) -> dict[str, float]:
    """Anomaly severity per entity in [0, 1] (the strongest of its anomalies): what the console colours by."""
    scores: dict[str, float] = {}
    for anomaly in public["anomalies"]:
        score = float(anomaly.get("score") or 0.0)
        severity = score / (score + 5.0) if score > 0 else 0.0
        scores[anomaly["entity"]] = max(scores.get(anomaly["entity"], 0.0), round(severity, 4))
    return scores


def run_insight(
    backend: AnalysisBackend,
    request: InsightRequest,
    *,
    hops: int = 6,
    narrate: Callable[..., Any] = narrate_template,
    on_stage: StageCallback = lambda stage: None,
) -> dict[str, Any]:
    """Analyse ``request`` against ``backend`` with the one insight builder; returns the insight document.

    The console's topology is the very subgraph the analysis ranked on (read once), its sparklines the very series.
    """
    incident = Incident(symptom=request.symptom, metric=request.metric, at=request.at,
                        lookback=parse_duration(request.lookback), title=request.title)
    run = analyse(backend.graph(), incident, backend.window, config=AnalysisConfig(hops=hops), narrate=narrate,
                  on_stage=on_stage)
    public = run.insight.to_public()
    public["topology"] = _topology_json(run.down, run.up)
    public["entity_scores"] = _entity_scores(public)
    shown = _since(run.data.series, (incident.start - incident.lookback).timestamp())
    public["sparklines"] = _sparklines(public, shown, incident.symptom, incident.metric)
    public["backend"] = backend.name
    public["partial"] = list(run.data.partial)
    return public


def _json_safe(value: Any) -> Any:
    """NaN/inf never reach the JSON store (``allow_nan=False``): they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating,)):
        return _json_safe(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def json_safe(document: dict[str, Any]) -> dict[str, Any]:
    return _json_safe(document)
