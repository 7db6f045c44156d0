"""Speed: detector throughput and ``faultline analyze`` end to end at 100 / 1,000 / 5,000 / 50,000 entities.

* Detectors: ``detectors.detect_series`` on N series x 360 samples (1,000 of them with a real shift), median of 3.
* Analyze: a generated case per size (same seed, fault ``gpu_fault``), run as the command a person types,
  ``faultline analyze CASE --json`` (new process each time: Python start-up and imports included), median of
  ``--repeats`` runs; plus an in-process breakdown (read the case / topology slice / detectors / correlate / rank).

The case holds the symptom neighbourhood's series plus 1,500 sampled fleet series (``CaseSpec.fleet_series``), as an
incident recorder querying Prometheus around the symptom would; ``--all-series`` sizes write every series of the
fleet, which makes reading ``metrics.csv`` dominate.

Usage::

    python -m benchmarks.speed --out benchmarks/out/speed
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from .scenarios import CaseSpec, generate, write_case


def detector_throughput(n_series: int = 100_000, n_samples: int = 360, repeats: int = 3) -> dict:
    from detectors.detect import detect_series
    from detectors.models import SeriesFrame, SeriesKey, epoch_to_datetime

    rng = np.random.default_rng(0)
    values = rng.normal(10, 1, (n_series, n_samples))
    values[:1000, n_samples - 40 :] += 6
    times = 1.7e9 + 60 * np.arange(n_samples, dtype=float)
    frame = SeriesFrame(tuple(SeriesKey(f"pod:p{i}", "cpu_usage") for i in range(n_series)), times, values)
    at = epoch_to_datetime(times[-1])
    runs, cpu, found = [], [], 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        found = len(detect_series(frame, at=at, lookback=timedelta(hours=1)))
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"series": n_series, "samples": n_samples, "median_s": statistics.median(runs),
            "cpu_median_s": statistics.median(cpu), "runs_s": runs, "found": found}


def subgraph_scaling(sizes: tuple[int, ...] = (100, 1_000, 5_000, 50_000), repeats: int = 3) -> list[dict]:
    """Analysis cost against the size of the symptom's own neighbourhood (not the fleet): a front app calling
    ``k`` services, each on 4 pods spread over nodes, every entity with two series of 180 samples, one pod slowed."""
    from correlators.models import Case, Incident
    from detectors.models import SeriesFrame, SeriesKey, epoch_to_datetime
    from rca.pipeline import analyze
    from topology.models import Entity, Relation

    rows = []
    for size in sizes:
        k = max(1, size // 6)
        entities = [Entity(id="app:front", kind="app")]
        relations = []
        nodes = [f"node:n{i}" for i in range(max(1, k // 5))]
        entities += [Entity(id=n, kind="node") for n in nodes]
        for i in range(k):
            svc = f"app:s{i}"
            entities.append(Entity(id=svc, kind="app"))
            relations.append(Relation(src="app:front", kind="CALLS", dst=svc))
            for j in range(4):
                pod = f"pod:s{i}-{j}"
                entities.append(Entity(id=pod, kind="pod"))
                relations.append(Relation(src=svc, kind="RUNS_ON", dst=pod))
                relations.append(Relation(src=pod, kind="SCHEDULED_ON", dst=nodes[(i * 4 + j) % len(nodes)]))
        rng = np.random.default_rng(size)
        n_t = 180
        times = 1.7e9 + 60 * np.arange(n_t, dtype=float)
        keys = tuple(SeriesKey(e.id, m) for e in entities for m in ("latency_p95_s", "cpu_usage"))
        values = rng.normal(1.0, 0.05, (len(keys), n_t))
        for idx, key in enumerate(keys):
            if key.entity in ("pod:s0-0", "app:s0", "app:front") and key.metric in ("latency_p95_s", "cpu_usage"):
                values[idx, 165:] += 1.0
        frame = SeriesFrame(keys, times, values)
        case = Case(entities=tuple(entities), relations=tuple(relations), series=frame,
                    incident=Incident(symptom="app:front", metric="latency_p95_s", at=epoch_to_datetime(times[-1])))
        runs, cpu, top = [], [], ""
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            analysis = analyze(case)
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            top = analysis.candidates[0].entity if analysis.candidates else ""
        rows.append({"subgraph_entities": analysis.subgraph_entities, "series": len(keys),
                     "median_s": statistics.median(runs), "cpu_median_s": statistics.median(cpu), "top": top,
                     "timings_ms": analysis.timings_ms})
    return rows


def analyze_timing(case: Path, repeats: int) -> dict:
    from correlators.case_files import load_case
    from rca.pipeline import analyze

    cli, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "api.cli", "analyze", str(case), "--json"], capture_output=True, text=True)
        cli.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if proc.returncode != 0:
            raise SystemExit(f"faultline analyze failed on {case}: {proc.stderr[-1000:]}")
    inproc = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loaded = load_case(case)
        load_s = time.perf_counter() - t0
        analysis = analyze(loaded)
        inproc.append(time.perf_counter() - t0)
    return {
        "cli_median_s": statistics.median(cli), "cli_cpu_median_s": statistics.median(cpu), "cli_runs_s": cli,
        "inprocess_median_s": statistics.median(inproc), "load_case_s": load_s,
        "timings_ms": analysis.timings_ms, "subgraph_entities": analysis.subgraph_entities,
        "series_in_case": len(loaded.series.keys), "entities": len(loaded.entities), "relations": len(loaded.relations),
        "metrics_csv_mb": (case / "metrics.csv").stat().st_size / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/out/speed")
    ap.add_argument("--sizes", default="100,1000,5000,50000")
    ap.add_argument("--all-series", default="1000,5000", help="sizes also run with every fleet series written")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-detectors", action="store_true")
    ap.add_argument("--subgraph", action="store_true", help="also time the analysis against the neighbourhood's size")
    ap.add_argument("--subgraph-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    if not args.skip_detectors:
        report["detectors"] = detector_throughput()
        print(json.dumps(report["detectors"]), flush=True)
    if args.subgraph:
        report["subgraph"] = subgraph_scaling()
        for row in report["subgraph"]:
            print(json.dumps(row), flush=True)
        if args.subgraph_only:
            (out / "subgraph.json").write_text(json.dumps(report, indent=2))
            return 0
    rows = []
    variants = [(int(s), 1500) for s in args.sizes.split(",") if s] + [
        (int(s), None) for s in args.all_series.split(",") if s
    ]
    for size, fleet in variants:
        case = out / f"case-{size}-{'all' if fleet is None else 'near'}"
        if not (case / "incident.json").exists():
            write_case(generate(CaseSpec(seed=424242, fault="gpu_fault", entities=size, fleet_series=fleet)), case)
        row = {"target_entities": size, "series_scope": "all" if fleet is None else "neighbourhood+1500", **analyze_timing(case, args.repeats)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["analyze"] = rows
    (out / "speed.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
