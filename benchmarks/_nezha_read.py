"""Reading one Nezha Online Boutique day folder (``rca_data/<day>``) into plain series on a minute grid.

What the files are (checked against the data and Nezha's code and paper, see ``benchmarks/nezha.py``):

* ``metric/<pod>_metric.csv``: one row a minute per pod — cAdvisor pod metrics, the pod's request latencies as a
  client and as a server, and the node-exporter metrics of the node the pod runs on (``Node*`` columns; pods on one
  node repeat the same values).
* ``metric/front_service.csv``: the frontend's success rate and latency percentiles (its P90/P95/P99 equal the
  frontend pod's ``PodServerLatency*`` columns in every row of both days).
* ``metric/source_50.csv`` / ``destination_50.csv``: median (p50) request duration per call edge, column
  ``<caller>_<callee>``, as reported by the caller's sidecar (``reporter="source"``) and by the callee's
  (``reporter="destination"``).
* ``metric/dependency.csv``: ``Source,Target,Weight`` rows; a target that is an IPv4 address is the node (host) IP
  the source service's pod runs on.
* ``<day>-fault_list.json``: ``{hour: [{inject_time, inject_timestamp, inject_pod, inject_type}]}``.

Timestamps come from the ``Time`` column (``2022-08-22 03:51:19.607158889 +0000 UTC m=+0.11``), not ``TimeStamp``:
in ``2022-08-22/metric/adservice-…_metric.csv`` every ``TimeStamp`` is off by 2e8 s (1861140279 for 1661140279).
Each sample is labelled with the minute it was measured in (the ``Time`` floored to the minute), which is the minute
label Nezha itself matches (``alarm.get_metric_with_time`` regex-matches ``YYYY-MM-DD HH:MM`` in ``Time``). All files
of a day are written within about two seconds of each other every minute (19–21 s past the minute on 2022-08-22,
28–29 s on 2022-08-23), so flooring puts samples of one collection round on one grid point. A second sample in the
same minute of one file keeps the first and is counted in ``DayData.notes``.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ._nezha_source import NezhaError, check_day

_TIME = re.compile(r"^\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*([+-]\d{4})?")
MIB = 1024 * 1024


class NezhaFormatError(NezhaError):
    """A Nezha file does not look the way the converter expects (missing column, unparseable fault list)."""


@dataclass(frozen=True)
class Fault:
    """One injected fault of a day's fault list, in list order (``index`` from 1)."""

    day: str
    index: int
    inject_time: datetime
    inject_pod: str
    inject_type: str

    @property
    def service(self) -> str:
        return service_of(self.inject_pod)


@dataclass(frozen=True)
class PodColumn:
    """How one column of ``<pod>_metric.csv`` becomes a metric: faultline name, role, unit, direction, scale."""

    name: str
    role: str
    unit: str
    direction: str
    scale: float = 1.0
    node_level: bool = False


POD_COLUMNS: dict[str, PodColumn] = {
    "CpuUsage(m)": PodColumn("cpu_usage_millicores", "saturation", "millicores", "up"),
    "CpuUsageRate(%)": PodColumn("cpu_usage_pct", "saturation", "percent", "up"),
    "MemoryUsage(Mi)": PodColumn("mem_bytes", "saturation", "bytes", "up", scale=MIB),
    "MemoryUsageRate(%)": PodColumn("mem_usage_pct", "saturation", "percent", "up"),
    "SyscallRead": PodColumn("syscall_read", "other", "count per sample (unit not stated by Nezha)", "both"),
    "SyscallWrite": PodColumn("syscall_write", "other", "count per sample (unit not stated by Nezha)", "both"),
    "NetworkReceiveBytes": PodColumn("net_rx_bytes_per_s", "traffic", "bytes/s (assumed: a Prometheus rate)", "both"),
    "NetworkTransmitBytes": PodColumn("net_tx_bytes_per_s", "traffic", "bytes/s (assumed: a Prometheus rate)", "both"),
    "PodClientLatencyP90(s)": PodColumn("client_latency_p90_s", "latency", "s", "up"),
    "PodServerLatencyP90(s)": PodColumn("server_latency_p90_s", "latency", "s", "up"),
    "PodClientLatencyP95(s)": PodColumn("client_latency_p95_s", "latency", "s", "up"),
    "PodServerLatencyP95(s)": PodColumn("server_latency_p95_s", "latency", "s", "up"),
    "PodClientLatencyP99(s)": PodColumn("client_latency_p99_s", "latency", "s", "up"),
    "PodServerLatencyP99(s)": PodColumn("server_latency_p99_s", "latency", "s", "up"),
    "PodWorkload(Ops)": PodColumn("workload_ops_per_s", "traffic", "ops/s (assumed: a Prometheus rate)", "both"),
    "PodSuccessRate(%)": PodColumn("success_rate_pct", "errors", "percent", "down"),
    "NodeCpuUsageRate(%)": PodColumn("node_cpu_usage_pct", "saturation", "percent", "up", node_level=True),
    "NodeMemoryUsageRate(%)": PodColumn("node_mem_usage_pct", "saturation", "percent", "up", node_level=True),
    "NodeNetworkReceiveBytes": PodColumn("node_net_rx_bytes_per_s", "traffic", "bytes/s (assumed: a Prometheus rate)",
                                         "both", node_level=True),
}
"""Every ``<pod>_metric.csv`` column faultline keeps. ``MemoryUsage(Mi)`` is converted to bytes (×2^20)."""

