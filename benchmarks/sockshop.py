"""Convert RCD's Sock Shop recordings into faultline case directories.

Source: the public repository azamikram/rcd, folder ``sock-shop-data`` — the Sock Shop data of *Root Cause Analysis
of Failures in Microservices through Causal Discovery*, A. Ikram, S. Chakraborty, S. Mitra, S. Saini, S. Bagchi,
M. Kocaoglu, NeurIPS 2022. 5 services (carts, catalogue, orders, payment, user) x 2 faults (``cpu``, ``mem``) x 5
runs; each run ``<svc>-<fault>/<run>/`` holds ``normal.csv`` and ``anomalous.csv``, one row a second. The repository
carries no licence of its own for the data, so converted cases stay local (``benchmarks/out`` is git-ignored); this
converter reads a checkout and changes the layout and the time axis, never a measured value.

What the converter does, and why:

* **What the columns are.** ``sock-shop-data/collect-data.py`` (same repository) is the Prometheus scraper that
  made the files; each column is ``<container>_<query>``:

  - ``cpu``: ``sum(rate(container_cpu_usage_seconds_total[45s])) by (container) * 100`` — **percent of one core**
    (100 = one full core; can exceed 100) → metric ``cpu_usage``, role saturation, unit ``percent of one core``.
  - ``mem``: ``sum(container_memory_usage_bytes) by (container)`` → ``mem_bytes``, saturation, ``bytes``.
  - ``lod`` ("load"): ``sum(rate(request_duration_seconds_count[45s])) by (name)`` — requests a second served by
    the service, counted by its own request-duration histogram → ``requests_per_s``, traffic, ``requests/s``.
  - ``lat_50/90/99``: ``histogram_quantile(q, ... request_duration_seconds_bucket ...)`` → ``latency_p50_s`` …
    ``latency_p99_s``, latency, seconds. The histogram's top finite bucket is 10 s, so 10.0 means "10 s or more".

  Only carts, catalogue and shipping have ``lod``/``lat`` columns; every container has ``cpu`` and ``mem``. The
  scraper also defines an error-rate query, but no file has such a column. ``metrics_meta.json`` declares each
  metric's role and unit. Metric names are the same for every service, so they say nothing about the answer.
  All rate queries look back 45 s and Prometheus repeats a scrape's value between scrapes, so the 1-s samples are
  smoother and more repetitive than 1-s data usually is.
* **Topology** (dependent → dependency), from the public Sock Shop sources, checked with the ``search`` tool:
  microservices-demo/front-end ``api/endpoints.js`` (front-end calls catalogue, carts, orders and user) and
  ``api/orders/index.js`` (an order goes to orders with links into user and carts); microservices-demo/orders
  ``OrdersController.java`` (orders fetches the customer, address and card from user and the items from carts,
  then posts to payment and shipping) and ``application.properties`` (``mongodb://orders-db``);
  microservices-demo/shipping ``ShippingController.java`` (publishes to the ``shipping-task`` RabbitMQ queue);
  microservices-demo/queue-master ``ShippingConsumerConfiguration.java`` (consumes ``shipping-task``);
  microservices-demo/carts ``application.properties`` (``mongodb://carts-db``); catalogue's ``-DSN`` default
  (``tcp(catalogue-db:3306)``); user's ``MONGO_HOST=user-db`` in microservices-demo/microservices-demo
  ``deploy/kubernetes/complete-demo.yaml``. Entities: ``app:<service>``, ``db:<x>-db``, ``queue:rabbitmq`` and a
  ``user:shoppers`` that CALLS ``app:front-end``; CALLS between services, QUERIES towards a database or the queue
  (queue-master → rabbitmq too: it depends on the queue it consumes). ``session-db`` (front-end's Redis in newer
  manifests) is left out: RCD's scraper lists 13 containers without it and no column mentions it.
  **No pod entities:** the queries sum over containers by name, so each column is one service with nothing
  per-pod; a pod entity would carry no series and only add a hop between a service and its metrics.
* **Time.** A run's normal and anomalous recordings were made separately: normal ones in 5-minute slots, the
  anomalous ones in 10-minute slots, hours to days apart (the carts, catalogue and payment normals on 2022-05-14,
  their anomalies on 2022-05-17; one normal, orders-mem/5, was even recorded after its anomaly). We shift the normal
  recording by a whole number of seconds so that its last sample sits one sample step (the anomalous recording's)
  before the first anomalous sample; the spacing within each recording is kept. ``truth.json`` says
  ``"baseline": "shifted normal recording"`` with the shift and the original gap (first anomalous sample minus last
  normal sample; negative when the normal was recorded afterwards).
* **Incident.** The symptom is ``app:front-end``, the user-facing service. Front-end has only ``cpu`` and ``mem``
  columns, no latency, so ``metric`` is null (a latency metric would be named if the data had one). The fault is
  already running at the first anomalous sample in every run (the faulted container's CPU is at ~100 % of a core
  from there on), so the alert time ``at`` is the last anomalous sample and ``lookback`` the anomalous recording's
  span (last minus first sample, whole seconds): faultline's window ``[at - lookback, at]`` is then exactly the
  anomalous recording and everything before it — the shifted normal recording — is baseline. ``truth.json`` keeps
  the first anomalous sample as ``onset`` for peers run with ``--onset oracle``.
* **Is the normal window healthy?** Some are not, and a baseline-vs-anomaly method compares against them, so each
  case gets ``"normal_window": "healthy" | "suspect"`` in ``truth.json`` with a one-line reason and the findings.
  No case is dropped or repaired. A normal window is suspect when any of these fires:

  1. *The fault is already there:* at least 10 % of the normal samples of the faulted metric (``<svc>_cpu`` or
     ``<svc>_mem``) are at or above its median in the anomalous recording.
  2. *A container is saturated:* some container's CPU is at >= 90 % of a core in at least 10 % of the normal
     samples. That is the level of RCD's injected faults (both CPU hogs and memory leaks hold the faulted container
     at 98-100 % of a core), so a baseline showing it contains a fault-like episode of its own.
  3. *Slower than during the fault:* a service's latency quantile has a normal-window median more than twice its
     anomalous-window median and at least 50 ms above it. A fault does not make other services faster, so a
     normal window that much slower than the faulty one was degraded.

  The thresholds are round numbers, not fitted to what they flag; the table printed by ``main`` and
  ``normal_window_findings`` in ``truth.json`` carry every finding, so another rule can be applied without
  re-converting. On the data at commit 373882c this flags 30 of 50: every normal recording of 2022-05-14 (all carts,
  catalogue and payment runs) has carts-db at ~100 % of a core and carts 13-112x slower (p50 4-5.6 s, p99 pinned at
  the 10 s ceiling) than in the anomalous recordings; payment-mem 3-5 also hold a catalogue CPU hog (catalogue at
  100 % of a core, its latency at the level of the catalogue-cpu faults). The orders and user runs are healthy.
* **What the checks do not cover.** Splicing two sessions leaves level steps at the join that no fault caused:
  the databases' and front-end's memory grow within a session and differ between sessions (e.g. user-db's memory
  during the anomalous recordings is 0.2-0.4x its normal level in the carts/catalogue/payment runs and ~1.2-1.36x in
  the orders/user runs). Memory faults also pin the faulted container's CPU at ~100 % (the stressor's own work).
* **Truth.** ``{"root_causes": ["app:<svc>"], "accept": [], "fault": "cpu" | "mem", "service": ...}`` for the
  scorer only; faultline never reads it.

Usage::

    python -m benchmarks.sockshop --out benchmarks/out/cases/sockshop              # data from the local mirror/cache
    python -m benchmarks.sockshop --source DIR --out benchmarks/out/cases/sockshop # DIR holds sock-shop-data/
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import shutil
import statistics
import subprocess
import tarfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIRROR = ROOT.parent / ".mirror" / "azamikram+rcd" / "repo"  # a bare clone beside the checkout, when present
CACHE = ROOT / "benchmarks" / "out" / "src" / "rcd"
DATA_DIR = "sock-shop-data"
CLONE_HINT = ("git clone --depth 1 https://github.com/azamikram/rcd DIR && "
              "python -m benchmarks.sockshop --source DIR ...")

FAULTS = ("cpu", "mem")
NAMESPACE = "sock-shop"
SYMPTOM = "app:front-end"
SHOPPERS = "user:shoppers"

# dependent -> dependency, from the public Sock Shop sources (module docstring)
CALLS = (
    (SHOPPERS, "app:front-end"),
    ("app:front-end", "app:catalogue"),
    ("app:front-end", "app:carts"),
    ("app:front-end", "app:orders"),
    ("app:front-end", "app:user"),
    ("app:orders", "app:carts"),
    ("app:orders", "app:payment"),
    ("app:orders", "app:user"),
    ("app:orders", "app:shipping"),
)
QUERIES = (
    ("app:carts", "db:carts-db"),
    ("app:catalogue", "db:catalogue-db"),
    ("app:orders", "db:orders-db"),
    ("app:user", "db:user-db"),
    ("app:shipping", "queue:rabbitmq"),
    ("app:queue-master", "queue:rabbitmq"),
)

_COLUMN = re.compile(r"^(?P<container>[a-z0-9][a-z0-9-]*)_(?P<query>cpu|mem|lod|lat_(?P<q>\d{2}))$")
_METRICS = {
    "cpu": ("cpu_usage", "saturation", "percent of one core"),
    "mem": ("mem_bytes", "saturation", "bytes"),
    "lod": ("requests_per_s", "traffic", "requests/s"),
}

SATURATED_CPU = 90.0  # percent of one core: RCD's injected faults hold the faulted container at 98-100
MIN_SHARE = 0.10  # share of the normal samples a check needs before it counts
LATENCY_RATIO = 2.0
LATENCY_FLOOR_S = 0.05


class SockShopDataError(ValueError):
    """A file or folder of the dataset is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Recording:
    """One CSV file: integer epoch seconds and one list of values per column (NaN = missing)."""

    path: Path
    times: tuple[int, ...]
    columns: dict[str, list[float]]


