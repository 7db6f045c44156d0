"""The Nezha Online Boutique converter on a tiny synthetic day in Nezha's own layout (no network, no mirror).

The synthetic day has three services (frontend, cartservice, productcatalogservice; frontend and cartservice share a
node), 40 one-minute samples measured 20 s past each minute, three faults (one with a frontend latency spike, one
with a success-rate drop whose ``inject_time`` disagrees with its ``inject_timestamp``, one invisible at the
frontend), one file whose ``TimeStamp`` column is corrupted, a 0 node reading beside a non-zero one, a broken
all-zero ``PodSuccessRate(%)`` column and two trace minute-files.
"""

from __future__ import annotations

import builtins
import csv
import filecmp
import io
import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from benchmarks import nezha
from benchmarks._nezha_source import NezhaDayRefused, NezhaSourceMissing, extract_day
from correlators.case_files import load_case

DAY = "2022-08-22"
T0 = int(datetime(2022, 8, 22, tzinfo=timezone.utc).timestamp())
MINUTES = 40
PODS = {
    "frontend": "frontend-5d8f9c7b6a-abcde",
    "cartservice": "cartservice-7c9d8e6f5b-fghij",
    "productcatalogservice": "productcatalogservice-6b7c8d9e0f-klmno",
}
NODES = {"frontend": "10.0.0.1", "cartservice": "10.0.0.1", "productcatalogservice": "10.0.0.2"}
POD_HEADER = ("Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),MemoryUsageRate(%),SyscallRead,"
              "SyscallWrite,NetworkReceiveBytes,NetworkTransmitBytes,PodClientLatencyP90(s),PodServerLatencyP90(s),"
              "PodClientLatencyP95(s),PodServerLatencyP95(s),PodClientLatencyP99(s),PodServerLatencyP99(s),"
              "PodWorkload(Ops),PodSuccessRate(%),NodeCpuUsageRate(%),NodeMemoryUsageRate(%),NodeNetworkReceiveBytes")


def _time(minute: int, second: int = 20, t0: int = T0) -> str:
    t = datetime.fromtimestamp(t0 + minute * 60 + second, tz=timezone.utc)
    return f"{t:%Y-%m-%d %H:%M:%S}.123456789 +0000 UTC m=+{minute * 60}.5"


