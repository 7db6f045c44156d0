"""The RCD Sock Shop converter on a tiny synthetic folder in RCD's layout (no network, no mirror)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from benchmarks.sockshop import SockShopDataError, convert_all, locate_source
from correlators.case_files import load_case
from detectors.models import SeriesKey

COLUMNS = ["time", "carts_cpu", "front-end_cpu", "carts_mem", "front-end_mem", "carts_lod", "carts_lat_50",
           "carts_lat_99"]
NORMAL_START, ANOMALOUS_START = 1_652_000_000, 1_652_100_000  # ~28 h apart, as in RCD
N_NORMAL, N_ANOMALOUS = 10, 8


def _rows(start: int, n: int, *, carts_cpu: float, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [[start + i, carts_cpu + rng.normal(0, 0.5), 12 + rng.normal(0, 1), 3.4e8 + rng.normal(0, 1e5),
             1.1e8, 8 + rng.normal(0, 0.3), 0.3 + rng.normal(0, 0.01), 2.4 + rng.normal(0, 0.05)] for i in range(n)]


def _write(path: Path, rows: list[list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([[int(r[0]), *r[1:]] for r in rows])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Run 1: a healthy normal window. Run 2: carts' CPU already pinned at 100 % of a core in the normal window."""
    root = tmp_path / "rcd"
    run1 = root / "sock-shop-data" / "carts-cpu" / "1"
    _write(run1 / "normal.csv", _rows(NORMAL_START, N_NORMAL, carts_cpu=1.2, seed=1))
    _write(run1 / "anomalous.csv", _rows(ANOMALOUS_START, N_ANOMALOUS, carts_cpu=99.0, seed=2))
    run2 = root / "sock-shop-data" / "carts-cpu" / "2"
    _write(run2 / "normal.csv", _rows(NORMAL_START + 600, N_NORMAL, carts_cpu=99.5, seed=3))
    _write(run2 / "anomalous.csv", _rows(ANOMALOUS_START + 600, N_ANOMALOUS, carts_cpu=99.0, seed=4))
    (root / "sock-shop-data" / "collect-data.py").write_text("# the scraper; not a run folder\n")
    return root


@pytest.fixture
def cases(source: Path, tmp_path: Path) -> dict[str, Path]:
    return {p.name: p for p in convert_all(tmp_path / "out", source)}


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_run_becomes_a_case_the_loader_accepts(cases: dict[str, Path]) -> None:
    assert sorted(cases) == ["carts-cpu-1", "carts-cpu-2"]
    case = load_case(cases["carts-cpu-1"])
    ids = {e.id for e in case.entities}
    assert {"user:shoppers", "app:front-end", "app:carts", "db:carts-db", "queue:rabbitmq"} <= ids
    assert len(case.series.keys) == len(COLUMNS) - 1
    row = case.series.row(SeriesKey("app:carts", "cpu_usage"))
    assert row is not None and np.count_nonzero(~np.isnan(row)) == N_NORMAL + N_ANOMALOUS


def test_topology_follows_sock_shop_dependent_to_dependency(cases: dict[str, Path]) -> None:
    rel = {(r["src"], r["kind"], r["dst"]) for r in _json(cases["carts-cpu-1"] / "topology.json")["relations"]}
    assert ("user:shoppers", "CALLS", "app:front-end") in rel
    assert ("app:front-end", "CALLS", "app:orders") in rel
    assert ("app:orders", "CALLS", "app:payment") in rel
    assert ("app:carts", "QUERIES", "db:carts-db") in rel
    assert ("app:shipping", "QUERIES", "queue:rabbitmq") in rel
    assert not any(dst == "app:front-end" and src != "user:shoppers" for src, _, dst in rel)