@dataclass(frozen=True)
class Run:
    service: str
    fault: str
    run: int
    directory: Path

    @property
    def name(self) -> str:
        return f"{self.service}-{self.fault}-{self.run}"


def entity_of(container: str) -> str:
    if container.endswith("-db"):
        return f"db:{container}"
    if container == "rabbitmq":
        return f"queue:{container}"
    return f"app:{container}"


def metric_of(query: str) -> tuple[str, str, str]:
    """(metric name, role, unit) for one of the scraper's query names."""
    if query.startswith("lat_"):
        return f"latency_p{query[4:]}_s", "latency", "s"
    return _METRICS[query]


def split_column(name: str, path: Path) -> tuple[str, str]:
    m = _COLUMN.match(name)
    if not m:
        raise SockShopDataError(f"{path}: column {name!r} is not <container>_<cpu|mem|lod|lat_NN>")
    return m["container"], m["query"]


def read_recording(path: Path) -> Recording:
    """Read and check one of RCD's CSV files; any defect raises ``SockShopDataError`` naming the file and line."""
    if not path.is_file():
        raise SockShopDataError(f"{path}: file missing")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or not rows[0]:
        raise SockShopDataError(f"{path}: empty file")
    header = rows[0]
    if header[0] != "time":
        raise SockShopDataError(f"{path}: first column must be 'time', found {header[0]!r}")
    names = header[1:]
    if len(set(names)) != len(names):
        dup = sorted(n for n, c in Counter(names).items() if c > 1)
        raise SockShopDataError(f"{path}: duplicate columns {dup}")
    for name in names:
        split_column(name, path)
    times: list[int] = []
    values: list[list[float]] = [[] for _ in names]
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise SockShopDataError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
        try:
            t = float(row[0])
        except ValueError:
            raise SockShopDataError(f"{path}:{line}: time {row[0]!r} is not a number") from None
        if not t.is_integer():
            raise SockShopDataError(f"{path}:{line}: time {row[0]!r} is not a whole second")
        if times and int(t) <= times[-1]:
            raise SockShopDataError(f"{path}:{line}: time {int(t)} does not increase")
        times.append(int(t))
        for i, cell in enumerate(row[1:]):
            try:
                values[i].append(float(cell) if cell.strip() else math.nan)
            except ValueError:
                raise SockShopDataError(f"{path}:{line}: column {names[i]!r} value {cell!r} is not a number") from None
    if len(times) < 2:
        raise SockShopDataError(f"{path}: needs at least 2 samples, found {len(times)}")
    return Recording(path, tuple(times), dict(zip(names, values)))


