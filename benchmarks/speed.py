"""Speed: detector throughput and ``faultline analyze`` end to end at 100 / 1,000 / 5,000 / 50,000 entities.

* Detectors: ``detectors.detect_series`` on N series x 360 samples (1,000 of them with a real shift), median of 3.
* Analyze: a generated case per size (same seed, fault ``gpu_fault``), run as the command a person types,
  ``faultline analyze CASE --json`` (new process each time: Python start-up and imports included), median of
  ``--repeats`` runs; plus an in-process breakdown (read the case / topology slice / detectors / correlate / rank).

The case holds the symptom neighbourhood's series plus 1,500 sampled fleet series (``CaseSpec.fleet_series``), as an
incident recorder querying Prometheus around the symptom would; ``--all-series`` sizes write every series of the
fleet, which makes reading ``metrics.csv`` dominate.

``--big`` adds the head-to-head of issue 12: a 3,000-entity case with every series (~1.56 M rows, ISO-8601
timestamps, full-precision values: ~110 MB of ``metrics.csv``), ``faultline analyze`` as a new process against an
in-process N-Sigma (pandas ``read_csv`` of the same file, the 5-hop closure, pivot, z-scores — the simplest peer,
with no start-up), run alternately so both see the same machine load; peak memory of each CLI run from ``wait4``.
``--imports`` records what ``faultline analyze`` imports (``python -X importtime``).

Usage::

    python -m benchmarks.speed --out benchmarks/out/speed
    python -m benchmarks.speed --big --imports --skip-detectors --sizes 5000 --all-series 5000 --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
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
    """The CLI as a person runs it (new process each time) alternated with in-process N-Sigma on the same case; then
    an in-process breakdown of faultline's own phases."""
    from correlators.case_files import load_case
    from rca.pipeline import analyze, series_scope

    cli, cpu, rss, nsigma, ratios = [], [], [], [], []
    for _ in range(repeats):
        wall, used, peak = cli_run(case)
        n_s, _ = nsigma_inprocess(case)
        cli.append(wall), cpu.append(used), rss.append(peak), nsigma.append(n_s), ratios.append(wall / n_s)
    inproc = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loaded = load_case(case, series_scope=series_scope())
        load_s = time.perf_counter() - t0
        analysis = analyze(loaded)
        inproc.append(time.perf_counter() - t0)
    return {
        "cli_median_s": statistics.median(cli), "cli_cpu_median_s": statistics.median(cpu), "cli_runs_s": cli,
        "cli_peak_rss_mb_max": max(rss) / 1024, "nsigma_inprocess_median_s": statistics.median(nsigma),
        "ratio_cli_over_nsigma_median": statistics.median(ratios),
        "inprocess_median_s": statistics.median(inproc), "load_case_s": load_s,
        "timings_ms": analysis.timings_ms, "subgraph_entities": analysis.subgraph_entities,
        "series_read": len(loaded.series.keys), "entities": len(loaded.entities), "relations": len(loaded.relations),
        "metrics_csv_mb": (case / "metrics.csv").stat().st_size / 1e6, "loadavg_before": os.getloadavg(),
    }


_PEAK_MARK = "faultline-peak-rss-kb:"
_CLI_WITH_PEAK = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
    f"    print('{_PEAK_MARK}' + (hwm[0].split()[1] if hwm else '0'), file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = ['faultline', *sys.argv[1:]]\n"
    "runpy.run_module('api.cli', run_name='__main__')\n"
)


