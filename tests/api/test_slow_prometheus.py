"""A hanging Prometheus costs an insight at most its deadline and never blocks the others.

A real Prometheus sits behind a real HTTP proxy that holds the picked requests for 30 s (``tests/servers/slow_proxy``).
The source must return by its one deadline with what answered, report what did not, and close the held connections
(cancellation, seen by the proxy as the client hanging up); the server must finish every insight of a burst with the
late metrics listed in ``partial``, well before the hang would have ended.
"""

from __future__ import annotations

import csv
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from correlators.case_files import load_case
from detectors.sources import PrometheusConfig, PrometheusSource
from tests.servers.exporter import HistorySeries, histogram_history, openmetrics_history
from tests.servers.live_case import case_openmetrics
from tests.servers.slow_proxy import SlowProxy
from topology.memory_store import MemoryStore

pytestmark = pytest.mark.integration

HANG_S = 30.0


def _vllm_and_dcgm(now: float) -> str:
    times = np.arange(now - 3 * 3600, now - 5, 30.0)
    pod = {"model_name": "m", "namespace": "prod", "pod": "vllm-0"}
    series = histogram_history("vllm:time_to_first_token_seconds", pod, [(t, 0.2, 10) for t in times])
    series.append(HistorySeries("vllm:num_requests_waiting", pod, [(t, 2.0) for t in times]))
    gpu = {"gpu": "0", "Hostname": "node-1", "UUID": "GPU-0"}
    series.append(HistorySeries("DCGM_FI_DEV_GPU_UTIL", gpu, [(t, 50.0) for t in times]))
    series.append(HistorySeries("DCGM_FI_DEV_FB_FREE", gpu, [(t, 4000.0) for t in times]))
    return openmetrics_history(series)


def test_one_deadline_cancels_what_hangs_and_keeps_what_answered(prometheus_factory) -> None:
    now = time.time()
    prom = prometheus_factory(backfill=_vllm_and_dcgm(now))
    proxy = SlowProxy(prom.url, delay_s=HANG_S, pick=lambda path, body: b"DCGM" in body).start()
    try:
        source = PrometheusSource(proxy.url, config=PrometheusConfig(step_s=30, deadline_s=2.0))
        end = datetime.fromtimestamp(now, timezone.utc)
        started = time.monotonic()
        result = source.read(end - timedelta(minutes=30), end, entities={"pod:prod/vllm-0", "gpu:node-1/0"},
                             history_s=2 * 3600, recent_s=1800)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0 + 1.5, f"the read took {elapsed:.1f} s with a 2 s deadline"
        late = sorted(p.where for p in result.problems if "deadline" in p.reason)
        assert late == ["dcgm dcgm_fi_dev_fb_free (query) (history)", "dcgm dcgm_fi_dev_fb_free (query) (window)",
                        "dcgm dcgm_fi_dev_gpu_util (query) (history)", "dcgm dcgm_fi_dev_gpu_util (query) (window)"]
        assert result.timed_out == 4
        keys = result.samples.series_keys()
        assert ("pod:prod/vllm-0", "queue_len") in keys and ("pod:prod/vllm-0", "ttft_p95_s") in keys
        assert not any(entity.startswith("gpu:") for entity, _ in keys)
        deadline = time.monotonic() + 3
        while proxy.abandoned < proxy.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.held == 4 and proxy.abandoned == 4, "cancelled queries must close their connections"
    finally:
        proxy.stop()


def _demo_metrics_rows(case_dir: Path) -> list[dict]:
    with open(case_dir / "metrics.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_hanging_prometheus_blocks_no_insight(prometheus_factory, demo_case_dir: Path, start_faultline,
                                                tmp_path: Path) -> None:
    case = load_case(demo_case_dir)
    prom = prometheus_factory(backfill=case_openmetrics(case))
    proxy = SlowProxy(prom.url, delay_s=HANG_S).start()  # every query_range hangs for 30 s
    store = MemoryStore(tmp_path / "graph.json")
    store.upsert_entities(case.entities)
    store.upsert_relations(case.relations)
    store.close()
    try:
        server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"),
                                 FAULTLINE_PROMETHEUS_URL=proxy.url, FAULTLINE_PROMETHEUS_DEADLINE_S="3",
                                 FAULTLINE_MAX_CONCURRENT_INSIGHTS="2", FAULTLINE_INSIGHT_TIMEOUT_S="60")
        incident = case.incident
        started = time.monotonic()
        with server.client() as client:
            ids = []
            for _ in range(4):  # an alert storm: twice as many insights as worker slots
                r = client.post("/v1/insights", json={"symptom": incident.symptom, "at": incident.at.isoformat(),
                                                      "metric": incident.metric})
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            inline = {"topology": {"entities": [e.model_dump(mode="json") for e in case.entities],
                                   "relations": [r.model_dump(mode="json") for r in case.relations]},
                      "metrics": _demo_metrics_rows(demo_case_dir),
                      "incident": incident.model_dump(mode="json")}
            inline["incident"]["lookback"] = f"{int(incident.lookback.total_seconds())}s"
            r = client.post("/v1/insights", json={"case": inline})
            assert r.status_code == 202, r.text
            inline_id = r.json()["id"]
        done = [server.wait_insight(i, timeout_s=HANG_S) for i in ids]
        storm_s = time.monotonic() - started
        other = server.wait_insight(inline_id, timeout_s=HANG_S)
        other_s = time.monotonic() - started
    finally:
        proxy.stop()
    print(f"storm of 4 insights: {storm_s:.1f} s; inline insight done after {other_s:.1f} s")
    assert all(d["status"] == "done" for d in done), [d.get("error") for d in done]
    for d in done:
        assert any("deadline" in p for p in d["partial"]), d["partial"]
    # 4 insights on 2 slots, each read bounded by 3 s: two rounds of ~3 s plus analysis, not 30 s of hanging.
    assert storm_s < 20, f"the storm took {storm_s:.1f} s"
    assert other["status"] == "done" and other["partial"] == []
    assert other_s < 25, f"an insight that needs no Prometheus waited {other_s:.1f} s"
    assert proxy.abandoned >= 4