def sample_step(rec: Recording) -> int:
    """The most common spacing between samples (RCD: 1 s)."""
    return Counter(b - a for a, b in zip(rec.times, rec.times[1:])).most_common(1)[0][0]


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def _share(values: list[float], predicate) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(1 for v in finite if predicate(v)) / len(finite) if finite else 0.0


def judge_normal(normal: Recording, anomalous: Recording, service: str, fault: str) -> tuple[str, str, list[dict]]:
    """``("healthy" | "suspect", one-line reason, findings)`` by the three checks of the module docstring."""
    findings: list[dict] = []
    col = f"{service}_{fault}"
    a_med = _median(anomalous.columns[col])
    share = _share(normal.columns[col], lambda v: v >= a_med)
    if share >= MIN_SHARE:
        findings.append({"check": "fault_already_present", "entity": entity_of(service), "metric": metric_of(fault)[0],
                         "share": round(share, 3), "normal_median": _round(_median(normal.columns[col])),
                         "anomalous_median": _round(a_med)})
    for name in sorted(normal.columns):
        container, query = split_column(name, normal.path)
        if query == "cpu":
            share = _share(normal.columns[name], lambda v: v >= SATURATED_CPU)
            if share >= MIN_SHARE:
                findings.append({"check": "saturated_cpu", "entity": entity_of(container), "metric": "cpu_usage",
                                 "share": round(share, 3), "normal_median": _round(_median(normal.columns[name])),
                                 "anomalous_median": _round(_median(anomalous.columns[name]))})
        elif query.startswith("lat_"):
            n_med, a_med = _median(normal.columns[name]), _median(anomalous.columns[name])
            if n_med > LATENCY_RATIO * a_med and n_med - a_med >= LATENCY_FLOOR_S:
                findings.append({"check": "latency_worse_than_fault", "entity": entity_of(container),
                                 "metric": metric_of(query)[0], "normal_median": _round(n_med),
                                 "anomalous_median": _round(a_med), "ratio": round(n_med / a_med, 1)})
    if not findings:
        return "healthy", "no check fired (fault already present, saturated CPU, latency worse than in the fault)", []
    return "suspect", _reason(findings), findings


