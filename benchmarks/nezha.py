"""Convert Nezha's Online Boutique fault days into faultline case directories.

Source: G. Yu, P. Chen, Y. Li, H. Chen, X. Li, Z. Zheng. *Nezha: Interpretable Fine-Grained Root Causes Analysis for
Microservices on Multi-Modal Observability Data.* ESEC/FSE 2023. Repository IntelligentDDS/Nezha (licence in its
``LICENSE``), folder ``rca_data``. The converter changes the layout (wide per-file CSVs -> long case format, entity
ids, memory MiB -> bytes); it changes no measured value except where two pods report one node differently (below).

**Only the Online Boutique days 2022-08-22 and 2022-08-23 are read.** Nezha's TrainTicket days (2023-01-29,
2023-01-30) are faultline's held-out test: asking for them (or any other day) raises ``NezhaDayRefused`` before a file
is opened, and no code lists ``rca_data/`` (see ``benchmarks/_nezha_source.py``).

What the converter does, and why:

* **Entities and topology.** ``user:shoppers`` (the load generator) CALLS ``app:frontend``; ``metric/dependency.csv``
  gives ``app:<caller>`` CALLS ``app:<callee>`` (14 edges). Its other rows map each service to an IPv4 address: these
  are the **node (host) IPs**, not pod IPs — pods whose services map to the same IP report identical ``Node*``
  columns all day (checkoutservice/currencyservice on 33.33.33.227 both days), the log files' ``Node`` column carries
  the same addresses per pod (recommendationservice 33.33.33.155, productcatalogservice 33.33.33.115 on 2022-08-22),
  and on 2022-08-23 the recreated productcatalogservice pod moves to .155 together with its node values. So each pod
  (one per service, the ``<pod>_metric.csv`` files) gets ``app:<service>`` RUNS_ON ``pod:hipster/<pod>`` and
  ``pod:…`` SCHEDULED_ON ``node:<ip>``. The Kubernetes namespace is not in the data; ``hipster`` is the name Nezha
  uses for this deployment (``main.py --ns hipster``, span names ``hipstershop.*``), so it is used for every pod. The
  load generator's own rows (two node IPs) are not an app. Relations are valid over the whole UTC day.
* **Metrics** (roles, units and directions in ``metrics_meta.json``; ``source`` names the original column):
  per-pod columns on the pod (``cpu_usage_pct``, ``mem_bytes``, ``client_latency_p90_s``, ``workload_ops_per_s``…);
  ``PodSuccessRate(%)`` is 0 in every row of both days (a broken collector while the frontend reports 100 %), so a
  pod's column that is 0 all day is dropped rather than read as "0 % success". ``Node*`` columns go on the node,
  once: where two pods report one node and one reads 0 while the other does not, the 0 is a failed scrape and is
  ignored; otherwise the median of the readings. Co-located pods agree exactly except on 33.33.33.115 on
  2022-08-22, where payment- and productcatalogservice differ in 152 of 1209 minutes (CPU): 121 times one reads 0,
  the other 31 times by at most 8 %. ``front_service.csv`` (the frontend's success rate and latency p50–p99) goes on
  ``app:frontend``; ``success_rate_pct`` is an errors-role metric whose bad direction is down.
  ``source_50.csv`` / ``destination_50.csv`` are not used by Nezha's code; their columns are ``<caller>_<callee>`` and
  their values are the p50 of Istio's request-duration histogram (values sit exactly at bucket midpoints such as
  0.003 s = the middle of Istio's 1–5 ms bucket, as ``histogram_quantile`` gives when all requests share a bucket;
  the paper says Istio collects the application metrics). ``source`` is Istio's ``reporter="source"`` (the caller's
  sidecar: client side), ``destination`` is ``reporter="destination"`` (the callee's sidecar: server side). So
  ``source_50`` becomes ``out_latency_p50_s[<callee>]`` on ``app:<caller>`` and ``destination_50`` becomes
  ``in_latency_p50_s[<caller>]`` on ``app:<callee>``.
* **Time.** From the ``Time`` column, never ``TimeStamp`` (corrupted in one file); each sample labelled with the minute
  it was measured in, which is Nezha's own minute label. Samples are measured 19–29 s past the minute, so a sample
  labelled ``t`` was taken at ``t``+19–29 s (details in ``benchmarks/_nezha_read.py``).
* **Alert time** (``alert=``). Nezha's evaluation (``pattern_ranker.evaluation_pod``) analyses, for every fault, the
  single minute ``inject minute + 2`` against a fault-free reference; the paper sets every fault to last 3 minutes, so
  that minute is the last full minute inside the fault. Its paper describes the trigger as a k-sigma rule on the
  frontend (success rate below mu - 3 sigma or P90 latency above mu + 3 sigma), which the published code does not
  run; ``metric_threshold/front_service_total.csv`` (success rate, P95, P99 — no P90) is read by no code and does not
  fit these days (P95 mean 0.24 s there, about 0.76 s in the fault-free hours here), so it is not used. The pod
  alarms that ``alarm.py`` does run (CPU or memory above 80 %, trace network P90 above 200 ms) describe causes, not
  the frontend symptom.

  - ``nezha`` (default): the alert fires when the frontend sample labelled (injection minute + 2) is measured —
    Nezha's own framing, the same for every case; ``at`` is that sample's measurement time (19–29 s past its
    minute), so the sample Nezha analyses is the last one the engine sees. Two or three samples measured after the
    injection reach the engine, that one included (two when the injection falls late in its minute); the alert
    fires 83–146 s after the injection.
  - ``ksigma``: the paper's rule, run the way an on-call system could: median and 1.4826·MAD of the frontend's
    success rate and P90 latency over the hour before the injection (whatever of it exists; earlier faults are
    inside, which the robust statistics tolerate), then the first sample measured after the injection and within
    the fault (3 min) plus one minute that breaks ``k`` (3) robust sigmas. ``at`` is when that sample was measured;
    when nothing breaks, ``at`` falls back to the ``nezha`` time.

  ``incident.metric`` is the frontend metric that broke the k-sigma rule first (``success_rate_pct`` before
  ``latency_p90_s`` when both break in one sample), searched up to ``at``; when nothing broke, ``latency_p90_s``.
  ``truth.json`` records what fired, when, and whether the fallback was used.
* **Window.** ``metrics.csv`` holds every sample of the day from the first one up to ``at`` + 5 minutes (the engine
  ignores what follows ``at``). ``lookback`` (default 30 minutes): faults follow each other every 8–9.5 minutes (a few
  gaps of 17–34) and last 3, so no lookback longer than about 6 minutes is free of earlier faults, and one that short
  leaves a 4-sample baseline. 30 minutes gives about 28 baseline samples of which roughly a third fall inside earlier
  faults (mostly on other services) — few enough for robust statistics — and stays short against the day's slow load
  drift. The report counts, per case, the earlier faults inside the lookback and those on the same pod.
* **Truth.** ``truth.json``: ``root_causes`` = ``pod:hipster/<inject_pod>``, ``accept`` = ``app:<service>``,
  ``fault`` = ``inject_type``, ``inject_time``/``onset``, ``day``, plus the alert record and the coverage of the trace
  and log minute-files. Case directories are named ``nezha-ob-<day>-<NN>`` so the name carries no hint of the answer.
* **Logs and traces** (``--telemetry``; ``benchmarks/_nezha_telemetry.py`` says how each column maps to OTLP).
  ``trace/``, ``log/`` and ``traceid/`` hold one CSV per minute, only for the minutes around each fault
  (``HH_MM_<kind>.csv``), and the public snapshot lacks many of them (``telemetry_files`` tells absent from never
  recorded). With ``--telemetry`` a case gets ``traces.jsonl`` and ``logs.jsonl`` (OTLP/JSON, one export request a
  line) from the minute-files of its lookback window, ``[at - lookback, at]``, spans and lines after ``at`` left
  out; ``traceid/`` (the trace ids of each minute, a subset of ``trace/``) is not needed. The trace and log evidence
  of such a window has no fault-free history before it: the faults before this one in the window are its baseline.

Usage::

    python -m benchmarks.nezha --out benchmarks/out/cases/nezha-ob                 # from the mirror, cached
    python -m benchmarks.nezha --source Nezha --out benchmarks/out/cases/nezha-ob  # from a git clone
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ._nezha_read import DayData, Fault, read_day
from ._nezha_telemetry import MinuteCache, write_logs, write_traces
from ._nezha_source import (
    ALLOWED_DAYS, CACHE, HELD_OUT_DAYS, NezhaDayRefused, NezhaError, check_day, read_manifest, resolve_source,
)

__all__ = [
    "ALLOWED_DAYS", "HELD_OUT_DAYS", "NezhaDayRefused", "NezhaError", "convert_all", "convert_day", "decide_alert",
    "telemetry_files", "main",
]

NAMESPACE = "hipster"
ALERT_RULES = ("nezha", "ksigma")
DEFAULT_ALERT = "nezha"
DEFAULT_LOOKBACK = "30m"
NEZHA_DELAY = timedelta(minutes=2)
FAULT_DURATION = timedelta(minutes=3)
TAIL = timedelta(minutes=5)
KSIGMA_K = 3.0
KSIGMA_HISTORY = timedelta(minutes=60)
SYMPTOM = "app:frontend"
FALLBACK_METRIC = "latency_p90_s"
ALARM_METRICS = (("success_rate_pct", "down"), ("latency_p90_s", "up"))
TELEMETRY_KINDS = ("trace", "log", "traceid")


@dataclass(frozen=True)
class Alert:
    """When the case's alert fires and on which frontend metric, and how that was decided."""

    rule: str
    at: datetime
    metric: str
    fired_metric: str | None
    fired_at: datetime | None
    fallback: bool