def test_normal_recording_is_shifted_to_end_one_step_before_the_anomalous_one(cases: dict[str, Path]) -> None:
    case = cases["carts-cpu-1"]
    with open(case / "metrics.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if (r["entity"], r["metric"]) == ("app:carts", "cpu_usage")]
    times = [int(r["timestamp"]) for r in rows]
    normal, anomalous = times[:N_NORMAL], times[N_NORMAL:]
    assert anomalous == list(range(ANOMALOUS_START, ANOMALOUS_START + N_ANOMALOUS))
    assert normal == list(range(ANOMALOUS_START - N_NORMAL, ANOMALOUS_START))  # 1-s spacing kept, ends one step early
    truth = _json(case / "truth.json")
    assert truth["baseline"] == "shifted normal recording"
    assert truth["original_gap_s"] == ANOMALOUS_START - (NORMAL_START + N_NORMAL - 1)
    assert truth["normal_shift_s"] == normal[0] - NORMAL_START
    assert truth["normal_recorded"] == "before"


def test_incident_points_at_front_end_and_holds_no_truth(cases: dict[str, Path]) -> None:
    incident = _json(cases["carts-cpu-1"] / "incident.json")
    last = ANOMALOUS_START + N_ANOMALOUS - 1
    assert incident["symptom"] == "app:front-end"
    assert incident["metric"] is None  # front-end has cpu and mem only, no latency
    assert incident["at"] == datetime.fromtimestamp(last, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert incident["lookback"] == f"{N_ANOMALOUS - 1}s"
    assert set(incident) == {"symptom", "metric", "at", "lookback", "title"}
    assert "carts" not in json.dumps(incident) and "cpu" not in incident["title"].lower()
    case = load_case(cases["carts-cpu-1"])
    assert case.incident.start.timestamp() == ANOMALOUS_START  # the window is exactly the anomalous recording


def test_metrics_meta_declares_every_metric(cases: dict[str, Path]) -> None:
    meta = _json(cases["carts-cpu-1"] / "metrics_meta.json")
    assert meta == {
        "cpu_usage": {"role": "saturation", "unit": "percent of one core"},
        "mem_bytes": {"role": "saturation", "unit": "bytes"},
        "requests_per_s": {"role": "traffic", "unit": "requests/s"},
        "latency_p50_s": {"role": "latency", "unit": "s"},
        "latency_p99_s": {"role": "latency", "unit": "s"},
    }
    with open(cases["carts-cpu-1"] / "metrics.csv", newline="", encoding="utf-8") as handle:
        assert {r["metric"] for r in csv.DictReader(handle)} == set(meta)


def test_truth_names_the_faulted_service(cases: dict[str, Path]) -> None:
    truth = _json(cases["carts-cpu-1"] / "truth.json")
    assert truth["root_causes"] == ["app:carts"] and truth["accept"] == []
    assert (truth["fault"], truth["service"], truth["run"]) == ("cpu", "carts", 1)
    assert truth["onset"] == datetime.fromtimestamp(ANOMALOUS_START, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = {e["id"] for e in _json(cases["carts-cpu-1"] / "topology.json")["entities"]}
    assert truth["root_causes"][0] in ids


def test_a_normal_window_already_showing_the_fault_is_suspect(cases: dict[str, Path]) -> None:
    healthy = _json(cases["carts-cpu-1"] / "truth.json")
    suspect = _json(cases["carts-cpu-2"] / "truth.json")
    assert healthy["normal_window"] == "healthy" and healthy["normal_window_findings"] == []
    assert suspect["normal_window"] == "suspect"
    assert {(f["check"], f["entity"]) for f in suspect["normal_window_findings"]} == {
        ("fault_already_present", "app:carts"), ("saturated_cpu", "app:carts")}
    assert "app:carts" in suspect["normal_window_reason"] and "\n" not in suspect["normal_window_reason"]


def test_a_normal_window_slower_than_the_fault_is_suspect(source: Path, tmp_path: Path) -> None:
    run = source / "sock-shop-data" / "carts-cpu" / "1"
    rows = _rows(NORMAL_START, N_NORMAL, carts_cpu=1.2, seed=1)
    for r in rows:
        r[6] = 4.5  # carts p50 latency 4.5 s in the normal window, 0.3 s during the fault
    _write(run / "normal.csv", rows)
    truth = _json(convert_all(tmp_path / "slow", source)[0] / "truth.json")
    assert truth["normal_window"] == "suspect"
    findings = [(f["check"], f["metric"]) for f in truth["normal_window_findings"]]
    assert findings == [("latency_worse_than_fault", "latency_p50_s")]


def test_same_input_gives_byte_identical_cases(source: Path, tmp_path: Path) -> None:
    first = convert_all(tmp_path / "a", source)
    second = convert_all(tmp_path / "b", source)
    for a, b in zip(first, second):
        files = sorted(p.name for p in a.iterdir())
        assert files == sorted(p.name for p in b.iterdir())
        assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def _set_cell(text: str, *, line: int, field: int, value: str) -> str:
    lines = text.splitlines()
    cells = lines[line - 1].split(",")
    cells[field - 1] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("damage, expected", [
    (lambda text: text.replace("\n", "\n1652100000.5,1,2,3,4,5,6,7\n", 1), "whole second"),
    (lambda text: text.rstrip("\n") + "\n1652100099,1,2,3\n", "expected 8 fields"),
    (lambda text: _set_cell(text, line=2, field=3, value="abc"), "not a number"),
    (lambda text: text.replace("carts_lat_99", "carts_p99"), "carts_p99"),
])
def test_malformed_csv_is_rejected_naming_the_file(source: Path, tmp_path: Path, damage, expected: str) -> None:
    bad = source / "sock-shop-data" / "carts-cpu" / "2" / "anomalous.csv"
    bad.write_text(damage(bad.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(SockShopDataError, match=expected) as err:
        convert_all(tmp_path / "out", source)
    assert str(bad) in str(err.value)


def test_missing_file_is_named(source: Path, tmp_path: Path) -> None:
    missing = source / "sock-shop-data" / "carts-cpu" / "1" / "normal.csv"
    missing.unlink()
    with pytest.raises(SockShopDataError, match="file missing") as err:
        convert_all(tmp_path / "out", source)
    assert str(missing) in str(err.value)


def test_no_data_anywhere_tells_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="git clone --depth 1 https://github.com/azamikram/rcd"):
        locate_source(None, mirror=tmp_path / "no-mirror", cache=tmp_path / "no-cache")
    with pytest.raises(SystemExit, match="git clone"):
        locate_source(tmp_path / "empty")