def _reason(findings: list[dict]) -> str:
    parts = []
    worst_latency: dict[str, dict] = {}
    for f in findings:
        if f["check"] == "latency_worse_than_fault":
            if f["entity"] not in worst_latency or f["ratio"] > worst_latency[f["entity"]]["ratio"]:
                worst_latency[f["entity"]] = f
        elif f["check"] == "saturated_cpu":
            parts.append(f"{f['entity']} CPU >= {SATURATED_CPU:g}% of a core in {f['share']:.0%} of normal samples "
                         f"(median {f['normal_median']:.0f}; {f['anomalous_median']:.0f} in the anomalous one)")
        else:
            parts.append(f"{f['entity']} {f['metric']} at the fault's level in {f['share']:.0%} of normal samples")
    for f in worst_latency.values():
        parts.append(f"{f['entity']} {f['metric']} {f['normal_median']:.3g} s in normal vs "
                     f"{f['anomalous_median']:.3g} s in anomalous (x{f['ratio']:g})")
    return "; ".join(parts)


def _round(x: float) -> float | None:
    return None if math.isnan(x) else float(f"{x:.6g}")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def topology(containers: set[str]) -> dict:
    """The Sock Shop call graph plus an entity for every container that has data."""
    ids = {e for pair in CALLS + QUERIES for e in pair} | {entity_of(c) for c in containers}
    entities = [{"id": i, "kind": i.split(":", 1)[0], "attrs": {} if i == SHOPPERS else {"namespace": NAMESPACE}}
                for i in sorted(ids)]
    relations = [{"src": s, "kind": kind, "dst": d, "valid_from": None, "valid_to": None}
                 for kind, pairs in (("CALLS", CALLS), ("QUERIES", QUERIES)) for s, d in pairs]
    return {"entities": entities, "relations": relations}