def parse_lookback(value: str | int | timedelta) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int):
        return timedelta(minutes=value)
    match = re.fullmatch(r"\s*(\d+)\s*([smh])\s*", str(value))
    if not match:
        raise ValueError(f"lookback {value!r}: expected e.g. '30m', '1h', '900s'")
    n, unit = int(match.group(1)), match.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600}[unit])


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _iso(t: datetime | int | float) -> str:
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, tz=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ksigma_alarm(day: DayData, fault: Fault, k: float = KSIGMA_K, until: datetime | None = None
                 ) -> tuple[datetime, str] | None:
    """First frontend sample after the injection that breaks the k-sigma rule: (its minute, the metric), or None.

    History: samples measured in the hour before the injection; centre = median, spread = 1.4826·MAD (robust to the
    earlier faults inside that hour). Search: samples measured after the injection and at most the fault's duration
    plus one minute later (a 1-minute rate measured then still overlaps the fault), and, if given, labelled ≤ until.
    A spread of 0 (the success rate is 100 % in every history sample) makes any move in the bad direction break it.
    """
    inject = fault.inject_time.timestamp()
    history = [m for m, t in day.measured.items() if inject - KSIGMA_HISTORY.total_seconds() <= t < inject]
    search = sorted(m for m, t in day.measured.items()
                    if inject < t <= inject + FAULT_DURATION.total_seconds() + 60)
    if until is not None:
        search = [m for m in search if m <= until.timestamp()]
    limits: dict[str, float] = {}
    for name, direction in ALARM_METRICS:
        values = day.series.get((SYMPTOM, name), {})
        past = [values[m] for m in history if m in values]
        if len(past) < 2:
            continue
        centre = statistics.median(past)
        spread = 1.4826 * statistics.median(abs(v - centre) for v in past)
        limits[name] = centre - k * spread if direction == "down" else centre + k * spread
    for minute in search:
        for name, direction in ALARM_METRICS:
            value = day.series.get((SYMPTOM, name), {}).get(minute)
            if name not in limits or value is None:
                continue
            if (direction == "down" and value < limits[name]) or (direction == "up" and value > limits[name]):
                return datetime.fromtimestamp(minute, tz=timezone.utc), name
    return None


