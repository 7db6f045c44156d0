"""``faultline collect`` and ``/healthz`` say when a metric family's data is there but faultline cannot use it.

The Prometheus holds: vLLM TTFT per pod (fine), a vLLM queue gauge without any label an entity rule could use (its
series fit no rule), and cAdvisor CPU only as the pod cgroup's total (``container=""``, which the family leaves out so
containers are not counted twice: the query returns nothing). Both must be reported, by name, while the fine family is
not; DCGM, which the Prometheus does not have at all, is no warning (that exporter is simply not installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detectors.sources import PrometheusSource
from tests.servers.exporter import HistorySeries, histogram_history, openmetrics_history
from topology.memory_store import MemoryStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "vllm/sglang waiting requests (query)"
CPU = "cadvisor cpu (query)"
TTFT = "vllm/sglang time to first token (query)"


def _history(now: float) -> str:
    times = np.arange(now - 1200, now + 1, 15.0)
    series = histogram_history("vllm:time_to_first_token_seconds", {"namespace": "prod", "pod": "vllm-0",
                                                                     "model_name": "m"}, [(t, 0.2, 5) for t in times])
    series.append(HistorySeries("vllm_num_requests_waiting", {"engine": "0"}, [(t, 3.0) for t in times]))
    series.append(HistorySeries("container_cpu_usage_seconds_total", {"namespace": "prod", "pod": "vllm-0",
                                                                       "container": ""},
                                [(t, t - times[0]) for t in times]))
    return openmetrics_history(series)


@pytest.fixture
def prom(prometheus_factory):
    return prometheus_factory(backfill=_history(time.time()))


def test_check_families_names_the_mismatches(prom) -> None:
    check = PrometheusSource(prom.url).check_families()
    assert check.counts[TTFT] == 1
    assert CPU in check.empty and QUEUE in check.unnamed and check.unnamed[QUEUE] == {}
    assert "dcgm dcgm_fi_dev_gpu_util (query)" in check.absent
    text = "\n".join(check.warnings())
    assert CPU in text and QUEUE in text and TTFT not in text and "dcgm" not in text


def test_collect_warns_instead_of_printing_ok(prom, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
    done = subprocess.run([sys.executable, "-m", "api.cli", "collect", "--prometheus", prom.url, "--lookback", "10m",
                           "--out", str(tmp_path / "out"), "--graph", str(tmp_path / "graph.json"), "--json"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    (source,) = json.loads(done.stdout.splitlines()[-1])["sources"]
    warnings = [s for s in source["skipped"] if s.startswith("warning:")]
    assert any(CPU in w for w in warnings), source["skipped"]
    assert any(QUEUE in s and "no entity rule fits" in s for s in source["skipped"])
    assert source["counts"]["series"] >= 1 and not any(TTFT in s for s in source["skipped"])


def test_healthz_lists_the_warnings(prom, start_faultline, tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "graph.json")
    store.close()
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"),
                             FAULTLINE_PROMETHEUS_URL=prom.url)
    deadline = time.monotonic() + 30
    with server.client() as client:
        while True:
            metrics = client.get("/healthz").json().get("metrics") or {}
            if metrics.get("state") == "checked" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert metrics["state"] == "checked", metrics
    assert metrics["families_with_series"] >= 1
    assert any(CPU in w for w in metrics["warnings"]) and any(QUEUE in w for w in metrics["warnings"])
    assert "no series" in server.log() and CPU in server.log()