FRONT_COLUMNS: dict[str, PodColumn] = {
    "SuccessRate(%)": PodColumn("success_rate_pct", "errors", "percent", "down"),
    "LatencyP50(s)": PodColumn("latency_p50_s", "latency", "s", "up"),
    "LatencyP90(s)": PodColumn("latency_p90_s", "latency", "s", "up"),
    "LatencyP95(s)": PodColumn("latency_p95_s", "latency", "s", "up"),
    "LatencyP99(s)": PodColumn("latency_p99_s", "latency", "s", "up"),
}
"""``front_service.csv`` columns, put on ``app:frontend``."""

EDGE_FILES: dict[str, tuple[str, str]] = {
    "source_50.csv": ("out_latency_p50_s", "caller"),
    "destination_50.csv": ("in_latency_p50_s", "callee"),
}
"""Per-edge p50 files: metric prefix and which end of the edge the metric belongs to."""


@dataclass
class DayData:
    """One day, read: faults, call graph, placement and every series as ``{(entity, metric): {minute: value}}``.

    Entities are named here already (``app:<service>``, ``pod:<ns>/<pod>``, ``node:<ip>``) so the converter only
    slices. ``measured`` keeps the true measurement time (epoch seconds) of each frontend sample, which the alert
    rule needs to tell samples taken before an injection from samples taken after it.
    """

    day: str
    namespace: str
    faults: list[Fault]
    calls: list[tuple[str, str]]
    service_nodes: dict[str, list[str]]
    pods: dict[str, str]
    pod_node: dict[str, str]
    series: dict[tuple[str, str], dict[int, float]]
    meta: dict[str, dict[str, str]]
    measured: dict[int, float]
    first_minute: int
    last_minute: int
    notes: list[str] = field(default_factory=list)