def cli_run(case: Path) -> tuple[float, float, int]:
    """``faultline analyze CASE --json`` in a new process: (wall seconds, CPU seconds, peak resident KB).

    The peak is the process's own ``VmHWM``, printed as it exits: ``wait4``'s ``ru_maxrss`` would report this
    benchmark's own size, which a child inherits across fork and exec.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CLI_WITH_PEAK, "analyze", str(case), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"faultline analyze failed on {case}: {stderr[-1000:]}")
    peak = max((int(line[len(_PEAK_MARK):]) for line in stderr.splitlines() if line.startswith(_PEAK_MARK)), default=0)
    return wall, usage.ru_utime + usage.ru_stime, peak


def nsigma_inprocess(case: Path, hops: int = 5) -> tuple[float, str]:
    """N-Sigma as the simplest peer runs it, in this process: read ``metrics.csv`` with pandas, keep the symptom's
    ``hops``-hop dependency closure, pivot wide, z-score the last 10 minutes against the rest, rank by max |z|.
    Returns (seconds from opening the files to the ranking, top entity)."""
    import pandas as pd

    t0 = time.perf_counter()
    topology = json.loads((case / "topology.json").read_text())
    incident = json.loads((case / "incident.json").read_text())
    at = pd.Timestamp(incident["at"]).timestamp()
    down: dict[str, list[str]] = {}
    for r in topology["relations"]:
        down.setdefault(r["src"], []).append(r["dst"])
    keep, frontier = {incident["symptom"]}, [incident["symptom"]]
    for _ in range(hops):
        frontier = [n for f in frontier for n in down.get(f, ()) if n not in keep]
        keep.update(frontier)
    long = pd.read_csv(case / "metrics.csv", dtype={"entity": str, "metric": str})
    long = long[long["entity"].isin(keep)]
    ts = pd.to_numeric(long["timestamp"], errors="coerce")
    if ts.isna().any():
        parsed = pd.to_datetime(long["timestamp"], utc=True, format="ISO8601")
        ts = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    long = long.assign(time=ts.astype(float), col=long["entity"] + "|" + long["metric"])
    wide = long.pivot_table(index="time", columns="col", values="value", aggfunc="mean").sort_index().ffill().bfill()
    normal, anomalous = wide[wide.index < at - 600].to_numpy(), wide[wide.index >= at - 600].to_numpy()
    mean, std = np.nanmean(normal, axis=0), np.nanstd(normal, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (series with no normal period)
        score = np.nanmax(np.abs((anomalous - mean) / np.where(std > 0, std, np.nan)), axis=0)
    order = np.argsort(-np.nan_to_num(score, nan=-1.0))
    top = str(wide.columns[order[0]]).split("|")[0] if len(order) else ""
    return time.perf_counter() - t0, top


_RCAEVAL_TIMER = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import runner
import RCAEval.e2e  # imported before the clock starts: in process means no start-up
runs = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    wide, sym_col, at, lookback, edges = runner.load_case(Path(sys.argv[2]))
    ranking = runner.run_method("nsigma", wide, sym_col, runner.estimate_onset(wide, sym_col, at, lookback), edges)
    runs.append(time.perf_counter() - t0)
print(json.dumps(runs))
"""