def _measured_at(day: DayData, minute: datetime) -> datetime:
    """When the frontend sample labelled ``minute`` was taken (whole seconds), i.e. when an alert on it can fire."""
    when = day.measured.get(int(minute.timestamp()))
    return datetime.fromtimestamp(int(when), tz=timezone.utc) if when is not None else minute


def decide_alert(day: DayData, fault: Fault, rule: str = DEFAULT_ALERT, k: float = KSIGMA_K) -> Alert:
    """The alert of one case under ``rule`` (see the module docstring).

    ``at`` is the moment the deciding frontend sample was measured (19–29 s after its minute label), so the sample
    itself is inside the analysis and nothing measured later is.
    """
    if rule not in ALERT_RULES:
        raise ValueError(f"alert rule {rule!r}: choose one of {ALERT_RULES}")
    fixed = _floor_minute(fault.inject_time) + NEZHA_DELAY
    if rule == "nezha":
        fired = ksigma_alarm(day, fault, k, until=fixed)
        return Alert(rule, _measured_at(day, fixed), fired[1] if fired else FALLBACK_METRIC,
                     fired[1] if fired else None, _measured_at(day, fired[0]) if fired else None, fallback=False)
    fired = ksigma_alarm(day, fault, k)
    if fired:
        at = _measured_at(day, fired[0])
        return Alert(rule, at, fired[1], fired[1], at, fallback=False)
    return Alert(rule, _measured_at(day, fixed), FALLBACK_METRIC, None, None, fallback=True)