def service_of(pod: str) -> str:
    """``checkoutservice-578fcf4766-9csqn`` -> ``checkoutservice`` (drop the ReplicaSet hash and pod suffix, as
    Nezha's ``alarm.get_svc`` does)."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


def parse_time(text: str) -> datetime:
    """Parse Nezha's ``Time`` cell (Go's ``time.Time`` string: ``2022-08-22 03:51:19.607158889 +0000 UTC m=+0.1``)."""
    match = _TIME.match(text or "")
    if not match:
        raise ValueError(f"unparseable Time {text!r}")
    base, frac, offset = match.groups()
    stamp = datetime.strptime(base, "%Y-%m-%d %H:%M:%S")
    if frac:
        stamp += timedelta(microseconds=int((frac + "000000")[:6]))
    tz = timezone.utc
    if offset and offset != "+0000":
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return stamp.replace(tzinfo=tz).astimezone(timezone.utc)


def _float(cell: str | None) -> float | None:
    if cell is None or cell.strip() == "" or cell.strip().lower() in ("nan", "none", "null"):
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _timed_rows(path: Path, day: str, notes: list[str]) -> list[tuple[int, float, dict[str, str]]]:
    """(minute epoch, measured epoch, row) for each row of ``path`` measured on ``day``; first sample of a minute wins."""
    header, rows = _rows(path)
    time_col = next((c for c in ("Time", "time") if c in header), None)
    stamp_col = next((c for c in ("TimeStamp", "timestamp") if c in header), None)
    if time_col is None:
        raise NezhaFormatError(f"{path}: no Time column (header {header[:4]}…)")
    day_start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    out: dict[int, tuple[float, dict[str, str]]] = {}
    bad_stamp = unparsed = outside = duplicate = 0
    for row in rows:
        try:
            measured = parse_time(row[time_col]).timestamp()
        except ValueError:
            unparsed += 1
            continue
        if stamp_col is not None:
            stamp = _float(row.get(stamp_col))
            if stamp is None or abs(stamp - measured) > 5:
                bad_stamp += 1
        if not day_start <= measured < day_start + 86400:
            outside += 1
            continue
        minute = int(measured // 60 * 60)
        if minute in out:
            duplicate += 1
            continue
        out[minute] = (measured, row)
    name = f"{day}/{path.parent.name}/{path.name}"
    if bad_stamp:
        notes.append(f"{name}: {bad_stamp} rows whose {stamp_col} disagrees with Time (Time used)")
    if unparsed:
        notes.append(f"{name}: {unparsed} rows with an unparseable Time dropped")
    if outside:
        notes.append(f"{name}: {outside} rows measured outside {day} dropped")
    if duplicate:
        notes.append(f"{name}: {duplicate} second samples within one minute dropped (first kept)")
    return [(m, t, r) for m, (t, r) in sorted(out.items())]


def read_faults(day_path: Path, day: str, notes: list[str] | None = None) -> list[Fault]:
    """The day's faults in time order.

    The injection time is ``inject_timestamp`` (the machine value) when present, else ``inject_time``. They agree for
    55 of the 56 faults; for 2022-08-22's recommendationservice ``cpu_consumed`` the list says 07:10:43 but the
    timestamp says 07:09:43, and the pod's CPU is already at 38 % in the sample measured at 07:10:20 (99 % two
    minutes later), so the fault began before 07:10:43 and the timestamp is the one to trust. Disagreements are noted.
    """
    path = day_path / f"{day}-fault_list.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NezhaFormatError(f"{path}: cannot read the fault list ({exc})") from exc
    if not isinstance(document, dict):
        raise NezhaFormatError(f"{path}: expected {{hour: [faults]}}")
    faults = []
    for hour in sorted(document):
        for raw in document[hour]:
            try:
                listed = datetime.strptime(raw["inject_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
                stamp = listed
                if raw.get("inject_timestamp") not in (None, ""):
                    stamp = datetime.fromtimestamp(int(float(raw["inject_timestamp"])), tz=timezone.utc)
                    if abs((stamp - listed).total_seconds()) > 1 and notes is not None:
                        notes.append(f"{day}-fault_list.json: {raw['inject_pod']} {raw['inject_type']}: inject_time "
                                     f"{raw['inject_time']} but inject_timestamp {raw['inject_timestamp']} "
                                     f"({stamp:%H:%M:%S}); the timestamp is used")
                faults.append((stamp, str(raw["inject_pod"]), str(raw["inject_type"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise NezhaFormatError(f"{path}: bad fault entry {raw!r} ({exc})") from exc
    faults.sort(key=lambda f: f[0])
    return [Fault(day, i + 1, t, pod, kind) for i, (t, pod, kind) in enumerate(faults)]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def read_dependency(path: Path) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Service->service calls, and service -> node IPs (rows whose target is an IP address)."""
    if not path.exists():
        raise NezhaFormatError(f"{path} missing: the call graph comes from it")
    header, rows = _rows(path)
    if not {"Source", "Target"} <= set(header):
        raise NezhaFormatError(f"{path}: expected Source,Target columns, got {header}")
    calls: set[tuple[str, str]] = set()
    nodes: dict[str, set[str]] = {}
    for row in rows:
        src, dst = row["Source"].strip(), row["Target"].strip()
        if not src or not dst or src == dst:
            continue
        if _is_ip(dst):
            nodes.setdefault(src, set()).add(dst)
        else:
            calls.add((src, dst))
    return sorted(calls), {s: sorted(ips) for s, ips in sorted(nodes.items())}


def _split_edge(column: str, services: set[str]) -> tuple[str, str] | None:
    """``checkoutservice_emailservice`` -> (caller, callee), choosing the split whose halves are known services."""
    parts = column.split("_")
    for i in range(1, len(parts)):
        caller, callee = "_".join(parts[:i]), "_".join(parts[i:])
        if caller in services and callee in services:
            return caller, callee
    return None


def _node_value(readings: list[float]) -> float:
    """One node's value from the pods on it that report it. A 0 beside a non-zero reading is a failed scrape (a node's
    CPU, memory or received bytes are never 0 while pods run on it); otherwise the median of what remains."""
    nonzero = [v for v in readings if v != 0.0]
    return statistics.median(nonzero) if nonzero else 0.0


