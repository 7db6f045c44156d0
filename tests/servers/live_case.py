"""A case directory turned into the live sources faultline serves from: series in a real Prometheus (backfilled with
``promtool tsdb create-blocks-from openmetrics``), topology in a real Neo4j, changes/events/metrics_meta as the files
``faultline collect`` writes.

Each series becomes one Prometheus series labelled ``faultline_entity`` (and ``faultline_metric`` when the case's
metric name is not a valid Prometheus name, e.g. ``out_latency_p50_s[cartservice]``) — the convention faultline's
catalogue reads as "faultline recorded series". A missing sample is written as ``NaN`` at its grid time (from the series' first sample to the
case's end), so Prometheus answers NaN there instead of repeating the previous value for five minutes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from correlators.models import Case
from tests.servers.exporter import format_labels

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(metric: str) -> str:
    name = _INVALID.sub("_", metric)
    return name if re.match(r"[a-zA-Z_:]", name) else "_" + name


def _value(v: float) -> str:
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def openmetrics_lines(case: Case) -> Iterator[str]:
    """OpenMetrics text of every series of ``case`` (untyped samples, one series contiguous, in time order)."""
    times = case.series.times
    stamps = [f"{t:.3f}" for t in times]
    for i, key in enumerate(case.series.keys):
        name = prometheus_name(key.metric)
        labels = {"faultline_entity": key.entity}
        if name != key.metric:
            labels["faultline_metric"] = key.metric
        head = name + format_labels(sorted(labels.items()))
        row = case.series.values[i]
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size == 0:
            continue  # a series with no sample at all: Prometheus cannot hold it either
        for j in range(int(finite[0]), len(stamps)):  # trailing gaps too, or Prometheus repeats the last value
            yield f"{head} {_value(row[j])} {stamps[j]}"
    yield "# EOF"


def case_openmetrics(case: Case) -> str:
    return "\n".join(openmetrics_lines(case)) + "\n"


def write_collected(case_dir: Path, out: Path) -> Path:
    """What ``faultline collect`` would have saved besides series: changes, events, and the declared metric roles."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("changes.json", "events.json", "metrics_meta.json"):
        if (case_dir / name).is_file():
            shutil.copyfile(case_dir / name, out / name)
    if not (out / "changes.json").exists():
        (out / "changes.json").write_text("[]", encoding="utf-8")
    return out


def load_topology(case: Case, uri: str, password: str) -> None:
    """The case's entities and relation versions into Neo4j, through faultline's own store."""
    from topology.neo4j_store import Neo4jStore

    store = Neo4jStore(uri, "neo4j", password)
    try:
        store.upsert_entities(case.entities)
        store.upsert_relations(case.relations)
    finally:
        store.close()


def analyze_json(case_dir: Path) -> dict:
    """``faultline analyze CASE_DIR --json``, run as the CLI runs it."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "api.cli", "analyze", str(case_dir), "--json"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