def telemetry_files(day_path: Path, kind: str, start: datetime, end: datetime) -> tuple[list[Path], list[str]]:
    """The ``kind`` minute-files (trace, log, traceid) of the minutes ``start``..``end`` (inclusive) present on disk,
    and the ones the repository lists but the snapshot lacks (known only after a mirror extraction)."""
    manifest = read_manifest(day_path)
    missing = set(manifest["missing"]) if manifest else set()
    present, absent = [], []
    t = _floor_minute(start)
    while t <= end:
        name = f"{t:%H}_{t:%M}_{kind}.csv"
        path = day_path / kind / name
        if path.exists():
            present.append(path)
        elif f"rca_data/{day_path.name}/{kind}/{name}" in missing:
            absent.append(name)
        t += timedelta(minutes=1)
    return present, absent


def _topology(day: DayData) -> dict:
    start = datetime.strptime(day.day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    valid = {"valid_from": _iso(start), "valid_to": _iso(start + timedelta(days=1))}
    ns = day.namespace
    services = sorted({s for edge in day.calls for s in edge} | set(day.pods.values()) | {"frontend"})
    services = [s for s in services if s != "loadgenerator"]
    entities = [{"id": "user:shoppers", "kind": "user",
                 "attrs": {"source": "Online Boutique loadgenerator",
                           "nodes": day.service_nodes.get("loadgenerator", [])}}]
    entities += [{"id": f"app:{s}", "kind": "app", "attrs": {"namespace": ns}} for s in services]
    for pod in sorted(day.pods):
        attrs = {"namespace": ns, "service": day.pods[pod]}
        if pod in day.pod_node:
            attrs["node"] = day.pod_node[pod]
        entities.append({"id": f"pod:{ns}/{pod}", "kind": "pod", "attrs": attrs})
    for node in sorted(set(day.pod_node.values())):
        entities.append({"id": f"node:{node}", "kind": "node", "attrs": {"ip": node}})
    relations = [{"src": "user:shoppers", "kind": "CALLS", "dst": "app:frontend", **valid}]
    relations += [{"src": f"app:{a}", "kind": "CALLS", "dst": f"app:{b}", **valid}
                  for a, b in day.calls if a != "loadgenerator" and b != "loadgenerator"]
    for pod in sorted(day.pods):
        relations.append({"src": f"app:{day.pods[pod]}", "kind": "RUNS_ON", "dst": f"pod:{ns}/{pod}", **valid})
        if pod in day.pod_node:
            relations.append({"src": f"pod:{ns}/{pod}", "kind": "SCHEDULED_ON", "dst": f"node:{day.pod_node[pod]}",
                              **valid})
    relations.sort(key=lambda r: (r["kind"], r["src"], r["dst"]))
    return {"entities": entities, "relations": relations}


def _active(fault: Fault) -> tuple[datetime, datetime]:
    return fault.inject_time, fault.inject_time + FAULT_DURATION


def write_case(day: DayData, day_path: Path, fault: Fault, out: Path, alert: Alert, lookback: timedelta,
               topology: dict, k: float = KSIGMA_K, telemetry: MinuteCache | None = None) -> dict:
    """Write one case directory (with ``traces.jsonl`` / ``logs.jsonl`` when ``telemetry`` is a minute-file cache);
    returns its report row."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    last = (alert.at + TAIL).timestamp()
    used_metrics: set[str] = set()
    lines = ["timestamp,entity,metric,value\n"]
    for (entity, metric) in sorted(day.series):
        points = day.series[(entity, metric)]
        for minute in sorted(points):
            if minute <= last:
                lines.append(f"{_iso(minute)},{entity},{metric},{points[minute]!r}\n")
                used_metrics.add(metric)
    (out / "metrics.csv").write_text("".join(lines), encoding="utf-8")
    (out / "metrics_meta.json").write_text(
        json.dumps({m: day.meta[m] for m in sorted(used_metrics)}, indent=1), encoding="utf-8")
    (out / "topology.json").write_text(json.dumps(topology, indent=1), encoding="utf-8")
    minutes = int(lookback.total_seconds() // 60)
    (out / "incident.json").write_text(json.dumps({
        "symptom": SYMPTOM, "metric": alert.metric, "at": _iso(alert.at), "lookback": f"{minutes}m",
        "title": (f"frontend {alert.metric} outside its {k:g}-sigma band" if alert.fired_metric
                  else f"frontend alert ({alert.metric})"),
    }, indent=2), encoding="utf-8")
    (out / "changes.json").write_text("[]", encoding="utf-8")
    (out / "events.json").write_text("[]", encoding="utf-8")

    window_start = alert.at - lookback
    earlier = [f for f in day.faults if f.index != fault.index and f.inject_time < fault.inject_time
               and _active(f)[1] > window_start and _active(f)[0] <= alert.at]
    coverage = {}
    for kind in TELEMETRY_KINDS:
        fault_present, fault_absent = telemetry_files(day_path, kind, fault.inject_time, alert.at)
        window_present, window_absent = telemetry_files(day_path, kind, window_start, alert.at)
        coverage[kind] = {"fault_minutes_present": len(fault_present), "fault_minutes_absent": len(fault_absent),
                          "lookback_present": len(window_present), "lookback_absent": len(window_absent)}
    written = {}
    if telemetry is not None:
        traces, _ = telemetry_files(day_path, "trace", window_start, alert.at)
        logs, _ = telemetry_files(day_path, "log", window_start, alert.at)
        written["spans"] = write_traces(traces, out / "traces.jsonl", day.namespace, alert.at, telemetry)
        written["log_records"] = write_logs(logs, out / "logs.jsonl", day.namespace, alert.at, telemetry)
    truth = {
        "root_causes": [f"pod:{day.namespace}/{fault.inject_pod}"],
        "accept": [f"app:{fault.service}"],
        "fault": fault.inject_type,
        "inject_time": _iso(fault.inject_time),
        "onset": _iso(fault.inject_time),
        "day": day.day,
        "source": {"dataset": "IntelligentDDS/Nezha rca_data", "fault_list": f"{day.day}-fault_list.json",
                   "index": fault.index, "inject_pod": fault.inject_pod},
        "alert": {"rule": alert.rule, "at": _iso(alert.at), "metric": alert.metric,
                  "ksigma_fired": alert.fired_metric, "ksigma_fired_at": _iso(alert.fired_at) if alert.fired_at else None,
                  "fallback": alert.fallback,
                  "delay_s": round((alert.at - fault.inject_time).total_seconds())},
        "earlier_faults_in_lookback": [f"{f.day}#{f.index}" for f in earlier],
        "earlier_same_pod_in_lookback": [f"{f.day}#{f.index}" for f in earlier if f.inject_pod == fault.inject_pod],
        "telemetry": coverage,
        "telemetry_written": written,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    return {"case": out.name, "day": day.day, "index": fault.index, "service": fault.service,
            "fault": fault.inject_type, "inject_time": _iso(fault.inject_time), "at": _iso(alert.at),
            "delay_s": truth["alert"]["delay_s"], "metric": alert.metric, "ksigma_fired": alert.fired_metric,
            "fallback": alert.fallback, "earlier_in_lookback": len(earlier),
            "earlier_same_pod": len(truth["earlier_same_pod_in_lookback"]), "telemetry": coverage,
            "telemetry_written": written, "rows": len(lines) - 1}


def convert_day(day_name: str, source: Path, target: Path, *, alert: str = DEFAULT_ALERT,
                lookback: str | int | timedelta = DEFAULT_LOOKBACK, k: float = KSIGMA_K,
                namespace: str = NAMESPACE, telemetry: bool = False) -> tuple[list[Path], list[dict], list[str]]:
    """Convert one allowed day: (case dirs, report rows, notes about the data)."""
    check_day(day_name)
    span = parse_lookback(lookback)
    day = read_day(source, day_name, namespace)
    day_path = Path(source) / "rca_data" / day_name
    topology = _topology(day)
    paths, rows = [], []
    cache = MinuteCache() if telemetry else None
    for fault in day.faults:
        out = target / f"nezha-ob-{day_name}-{fault.index:02d}"
        rows.append(write_case(day, day_path, fault, out, decide_alert(day, fault, alert, k), span, topology,
                               k, telemetry=cache))
        paths.append(out)
    for stale in sorted(target.glob(f"nezha-ob-{day_name}-*")):
        if stale.is_dir() and stale not in paths:
            shutil.rmtree(stale)
    return paths, rows, day.notes


def convert_all(target: Path, source: Path | None = None, *, days: tuple[str, ...] = ALLOWED_DAYS,
                alert: str = DEFAULT_ALERT, lookback: str | int | timedelta = DEFAULT_LOOKBACK, k: float = KSIGMA_K,
                mirror: Path | None = None, cache: Path = CACHE, validate: bool = True,
                telemetry: bool = False) -> list[Path]:
    """Convert the Online Boutique fault days into ``target/nezha-ob-<day>-<NN>``; returns the case directories.

    ``source`` holds ``rca_data/<day>``; without it the days are extracted from the mirror into ``cache``. Each
    case is read back with faultline's loader when ``validate``. ``target/conversion_report.json`` keeps one row
    a case (alert decision, earlier faults in the lookback, trace/log coverage) and the notes about the data.
    """
    for day_name in days:
        check_day(day_name)
    if alert not in ALERT_RULES:
        raise ValueError(f"alert rule {alert!r}: choose one of {ALERT_RULES}")
    parse_lookback(lookback)
    root = resolve_source(Path(source) if source is not None else None, tuple(days), cache=cache, mirror=mirror)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    paths, rows, notes = [], [], []
    for day_name in days:
        p, r, n = convert_day(day_name, root, target, alert=alert, lookback=lookback, k=k, telemetry=telemetry)
        paths += p
        rows += r
        notes += n
    if validate:
        from correlators.case_files import load_case

        for path in paths:
            load_case(path)
    report = {"alert": alert, "lookback": str(lookback), "k": k, "days": list(days), "telemetry": telemetry,
              "cases": rows, "notes": notes}
    (target / "conversion_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return paths


def report_markdown(report: dict) -> str:
    """Tables for the lead: cases per fault type, alert statistics, earlier faults, telemetry coverage."""
    rows = report["cases"]
    out = [f"{len(rows)} cases; alert rule `{report['alert']}`, lookback {report['lookback']}, k={report['k']}", ""]
    out += ["| fault type | cases | k-sigma fired | fired on success_rate | fired on latency_p90 |", "|---|---|---|---|---|"]
    by_type: dict[str, list[dict]] = {}
    for r in rows:
        by_type.setdefault(r["fault"], []).append(r)
    for kind in sorted(by_type):
        rs = by_type[kind]
        fired = [r for r in rs if r["ksigma_fired"]]
        out.append(f"| {kind} | {len(rs)} | {len(fired)} | "
                   f"{sum(r['ksigma_fired'] == 'success_rate_pct' for r in rs)} | "
                   f"{sum(r['ksigma_fired'] == 'latency_p90_s' for r in rs)} |")
    delays = sorted(r["delay_s"] for r in rows)
    out += ["", f"alert delay after injection (s): min {delays[0]}, median {statistics.median(delays):g}, "
                f"max {delays[-1]}; fallback used in {sum(r['fallback'] for r in rows)} cases; "
                f"incident.metric: {dict(Counter(r['metric'] for r in rows))}"]
    earlier = Counter(r["earlier_in_lookback"] for r in rows)
    same = sum(r["earlier_same_pod"] > 0 for r in rows)
    out += [f"earlier faults inside the lookback: {dict(sorted(earlier.items()))} (count: cases); "
            f"{sum(r['earlier_in_lookback'] > 0 for r in rows)} of {len(rows)} cases have at least one; "
            f"{same} have one on the same pod", ""]
    out += ["| telemetry | cases with ≥1 file in fault minutes | files present / absent (fault minutes) | "
            "files present / absent (lookback) |", "|---|---|---|---|"]
    for kind in TELEMETRY_KINDS:
        tel = [r["telemetry"][kind] for r in rows]
        out.append(f"| {kind} | {sum(t['fault_minutes_present'] > 0 for t in tel)} | "
                   f"{sum(t['fault_minutes_present'] for t in tel)} / {sum(t['fault_minutes_absent'] for t in tel)} | "
                   f"{sum(t['lookback_present'] for t in tel)} / {sum(t['lookback_absent'] for t in tel)} |")
    if report["notes"]:
        out += ["", "Notes about the data:"] + [f"- {n}" for n in report["notes"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Nezha Online Boutique (2022-08-22/23 only) -> faultline case format")
    ap.add_argument("--out", required=True, help="target directory for the case directories")
    ap.add_argument("--source", default=None, help="directory holding rca_data/2022-08-22 and rca_data/2022-08-23")
    ap.add_argument("--mirror", default=None, help="bare git mirror of IntelligentDDS/Nezha (default: "
                                                   "$FAULTLINE_NEZHA_MIRROR or /work/.mirror/IntelligentDDS+Nezha/repo)")
    ap.add_argument("--day", action="append", default=None, help=f"a day to convert (default: {', '.join(ALLOWED_DAYS)})")
    ap.add_argument("--alert", choices=ALERT_RULES, default=DEFAULT_ALERT, help="alert rule (see module doc)")
    ap.add_argument("--lookback", default=DEFAULT_LOOKBACK, help="incident lookback, e.g. 30m")
    ap.add_argument("--k", type=float, default=KSIGMA_K, help="k of the k-sigma frontend rule")
    ap.add_argument("--no-validate", action="store_true", help="skip reading every case back with load_case")
    ap.add_argument("--telemetry", action="store_true",
                    help="also write traces.jsonl and logs.jsonl (OTLP/JSON) from the window's minute-files")
    args = ap.parse_args(argv)
    try:
        paths = convert_all(Path(args.out), Path(args.source) if args.source else None,
                            days=tuple(args.day) if args.day else ALLOWED_DAYS, alert=args.alert,
                            lookback=args.lookback, k=args.k, mirror=Path(args.mirror) if args.mirror else None,
                            validate=not args.no_validate, telemetry=args.telemetry)
    except NezhaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = json.loads((Path(args.out) / "conversion_report.json").read_text(encoding="utf-8"))
    print(report_markdown(report))
    print(f"\n{len(paths)} case directories under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