def nsigma_rcaeval(case: Path, repeats: int) -> list[float] | None:
    """RCAEval's N-Sigma exactly as the accuracy tables run it (``benchmarks/peers/runner.py`` in ``.venv-peers``),
    timed inside that process from reading the case to the ranking; None when the peers' venv is not installed."""
    python = Path(__file__).resolve().parent.parent / ".venv-peers" / "bin" / "python"
    if not python.exists():
        return None
    proc = subprocess.run([str(python), "-c", _RCAEVAL_TIMER, str(Path(__file__).resolve().parent / "peers"), str(case),
                           str(repeats)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def big_case(out: Path, samples: int = 320) -> Path:
    """The issue-12 case: 3,000 entities, every series, ISO timestamps, full-precision values (~110 MB)."""
    case = out / f"case-3000-all-iso-{samples}"
    if not (case / "incident.json").exists():
        spec = CaseSpec(seed=424243, fault="gpu_fault", entities=3000, fleet_series=None, samples=samples)
        write_case(generate(spec), case, iso_times=True, full_precision=True)
    return case


def head_to_head(case: Path, repeats: int) -> dict:
    """faultline (CLI, new process each run) and in-process N-Sigma, alternated so both meet the same load."""
    cli, cpu, rss, nsigma, ratios = [], [], [], [], []
    top_nsigma = ""
    for _ in range(repeats):
        wall, used, peak = cli_run(case)
        n_s, top_nsigma = nsigma_inprocess(case)
        cli.append(wall), cpu.append(used), rss.append(peak), nsigma.append(n_s), ratios.append(wall / n_s)
    rows = sum(1 for _ in open(case / "metrics.csv", "rb")) - 1
    rcaeval = nsigma_rcaeval(case, repeats)
    return {
        "case": case.name, "metrics_csv_mb": (case / "metrics.csv").stat().st_size / 1e6, "rows": rows,
        "cli_median_s": statistics.median(cli), "cli_cpu_median_s": statistics.median(cpu),
        "cli_peak_rss_mb_max": max(rss) / 1024, "nsigma_inprocess_median_s": statistics.median(nsigma),
        "ratio_cli_over_nsigma_median": statistics.median(ratios), "cli_runs_s": cli, "nsigma_runs_s": nsigma,
        "nsigma_top": top_nsigma, "rcaeval_nsigma_median_s": statistics.median(rcaeval) if rcaeval else None,
        "rcaeval_nsigma_runs_s": rcaeval, "loadavg_before": os.getloadavg(),
    }


FORBIDDEN_ON_ANALYZE = ("pandas", "statsmodels", "openai", "fastapi", "uvicorn", "pydantic_settings", "jinja2",
                        "sklearn", "pyarrow.compute", "neo4j", "kubernetes", "git")
IMPORT_STEPS = (
    ("Python start-up", "pass"),
    ("numpy", "import numpy"),
    ("pyarrow + pyarrow.csv (the reader)", "import pyarrow.csv"),
    ("pydantic", "import pydantic"),
    ("scipy.special (detectors.shift_test: ndtr, gammaln; it star-imports numpy, which loads numpy.f2py and "
     "numpy.testing)", "import scipy.special"),
    ("scipy.sparse (rca.walk)", "import scipy.sparse"),
    ("networkx (rca.rank, rca.chain)", "import networkx"),
    ("faultline: topology, detectors, correlators (models, loaders, detectors)", "import correlators.case_files"),
    ("faultline: rca, narrator template, api (insight, render, cli)",
     "import rca.pipeline, api.insight, api.render, api.cli, api.commands.analyze"),
)


def _child_cpu(code: str, repeats: int) -> float:
    """Lowest CPU time (user + system) of ``python -c code`` over ``repeats`` runs: the least disturbed one."""
    best = float("inf")
    for _ in range(repeats):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def import_budget(case: Path, repeats: int = 7) -> dict:
    """What ``faultline analyze`` imports and what each step costs in CPU (each step adds to the ones before it,
    so shared dependencies count once, where they are first needed); plus the modules it must not load."""
    steps, code, before = [], "", 0.0
    for label, statement in IMPORT_STEPS:
        code = statement if not code else f"{code}\n{statement}"
        total = _child_cpu(code, repeats)
        steps.append({"step": label, "added_cpu_ms": round(max(0.0, total - before) * 1000, 1)})
        before = max(before, total)
    whole = _child_cpu(f"import sys\nsys.argv = ['faultline', 'analyze', {str(case)!r}, '--json']\n"
                       "import io, contextlib\nfrom api.cli import main\n"
                       "with contextlib.redirect_stdout(io.StringIO()):\n    main(sys.argv[1:])", repeats)
    probe = subprocess.run([sys.executable, "-c", "import sys, io, contextlib\nfrom api.cli import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            f"    main(['analyze', {str(case)!r}, '--json'])\n"
                            "print(len(sys.modules), ' '.join(m for m in sys.argv[1:] if m in sys.modules))",
                            *FORBIDDEN_ON_ANALYZE], capture_output=True, text=True, check=True)
    count, *present = probe.stdout.split()
    return {"steps": steps, "imports_cpu_ms": round(before * 1000, 1), "analyze_cpu_ms": round(whole * 1000, 1),
            "modules_loaded": int(count), "forbidden_present": present}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/out/speed")
    ap.add_argument("--sizes", default="100,1000,5000,50000")
    ap.add_argument("--all-series", default="1000,5000", help="sizes also run with every fleet series written")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-detectors", action="store_true")
    ap.add_argument("--subgraph", action="store_true", help="also time the analysis against the neighbourhood's size")
    ap.add_argument("--subgraph-only", action="store_true")
    ap.add_argument("--big", action="store_true", help="the 110 MB head-to-head with in-process N-Sigma")
    ap.add_argument("--imports", action="store_true", help="record the analyze path's imports")
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
    if args.big:
        report["big"] = head_to_head(big_case(out), args.repeats)
        print(json.dumps(report["big"]), flush=True)
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
    if args.imports and rows:
        report["imports"] = import_budget(out / f"case-{variants[0][0]}-{'all' if variants[0][1] is None else 'near'}")
        print(json.dumps(report["imports"]), flush=True)
    (out / "speed.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