def read_day(source: Path, day: str, namespace: str) -> DayData:
    """Read ``source/rca_data/<day>`` (an allowed day; checked before anything is opened)."""
    check_day(day)
    day_path = Path(source) / "rca_data" / day
    metric = day_path / "metric"
    if not metric.is_dir():
        raise NezhaFormatError(f"{metric} missing")
    notes: list[str] = []
    faults = read_faults(day_path, day, notes)
    calls, service_nodes = read_dependency(metric / "dependency.csv")
    series: dict[tuple[str, str], dict[int, float]] = {}
    meta: dict[str, dict[str, str]] = {}
    pods: dict[str, str] = {}
    pod_node: dict[str, str] = {}
    node_readings: dict[tuple[str, str], dict[int, list[float]]] = {}
    minutes: set[int] = set()

    def add(entity: str, spec: PodColumn, source_column: str, minute: int, value: float) -> None:
        series.setdefault((entity, spec.name), {})[minute] = value * spec.scale
        meta.setdefault(spec.name, {"role": spec.role, "unit": spec.unit, "direction": spec.direction,
                                    "source": source_column})

    for path in sorted(metric.glob("*_metric.csv")):
        timed = _timed_rows(path, day, notes)
        if not timed:
            notes.append(f"{day}/metric/{path.name}: no rows")
            continue
        pod = (timed[0][2].get("PodName") or path.name[: -len("_metric.csv")]).strip()
        service = service_of(pod)
        pods[pod] = service
        ips = service_nodes.get(service, [])
        node = ips[0] if len(ips) == 1 else None
        if node is not None:
            pod_node[pod] = node
        else:
            notes.append(f"{pod}: node unknown ({len(ips)} IPs for {service} in dependency.csv): Node* columns dropped")
        entity = f"pod:{namespace}/{pod}"
        columns = [c for c in POD_COLUMNS if c in timed[0][2]]
        drop_success = all(_float(r.get("PodSuccessRate(%)")) in (None, 0.0) for _, _, r in timed)
        if drop_success and "PodSuccessRate(%)" in columns:
            columns.remove("PodSuccessRate(%)")
            notes.append(f"{pod}: PodSuccessRate(%) is 0 in every row of {day} (broken collector) — dropped")
        for minute, _measured, row in timed:
            minutes.add(minute)
            for column in columns:
                value = _float(row.get(column))
                if value is None:
                    continue
                spec = POD_COLUMNS[column]
                if spec.node_level:
                    if node is not None:
                        node_readings.setdefault((node, column), {}).setdefault(minute, []).append(value)
                    continue
                add(entity, spec, column, minute, value)

    for (node, column), by_minute in sorted(node_readings.items()):
        spec = POD_COLUMNS[column]
        for minute, readings in by_minute.items():
            add(f"node:{node}", spec, column, minute, _node_value(readings))

    measured: dict[int, float] = {}
    front = metric / "front_service.csv"
    if front.exists():
        for minute, when, row in _timed_rows(front, day, notes):
            minutes.add(minute)
            measured[minute] = when
            for column, spec in FRONT_COLUMNS.items():
                value = _float(row.get(column))
                if value is not None:
                    add("app:frontend", spec, column, minute, value)
    else:
        notes.append(f"{day}/metric/front_service.csv missing: no frontend success rate or latency")

    services = {s for edge in calls for s in edge} | set(pods.values())
    for file_name, (prefix, end) in EDGE_FILES.items():
        path = metric / file_name
        if not path.exists():
            notes.append(f"{day}/metric/{file_name} missing: no {prefix}[…] series")
            continue
        header, _ = _rows(path)
        edges = {}
        for column in header:
            if column.lower() in ("time", "timestamp"):
                continue
            pair = _split_edge(column, services)
            if pair is None:
                notes.append(f"{day}/metric/{file_name}: column {column!r} names no known caller_callee pair — skipped")
                continue
            edges[column] = pair
        for minute, _when, row in _timed_rows(path, day, notes):
            minutes.add(minute)
            for column, (caller, callee) in edges.items():
                value = _float(row.get(column))
                if value is None:
                    continue
                owner, other = (caller, callee) if end == "caller" else (callee, caller)
                name = f"{prefix}[{other}]"
                series.setdefault((f"app:{owner}", name), {})[minute] = value
                meta.setdefault(name, {
                    "role": "latency", "unit": "s", "direction": "up",
                    "source": f"{file_name}:{column} (Istio request duration p50, reporter="
                              f"{'source' if end == 'caller' else 'destination'})",
                })

    if not minutes:
        raise NezhaFormatError(f"{metric}: no samples on {day}")
    return DayData(
        day=day, namespace=namespace, faults=faults, calls=calls, service_nodes=service_nodes, pods=pods,
        pod_node=pod_node, series=series, meta=meta, measured=measured, first_minute=min(minutes),
        last_minute=max(minutes), notes=notes,
    )