def _iso(minute: int, second: int = 0) -> str:
    return datetime.fromtimestamp(T0 + minute * 60 + second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_csv(path: Path, header: str, rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(header + "\n")
        csv.writer(handle).writerows(rows)


def make_day(root: Path, day: str = DAY) -> Path:
    """A Nezha-format ``rca_data/<day>`` folder under ``root``; returns ``root``."""
    base = root / "rca_data" / day
    t0 = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
    metric = base / "metric"
    faults = {"00": [
        {"inject_time": f"{day} 00:20:30", "inject_timestamp": str(t0 + 20 * 60 + 30),
         "inject_pod": PODS["cartservice"], "inject_type": "cpu_contention"},
        # listed a minute late; the timestamp (00:30:10) is the machine value and the one to use
        {"inject_time": f"{day} 00:31:10", "inject_timestamp": str(t0 + 30 * 60 + 10),
         "inject_pod": PODS["productcatalogservice"], "inject_type": "return"},
        {"inject_time": f"{day} 00:35:40", "inject_timestamp": str(t0 + 35 * 60 + 40),
         "inject_pod": PODS["cartservice"], "inject_type": "network_delay"},
    ]}
    base.mkdir(parents=True)
    (base / f"{day}-fault_list.json").write_text(json.dumps(faults), encoding="utf-8")
    _write_csv(metric / "dependency.csv", "Source,Target,Weight", [
        ["frontend", "cartservice", 1], ["frontend", "productcatalogservice", 1],
        ["frontend", NODES["frontend"], 1], ["cartservice", NODES["cartservice"], 1],
        ["productcatalogservice", NODES["productcatalogservice"], 1], ["loadgenerator", "10.0.0.9", 1],
    ])
    for service, pod in PODS.items():
        rows = []
        for m in range(MINUTES):
            stamp = t0 + m * 60 + 20 + (200_000_000 if service == "cartservice" else 0)  # corrupted like adservice
            node_cpu = 20.0
            if service == "cartservice" and m == 5:
                node_cpu = 0.0  # failed scrape beside frontend's 20.0
            if service == "cartservice" and m == 6:
                node_cpu = 22.0  # disagrees with frontend's 20.0: median 21.0
            client_p90 = "" if (service == "productcatalogservice" and m == 3) else 0.01
            cpu = 90.0 if (service == "cartservice" and 21 <= m <= 23) else 10.0 + (m % 3)
            rows.append([_time(m, t0=t0), stamp, pod, cpu * 2, cpu, 10.0, 5.0, 100, 50, 1000.0, 2000.0, client_p90, 0.02,
                         0.03, 0.04, 0.05, 0.06, 7.5, 0, node_cpu, 40.0, 5000.0])
        _write_csv(metric / f"{pod}_metric.csv", POD_HEADER, rows)
    front = []
    for m in range(MINUTES):
        success = 60.0 if m in (30, 31, 32) else 100.0
        p90 = 3.0 if m in (22, 23) else 0.5 + 0.01 * (m % 5)
        front.append([_time(m, t0=t0), t0 + m * 60 + 20, "Frontend", success, 0.1, p90, p90 * 1.5, p90 * 2])
    _write_csv(metric / "front_service.csv",
               "Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s),LatencyP90(s),LatencyP95(s),LatencyP99(s)", front)
    for name in ("source_50.csv", "destination_50.csv"):
        scale = 1.0 if name.startswith("source") else 0.8
        _write_csv(metric / name, "time,timestamp,frontend_cartservice,frontend_productcatalogservice",
                   [[_time(m, 21, t0), t0 + m * 60 + 21, 0.003 * scale, "" if m == 4 else 0.0075 * scale]
                    for m in range(MINUTES)])
    for minute in (20, 21):
        start = (t0 + minute * 60) * 10**9
        _write_csv(base / "trace" / f"00_{minute:02d}_trace.csv",
                   "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration",
                   [[f"{minute:032x}", f"{minute:016x}", "root", PODS["frontend"], "hipstershop.Frontend/Recv.", start,
                     start + 5_000_000, 5_000_000]])
    return root


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    return make_day(tmp_path / "src")


def convert(source: Path, out: Path, **kwargs) -> list[Path]:
    kwargs.setdefault("lookback", "10m")
    return nezha.convert_all(out, source, days=(DAY,), **kwargs)


def read_metrics(case: Path) -> list[dict[str, str]]:
    with open(case / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_one_loadable_case_per_fault(source: Path, tmp_path: Path) -> None:
    paths = convert(source, tmp_path / "out")
    assert [p.name for p in paths] == [f"nezha-ob-{DAY}-01", f"nezha-ob-{DAY}-02", f"nezha-ob-{DAY}-03"]
    for path in paths:
        case = load_case(path)
        assert case.incident.symptom == "app:frontend"
        assert case.incident.lookback.total_seconds() == 600
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert len(report["cases"]) == 3


def test_topology_edges_and_placement(source: Path, tmp_path: Path) -> None:
    path = convert(source, tmp_path / "out")[0]
    topology = json.loads((path / "topology.json").read_text())
    ids = {e["id"] for e in topology["entities"]}
    ns = nezha.NAMESPACE
    assert ids == {"user:shoppers", "app:frontend", "app:cartservice", "app:productcatalogservice",
                   *(f"pod:{ns}/{p}" for p in PODS.values()), "node:10.0.0.1", "node:10.0.0.2"}
    edges = {(r["src"], r["kind"], r["dst"]) for r in topology["relations"]}
    assert edges == {
        ("user:shoppers", "CALLS", "app:frontend"),
        ("app:frontend", "CALLS", "app:cartservice"),
        ("app:frontend", "CALLS", "app:productcatalogservice"),
        *((f"app:{s}", "RUNS_ON", f"pod:{ns}/{p}") for s, p in PODS.items()),
        *((f"pod:{ns}/{p}", "SCHEDULED_ON", f"node:{NODES[s]}") for s, p in PODS.items()),
    }
    assert {(r["valid_from"], r["valid_to"]) for r in topology["relations"]} == {
        ("2022-08-22T00:00:00Z", "2022-08-23T00:00:00Z")}
    assert not any("loadgenerator" in i or "10.0.0.9" in i for i in ids)


def test_metric_names_entities_and_meta(source: Path, tmp_path: Path) -> None:
    path = convert(source, tmp_path / "out")[0]
    rows = read_metrics(path)
    pairs = {(r["entity"], r["metric"]) for r in rows}
    ns, cart, front = nezha.NAMESPACE, PODS["cartservice"], PODS["frontend"]
    assert ("app:frontend", "out_latency_p50_s[cartservice]") in pairs  # source_50: the caller's side
    assert ("app:cartservice", "in_latency_p50_s[frontend]") in pairs  # destination_50: the callee's side
    assert ("app:frontend", "in_latency_p50_s[cartservice]") not in pairs
    assert ("app:frontend", "success_rate_pct") in pairs and ("app:frontend", "latency_p90_s") in pairs
    assert (f"pod:{ns}/{cart}", "cpu_usage_pct") in pairs and ("node:10.0.0.1", "node_cpu_usage_pct") in pairs
    assert not any(m.startswith("node_") and e.startswith("pod:") for e, m in pairs)  # node values only on nodes
    assert not any(m == "success_rate_pct" and e.startswith("pod:") for e, m in pairs)  # all-zero column dropped
    value = {(r["entity"], r["metric"], r["timestamp"]): float(r["value"]) for r in rows}
    assert value[(f"pod:{ns}/{front}", "mem_bytes", _iso(0))] == 10 * 1024 * 1024
    assert value[("app:frontend", "out_latency_p50_s[cartservice]", _iso(0))] == 0.003
    assert value[("app:cartservice", "in_latency_p50_s[frontend]", _iso(0))] == pytest.approx(0.0024)
    meta = json.loads((path / "metrics_meta.json").read_text())
    assert set(meta) == {m for _, m in pairs}
    assert meta["success_rate_pct"]["role"] == "errors" and meta["success_rate_pct"]["direction"] == "down"
    assert meta["latency_p90_s"] == {**meta["latency_p90_s"], "role": "latency", "unit": "s"}
    assert meta["cpu_usage_pct"]["role"] == "saturation" and meta["mem_bytes"]["unit"] == "bytes"
    assert meta["net_rx_bytes_per_s"]["role"] == "traffic"
    assert meta["out_latency_p50_s[cartservice]"]["role"] == "latency"
    assert {v["role"] for v in meta.values()} <= {"saturation", "errors", "latency", "traffic", "other"}


def test_times_from_time_column_on_the_minute_grid(source: Path, tmp_path: Path) -> None:
    path = convert(source, tmp_path / "out")[0]
    rows = read_metrics(path)
    cart = f"pod:{nezha.NAMESPACE}/{PODS['cartservice']}"
    cart_times = sorted({r["timestamp"] for r in rows if r["entity"] == cart})
    assert cart_times[0] == _iso(0)  # from Time, not the corrupted TimeStamp (+2e8 s)
    assert all(t.endswith(":00Z") for t in cart_times)
    # one grid for every file: the edge files measured a second later share the pods' minutes
    edge_times = {r["timestamp"] for r in rows if r["metric"] == "out_latency_p50_s[cartservice]"}
    assert edge_times == set(cart_times)
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert any("TimeStamp disagrees with Time" in n and PODS["cartservice"] in n for n in report["notes"])


def test_missing_samples_are_left_out(source: Path, tmp_path: Path) -> None:
    rows = read_metrics(convert(source, tmp_path / "out")[0])
    pc = f"pod:{nezha.NAMESPACE}/{PODS['productcatalogservice']}"
    assert not any(r["entity"] == pc and r["metric"] == "client_latency_p90_s" and r["timestamp"] == _iso(3)
                   for r in rows)
    assert any(r["entity"] == pc and r["metric"] == "client_latency_p90_s" and r["timestamp"] == _iso(2) for r in rows)
    assert all(r["value"] not in ("", "nan") for r in rows)


def test_node_value_deduplicated(source: Path, tmp_path: Path) -> None:
    rows = read_metrics(convert(source, tmp_path / "out")[0])
    node = {r["timestamp"]: float(r["value"]) for r in rows
            if r["entity"] == "node:10.0.0.1" and r["metric"] == "node_cpu_usage_pct"}
    assert node[_iso(4)] == 20.0
    assert node[_iso(5)] == 20.0  # cartservice's 0 beside frontend's 20 is a failed scrape
    assert node[_iso(6)] == 21.0  # two readings that disagree: their median
    assert len([r for r in rows if r["entity"] == "node:10.0.0.1" and r["metric"] == "node_cpu_usage_pct"
                and r["timestamp"] == _iso(4)]) == 1


def test_nezha_alert_rule(source: Path, tmp_path: Path) -> None:
    paths = convert(source, tmp_path / "out", alert="nezha")
    incidents = [json.loads((p / "incident.json").read_text()) for p in paths]
    # injection minute + 2, at the moment that minute's frontend sample was measured (20 s past)
    assert [i["at"] for i in incidents] == [_iso(22, 20), _iso(32, 20), _iso(37, 20)]
    assert [i["metric"] for i in incidents] == ["latency_p90_s", "success_rate_pct", "latency_p90_s"]
    truths = [json.loads((p / "truth.json").read_text()) for p in paths]
    assert [t["alert"]["ksigma_fired"] for t in truths] == ["latency_p90_s", "success_rate_pct", None]
    assert truths[1]["alert"]["ksigma_fired_at"] == _iso(30, 20)  # first sample measured after 00:30:10


def test_ksigma_alert_rule_and_fallback(source: Path, tmp_path: Path) -> None:
    paths = convert(source, tmp_path / "out", alert="ksigma")
    incidents = [json.loads((p / "incident.json").read_text()) for p in paths]
    truths = [json.loads((p / "truth.json").read_text()) for p in paths]
    # fault 1 at 00:20:30: sample 21 is still normal, 22 spikes; fault 2 at 00:30:10: sample 30 (00:30:20) drops
    assert [i["at"] for i in incidents] == [_iso(22, 20), _iso(30, 20), _iso(37, 20)]
    assert [t["alert"]["fallback"] for t in truths] == [False, False, True]
    assert incidents[2]["metric"] == nezha.FALLBACK_METRIC
    # all of a case's data up to the alert plus five minutes, nothing later
    times = {r["timestamp"] for r in read_metrics(paths[1])}
    assert max(times) == _iso(35) and min(times) == _iso(0)


def test_truth(source: Path, tmp_path: Path) -> None:
    paths = convert(source, tmp_path / "out")
    truth = json.loads((paths[1] / "truth.json").read_text())
    assert truth["root_causes"] == [f"pod:{nezha.NAMESPACE}/{PODS['productcatalogservice']}"]
    assert truth["accept"] == ["app:productcatalogservice"]
    assert truth["fault"] == "return" and truth["day"] == DAY
    assert truth["inject_time"] == _iso(30, 10)  # inject_timestamp, not the listed 00:31:10
    assert truth["earlier_faults_in_lookback"] == [f"{DAY}#1"] and truth["earlier_same_pod_in_lookback"] == []
    first = json.loads((paths[0] / "truth.json").read_text())
    assert first["earlier_faults_in_lookback"] == []
    third = json.loads((paths[2] / "truth.json").read_text())
    assert third["earlier_faults_in_lookback"] == [f"{DAY}#2"]
    assert first["telemetry"]["trace"]["fault_minutes_present"] == 2
    assert first["telemetry"]["log"]["fault_minutes_present"] == 0
    for path in paths:  # the case name and title give nothing away
        assert "cart" not in path.name and "productcatalog" not in path.name
        assert "cart" not in (path / "incident.json").read_text()


def test_deterministic(source: Path, tmp_path: Path) -> None:
    a = convert(source, tmp_path / "a")
    b = convert(source, tmp_path / "b")
    for x, y in zip(a, b):
        names = sorted(p.name for p in x.iterdir())
        match, mismatch, errors = filecmp.cmpfiles(x, y, names, shallow=False)
        assert not mismatch and not errors and len(match) == 7
    assert (tmp_path / "a" / "conversion_report.json").read_bytes() == (tmp_path / "b" / "conversion_report.json").read_bytes()


@pytest.mark.parametrize("day", ["2023-01-29", "2023-01-30"])
def test_held_out_trainticket_days_refused(day: str, tmp_path: Path, source: Path) -> None:
    with pytest.raises(NezhaDayRefused, match="held-out"):
        nezha.convert_all(tmp_path / "out", source, days=(day,))
    with pytest.raises(NezhaDayRefused):
        nezha.convert_all(tmp_path / "out", source, days=(DAY, day))  # refused before the allowed day is converted
    assert not (tmp_path / "out").exists()
    assert nezha.main(["--source", str(source), "--out", str(tmp_path / "cli"), "--day", day]) == 2


@pytest.mark.parametrize("day", ["2022-08-24", "2022-08-21", "latest", "../2023-01-29"])
def test_unknown_days_refused(day: str, tmp_path: Path, source: Path) -> None:
    with pytest.raises(NezhaDayRefused, match="not one of the Online Boutique days"):
        nezha.convert_all(tmp_path / "out", source, days=(day,))


def test_held_out_folder_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the source holds the TrainTicket days, converting the default days touches none of their files."""
    root = make_day(tmp_path / "src")
    make_day(tmp_path / "src", "2022-08-23")
    for held in ("2023-01-29", "2023-01-30"):
        (root / "rca_data" / held / "metric").mkdir(parents=True)
        (root / "rca_data" / held / f"{held}-fault_list.json").write_text("{}")
    seen: list[str] = []
    real_open, real_scandir, real_listdir = builtins.open, os.scandir, os.listdir

    def spy_open(file, *args, **kwargs):
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_scandir(path="."):
        seen.append(str(path))
        return real_scandir(path)

    def spy_listdir(path="."):
        seen.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)  # pathlib's read_text goes through io.open
    monkeypatch.setattr(os, "scandir", spy_scandir)
    monkeypatch.setattr(os, "listdir", spy_listdir)
    paths = nezha.convert_all(tmp_path / "out", root, lookback="10m")
    assert len(paths) == 6
    assert seen and not [s for s in seen if "2023-01" in s]
    assert not [s for s in seen if s.rstrip("/").endswith("rca_data")]


def test_missing_files_handled(source: Path, tmp_path: Path) -> None:
    metric = source / "rca_data" / DAY / "metric"
    (metric / "source_50.csv").unlink()
    shutil.rmtree(source / "rca_data" / DAY / "trace")
    paths = convert(source, tmp_path / "out")
    pairs = {(r["entity"], r["metric"]) for r in read_metrics(paths[0])}
    assert not any(m.startswith("out_latency") for _, m in pairs)
    assert ("app:cartservice", "in_latency_p50_s[frontend]") in pairs
    truth = json.loads((paths[0] / "truth.json").read_text())
    assert truth["telemetry"]["trace"]["fault_minutes_present"] == 0
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert any("source_50.csv missing" in n for n in report["notes"])
    load_case(paths[0])


def test_missing_source_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NezhaSourceMissing, match="git clone"):
        nezha.convert_all(tmp_path / "out", tmp_path / "nowhere", days=(DAY,))
    with pytest.raises(NezhaSourceMissing, match="git clone"):
        nezha.convert_all(tmp_path / "out", None, days=(DAY,), mirror=tmp_path / "no-mirror", cache=tmp_path / "c")


def test_extract_from_git_skips_absent_blobs_and_other_days(tmp_path: Path) -> None:
    """The mirror path: a blob the snapshot lacks is recorded, the held-out day in the same tree is not read."""
    repo = tmp_path / "repo"
    make_day(repo)
    held = repo / "rca_data" / "2023-01-29"
    held.mkdir(parents=True)
    (held / "2023-01-29-fault_list.json").write_text("{}")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "day"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env, capture_output=True)
    trace = f"rca_data/{DAY}/trace/00_21_trace.csv"
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", f"HEAD:{trace}"], check=True, capture_output=True,
                         text=True).stdout.strip()
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()  # the snapshot lacks this blob
    cache = tmp_path / "cache"
    manifest = extract_day(repo / ".git", cache, DAY)
    assert manifest["missing"] == [trace]
    assert (cache / "rca_data" / DAY / "metric" / "dependency.csv").read_bytes() == (
        repo / "rca_data" / DAY / "metric" / "dependency.csv").read_bytes()
    assert not (cache / "rca_data" / "2023-01-29").exists()
    paths = nezha.convert_all(tmp_path / "out", None, days=(DAY,), mirror=repo / ".git", cache=cache,
                              lookback="10m")
    truth = json.loads((paths[0] / "truth.json").read_text())
    assert truth["telemetry"]["trace"] == {**truth["telemetry"]["trace"], "fault_minutes_present": 1,
                                           "fault_minutes_absent": 1}
    with pytest.raises(NezhaDayRefused):
        extract_day(repo / ".git", cache, "2023-01-29")


def test_telemetry_becomes_otlp_json_case_files(source: Path, tmp_path: Path) -> None:
    """``--telemetry``: the window's trace and log minute-files become ``traces.jsonl`` / ``logs.jsonl`` in OTLP/JSON,
    read back by the case loader with the pod as resource and the parent links kept; nothing after the alert."""
    base = source / "rca_data" / DAY
    start = (T0 + 20 * 60 + 5) * 10**9
    rows = [[f"{20:032x}", f"{0x99:016x}", f"{20:016x}", PODS["cartservice"], "hipstershop.CartService/GetCart",
             start, start + 2_000_000, 2_000]]
    with open(base / "trace" / "00_20_trace.csv", "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    docker = json.dumps({"log": json.dumps({"message": "GetCart failed", "severity": "error"}) + "\n",
                         "stream": "stdout", "time": "x"})
    plain = json.dumps({"log": "cart loaded\n", "stream": "stdout", "time": "x"})
    _write_csv(base / "log" / "00_21_log.csv", "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log", [
        ["t", start + 10**9, NODES["cartservice"], PODS["cartservice"], "server", f"{20:032x}", f"{0x99:016x}", docker],
        ["t", start + 2 * 10**9, NODES["cartservice"], PODS["cartservice"], "server", "", "", plain],
        ["t", (T0 + 59 * 60) * 10**9, NODES["cartservice"], PODS["cartservice"], "server", "", "", plain],  # after the alert
    ])
    first = convert(source, tmp_path / "out", telemetry=True)[0]
    assert (first / "traces.jsonl").exists() and (first / "logs.jsonl").exists()
    line = json.loads((first / "traces.jsonl").read_text().splitlines()[0])
    assert "resourceSpans" in line and line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] == 0
    case = load_case(first)
    spans = case.telemetry.spans
    assert len(spans) == 3 and set(spans.service) == {"frontend", "cartservice"}  # minute-files 00_20 and 00_21
    child = list(spans.parent).index(f"{20:016x}")
    assert spans.entity[child] == "app:cartservice"
    records = case.telemetry.logs
    assert [(r.body, r.level) for r in records] == [("GetCart failed", "ERROR"), ("cart loaded", "INFO")]
    assert records[0].entity == f"pod:hipster/{PODS['cartservice']}" and records[0].trace_id == f"{20:032x}"
    truth = json.loads((first / "truth.json").read_text())
    assert truth["telemetry_written"] == {"spans": 3, "log_records": 2}
    assert not any((p / "traces.jsonl").exists() for p in convert(source, tmp_path / "plain"))  # off by default
