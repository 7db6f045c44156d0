"""The live server analyses what the benchmarks measure.

A case directory is turned into live sources — its series backfilled into a real Prometheus, its topology written to a
real Neo4j, its changes, events and declared metric roles saved as ``faultline collect`` saves them — and a real
``faultline serve`` is pointed at them. The insight it gives through the HTTP API must rank the same top 5 with the
same evidence as ``faultline analyze`` on the case directory.

The server is configured the way such a recording asks: the Prometheus step and the history step at the case's own
sample interval, so the live read fetches exactly the samples the case holds (with the default 300-s history step the
baseline would be a tenth as dense, which is the point of the default on a live fleet, not of a parity check).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scenarios import generate, spec_for, write_case
from correlators.case_files import load_case
from tests.servers.live_case import analyze_json, case_openmetrics, load_topology, write_collected
from tests.servers.neo4j import Neo4jServer

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GENERATED_SEEDS = (1015, 1023, 1024)  # DEV suite: bad_rollout (200 entities), gpu_fault (60), node_cpu_hog (200)
REAL_CASE = FIXTURES / "nezha-ob-2022-08-22-03"  # MIT-licensed Nezha data; see its NOTICE.md


def _evidence(candidate: dict) -> list[dict]:
    return candidate["evidence"]


def _live_insight(case_dir: Path, tmp_path: Path, prometheus_factory, neo4j: Neo4jServer, start_faultline) -> dict:
    case = load_case(case_dir)
    prom = prometheus_factory(backfill=case_openmetrics(case))
    load_topology(case, neo4j.uri, neo4j.password)
    collected = write_collected(case_dir, tmp_path / f"collected-{case_dir.name}")
    step = f"{case.series.step_s:g}"
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_NEO4J_URI=neo4j.uri,
                             FAULTLINE_NEO4J_PASSWORD=neo4j.password, FAULTLINE_PROMETHEUS_URL=prom.url,
                             FAULTLINE_COLLECTED_DIR=str(collected), FAULTLINE_PROMETHEUS_STEP_S=step,
                             FAULTLINE_BASELINE_STEP_S=step, FAULTLINE_BASELINE="24h")
    incident = case.incident
    with server.client() as client:
        assert client.get("/healthz").json()["backend"] == "live:neo4j"
        response = client.post("/v1/insights", json={
            "symptom": incident.symptom, "at": incident.at.isoformat(), "metric": incident.metric,
            "lookback": f"{int(incident.lookback.total_seconds())}s", "title": incident.title})
        assert response.status_code in (200, 202), response.text
    insight = server.wait_insight(response.json()["id"], timeout_s=240)
    assert insight["status"] == "done", insight.get("error")
    return insight


def _assert_same(live: dict, expected: dict) -> None:
    assert live["partial"] == [], live["partial"]
    got = live["candidates"][:5]
    want = expected["candidates"][:5]
    assert [c["entity"] for c in got] == [c["entity"] for c in want]
    for g, w in zip(got, want):
        assert _evidence(g) == _evidence(w), g["entity"]
        assert g["score"] == pytest.approx(w["score"], rel=1e-9, abs=1e-12)
        assert g["chain"] == w["chain"]


@pytest.mark.parametrize("seed", GENERATED_SEEDS)
def test_generated_case_live_equals_analyze(seed: int, tmp_path: Path, prometheus_factory, neo4j_empty,
                                            start_faultline) -> None:
    case_dir = write_case(generate(spec_for(seed)), tmp_path / f"case-{seed}", with_truth=False)
    expected = analyze_json(case_dir)
    live = _live_insight(case_dir, tmp_path, prometheus_factory, neo4j_empty, start_faultline)
    _assert_same(live, expected)


def test_real_case_live_equals_analyze(tmp_path: Path, prometheus_factory, neo4j_empty, start_faultline) -> None:
    expected = analyze_json(REAL_CASE)
    live = _live_insight(REAL_CASE, tmp_path, prometheus_factory, neo4j_empty, start_faultline)
    _assert_same(live, expected)