def convert_run(run: Run, out: Path) -> Path:
    """Write one case directory for ``run`` (replacing any previous one) and return it."""
    normal = read_recording(run.directory / "normal.csv")
    anomalous = read_recording(run.directory / "anomalous.csv")
    if set(normal.columns) != set(anomalous.columns):
        diff = sorted(set(normal.columns) ^ set(anomalous.columns))
        raise SockShopDataError(f"{run.directory}: normal.csv and anomalous.csv have different columns: {diff}")
    faulted = f"{run.service}_{run.fault}"
    if faulted not in normal.columns:
        raise SockShopDataError(f"{run.directory}: no column {faulted!r} for the faulted service")
    step = sample_step(anomalous)
    first, at = anomalous.times[0], anomalous.times[-1]
    shift = (first - step) - normal.times[-1]
    gap = first - normal.times[-1]
    verdict, reason, findings = judge_normal(normal, anomalous, run.service, run.fault)

    split = {name: split_column(name, normal.path) for name in normal.columns}
    parsed = {name: (entity_of(c), metric_of(q)) for name, (c, q) in split.items()}
    containers = {c for c, _ in split.values()}
    present = {m for _, m in parsed.values()}
    front_latency = sorted((m[0] for e, m in parsed.values() if e == SYMPTOM and m[1] == "latency"),
                           key=lambda name: int(re.sub(r"\D", "", name)))

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _dump(out / "topology.json", topology(containers))
    _dump(out / "metrics_meta.json", {name: {"role": role, "unit": unit} for name, role, unit in sorted(present)})
    _dump(out / "incident.json", {
        "symptom": SYMPTOM, "metric": front_latency[-1] if front_latency else None,
        "at": _iso(at), "lookback": f"{at - first}s", "title": "Sock Shop front-end incident",
    })
    _dump(out / "truth.json", {
        "root_causes": [entity_of(run.service)], "accept": [], "fault": run.fault, "service": run.service,
        "run": run.run, "source": f"{DATA_DIR}/{run.service}-{run.fault}/{run.run}", "onset": _iso(first),
        "baseline": "shifted normal recording", "normal_shift_s": shift, "original_gap_s": gap,
        "normal_recorded": "before" if gap > 0 else "after", "step_s": step,
        "samples": {"normal": len(normal.times), "anomalous": len(anomalous.times)},
        "normal_window": verdict, "normal_window_reason": reason, "normal_window_findings": findings,
    })
    with open(out / "metrics.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write("timestamp,entity,metric,value\n")
        for name in sorted(parsed, key=lambda n: (parsed[n][0], parsed[n][1][0])):
            entity, (metric, _, _) = parsed[name]
            for rec, dt in ((normal, shift), (anomalous, 0)):
                for t, v in zip(rec.times, rec.columns[name]):
                    if not math.isnan(v):
                        handle.write(f"{t + dt},{entity},{metric},{v!r}\n")
    return out


def find_runs(data: Path) -> list[Run]:
    """Every ``<service>-<fault>/<run>/`` folder under ``data``, sorted by service, fault, run."""
    runs = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        service, _, fault = folder.name.rpartition("-")
        if not service or fault not in FAULTS:
            raise SockShopDataError(f"{folder}: folder name is not <service>-<cpu|mem>")
        for run_dir in (p for p in folder.iterdir() if p.is_dir()):
            if not run_dir.name.isdigit():
                raise SockShopDataError(f"{run_dir}: run folder name is not a number")
            runs.append(Run(service, fault, int(run_dir.name), run_dir))
    if not runs:
        raise SockShopDataError(f"{data}: no <service>-<fault>/<run>/ folders")
    return sorted(runs, key=lambda r: (r.service, r.fault, r.run))


def extract_from_mirror(mirror: Path, cache: Path) -> Path:
    """``git archive`` the data folder out of a bare clone into ``cache`` (once); returns the ``sock-shop-data`` dir."""
    try:
        tar = subprocess.run(["git", f"--git-dir={mirror}", "archive", "--format=tar", "HEAD", DATA_DIR],
                             capture_output=True, check=True).stdout
        commit = subprocess.run(["git", f"--git-dir={mirror}", "rev-parse", "HEAD"], capture_output=True, check=True,
                                text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        raise SystemExit(f"could not read {DATA_DIR} from {mirror}: {detail}") from exc
    staging = cache.with_name(cache.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(staging, filter="data")
    (staging / "COMMIT").write_text(f"azamikram/rcd {commit}\n", encoding="utf-8")
    shutil.rmtree(cache, ignore_errors=True)
    staging.rename(cache)
    return cache / DATA_DIR


def locate_source(source: Path | None, *, mirror: Path = MIRROR, cache: Path = CACHE) -> Path:
    """The ``sock-shop-data`` folder: under ``source`` if given, else the cache, else extracted from the mirror."""
    if source is not None:
        for candidate in (source / DATA_DIR, source):
            if candidate.is_dir() and any(candidate.glob("*-cpu")):
                return candidate
        raise SystemExit(f"{source} holds no {DATA_DIR}/ folder; get it with: {CLONE_HINT}")
    if (cache / DATA_DIR).is_dir():
        return cache / DATA_DIR
    if mirror.is_dir():
        return extract_from_mirror(mirror, cache)
    raise SystemExit(f"RCD's Sock Shop data not found (no --source, no {cache}, no mirror {mirror}); "
                     f"get it with: {CLONE_HINT}")


def convert_all(target: Path, source: Path | None = None) -> list[Path]:
    """Convert every run under ``source`` (see ``locate_source``) into ``target/<svc>-<fault>-<run>/``.

    Each case is read back with faultline's own loader, so a case the engine would reject fails here.
    """
    from correlators.case_files import load_case

    data = locate_source(Path(source) if source is not None else None)
    paths = [convert_run(run, Path(target) / run.name) for run in find_runs(data)]
    for path in paths:
        try:
            load_case(path)
        except Exception as exc:  # any rejection is a converter bug: say which case
            raise SockShopDataError(f"{path}: faultline's loader rejected the case: {exc}") from exc
    return paths


def summary(paths: list[Path]) -> str:
    """Per-case table (samples, original gap, normal-window verdict) and the suspect count."""
    lines = ["case                normal  anomalous  gap_s    normal_window  reason",
             "------------------  ------  ---------  -------  -------------  ------"]
    suspect = []
    for path in paths:
        truth = json.loads((path / "truth.json").read_text(encoding="utf-8"))
        if truth["normal_window"] == "suspect":
            suspect.append(path.name)
        reason = truth["normal_window_reason"] if truth["normal_window"] == "suspect" else ""
        lines.append(f"{path.name:<18}  {truth['samples']['normal']:>6}  {truth['samples']['anomalous']:>9}  "
                     f"{truth['original_gap_s']:>7}  {truth['normal_window']:<13}  {reason}")
    lines.append(f"\n{len(suspect)} of {len(paths)} normal windows suspect: {', '.join(suspect) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="RCD Sock Shop data (azamikram/rcd) -> faultline case format")
    ap.add_argument("--source", help=f"a directory holding {DATA_DIR}/ (a checkout of azamikram/rcd); default: "
                                     f"{CACHE}, extracted from {MIRROR} when missing")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "cases" / "sockshop"))
    args = ap.parse_args(argv)
    try:
        paths = convert_all(Path(args.out), Path(args.source) if args.source else None)
    except SockShopDataError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(summary(paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
