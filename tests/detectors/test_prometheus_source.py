"""The Prometheus source against a real Prometheus: backfilled vLLM/SGLang/DCGM history and a live scrape."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from detectors.exceptions import MetricSourceUnavailableError
from detectors.sources import PrometheusConfig, PrometheusSource, PromQuery
from tests.servers.common import free_port
from tests.servers.exporter import HistorySeries, histogram_history, openmetrics_history

pytestmark = pytest.mark.integration

STEP_AT_MIN = 10  # the fault starts this many minutes before "now"


def _history(now: float) -> str:
    times = np.arange(now - 1800, now - 5, 15.0)
    faulty = times >= now - STEP_AT_MIN * 60
    series: list[HistorySeries] = []
    # vLLM, new metric names, model "deepseek-r1": TTFT and queue jump at the fault.
    labels = {"model_name": "deepseek-r1", "pod": "vllm-0", "namespace": "prod"}
    series += histogram_history("vllm:time_to_first_token_seconds", labels,
                                [(t, 2.0 if f else 0.2, 30) for t, f in zip(times, faulty)])
    series += histogram_history("vllm:inter_token_latency_seconds", labels, [(t, 0.02, 900) for t in times])
    series.append(HistorySeries("vllm:num_requests_waiting", labels,
                                [(t, 40.0 if f else 1.0) for t, f in zip(times, faulty)]))
    series.append(HistorySeries("vllm:kv_cache_usage_perc", labels, [(t, 0.5) for t in times]))
    series.append(HistorySeries("vllm:generation_tokens_total", labels,
                                [(t, 100.0 * i) for i, t in enumerate(times)]))
    # vLLM, old names, model "qwen2.5-72b".
    old = {"model_name": "qwen2.5-72b"}
    series += histogram_history("vllm:time_per_output_token_seconds", old, [(t, 0.04, 500) for t in times])
    series.append(HistorySeries("vllm:gpu_cache_usage_perc", old, [(t, 0.8) for t in times]))
    # SGLang, model "llama3.1-70b".
    sg = {"model_name": "llama3.1-70b"}
    series.append(HistorySeries("sglang:num_queue_reqs", sg, [(t, 3.0) for t in times]))
    series.append(HistorySeries("sglang:token_usage", sg, [(t, 0.3) for t in times]))
    # A vLLM series without model_name: no entity rule fits it.
    series.append(HistorySeries("vllm:num_requests_running", {"pod": "mystery"}, [(t, 2.0) for t in times]))
    # DCGM, two GPUs of one node.
    for gpu in ("0", "1"):
        g = {"gpu": gpu, "UUID": f"GPU-{gpu}aaa", "Hostname": "gpu-node-1", "modelName": "NVIDIA H100",
             "exported_pod": "vllm-0", "exported_namespace": "prod"}
        series.append(HistorySeries("DCGM_FI_DEV_GPU_UTIL", g, [(t, 95.0 if gpu == "0" else 10.0) for t in times]))
        series.append(HistorySeries("DCGM_FI_DEV_GPU_TEMP", g, [(t, 70.0) for t in times]))
    # RED, OpenTelemetry HTTP server metric names.
    red = {"service_name": "chat", "http_response_status_code": "200"}
    series += histogram_history("http_server_request_duration_seconds", red,
                                [(t, 3.0 if f else 0.5, 20) for t, f in zip(times, faulty)])
    return openmetrics_history(series)


@pytest.fixture(scope="module")
def backfilled(request):
    now = time.time()
    return now, _history(now)


def _series(result, entity: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    mask = (result.samples.entities == entity) & (result.samples.metrics == metric)
    order = np.argsort(result.samples.times[mask])
    return result.samples.times[mask][order], result.samples.values[mask][order]


def test_backfilled_vllm_sglang_dcgm_red(prometheus_factory, backfilled, caplog):
    now, history = backfilled
    prom = prometheus_factory(backfill=history)
    caplog.set_level(logging.WARNING)
    end = datetime.fromtimestamp(now, timezone.utc)
    result = PrometheusSource(prom.url, config=PrometheusConfig(step_s=30)).read(end - timedelta(minutes=25), end)

    # Scraped in Kubernetes (pod and namespace labels): the series stay per pod, never summed over replicas.
    times, ttft = _series(result, "pod:prod/vllm-0", "ttft_p95_s")
    before, after = ttft[times < now - (STEP_AT_MIN + 3) * 60], ttft[times > now - (STEP_AT_MIN - 3) * 60]
    assert np.nanmedian(before) < 0.3 and np.nanmedian(after) > 1.0
    _, queue = _series(result, "pod:prod/vllm-0", "queue_len")
    assert queue[0] == 1.0 and queue[-1] == 40.0
    assert np.nanmax(_series(result, "pod:prod/vllm-0", "tpot_p95_s")[1]) < 0.05
    assert np.allclose(_series(result, "pod:prod/vllm-0", "tokens_per_s")[1], 100 / 15, rtol=0.05)
    # ... and the model as a whole beside them (what an alert on the model measures).
    assert np.allclose(_series(result, "llm:deepseek-r1", "queue_len")[1][[0, -1]], [1.0, 40.0])
    # Old vLLM names read into the same metrics; without pod labels the model names the entity.
    assert np.allclose(_series(result, "llm:qwen2.5-72b", "kv_cache_usage")[1], 0.8)
    assert np.nanmax(_series(result, "llm:qwen2.5-72b", "tpot_p95_s")[1]) < 0.05
    # SGLang.
    assert np.allclose(_series(result, "llm:llama3.1-70b", "queue_len")[1], 3.0)
    assert np.allclose(_series(result, "llm:llama3.1-70b", "kv_cache_usage")[1], 0.3)
    # DCGM per GPU, named like the Kubernetes collector names GPUs.
    assert np.allclose(_series(result, "gpu:gpu-node-1/0", "gpu_util")[1], 95.0)
    assert np.allclose(_series(result, "gpu:gpu-node-1/1", "gpu_util")[1], 10.0)
    # RED from OpenTelemetry HTTP metrics.
    times, latency = _series(result, "app:chat", "latency_p95_s")
    assert np.nanmedian(latency[times > now - (STEP_AT_MIN - 3) * 60]) > 2.0
    # No 5xx at all is an error rate of 0, not a missing series.
    _, errors = _series(result, "app:chat", "error_rate")
    assert np.isfinite(errors).sum() > 10 and np.nanmax(errors) == 0.0
    # The series without namespace or model_name was reported and skipped; nothing else was.
    unmapped = [p for p in result.problems if "no entity rule" in p.reason]
    assert len(unmapped) == 1 and unmapped[0].where == "vllm/sglang running requests (query)", result.problems
    assert "no entity rule fits labels {'pod': 'mystery'}" in caplog.text
    # Families Prometheus has no metric of were not asked; every family it has answered.
    assert "dcgm dcgm_fi_dev_gpu_util (query)" in result.families
    assert "kube-state-metrics restarts (query)" in result.absent
    assert result.queries_ok == len(result.families) and not result.timed_out


def test_live_scrape_dcgm_exported_pod_and_xid_events(prometheus_factory, metrics_exporter):
    labels = {"gpu": "0", "UUID": "GPU-0aaa", "Hostname": "gpu-node-1", "pod": "vllm-0", "namespace": "prod"}
    metrics_exporter.set_gauge("DCGM_FI_DEV_XID_ERRORS", labels, 0)
    metrics_exporter.set_gauge("DCGM_FI_DEV_GPU_UTIL", labels, 50)
    # The exporter is scraped as a Kubernetes target: its own pod label makes the GPU's pod "exported_pod".
    prom = prometheus_factory({metrics_exporter.address: {"pod": "dcgm-exporter-7xk2p", "namespace": "gpu-operator"}})
    series = prom.wait_for("DCGM_FI_DEV_XID_ERRORS")
    assert series[0]["metric"]["exported_pod"] == "vllm-0"
    start = datetime.now(timezone.utc)
    time.sleep(3)
    metrics_exporter.set_gauge("DCGM_FI_DEV_XID_ERRORS", labels, 79)  # "GPU has fallen off the bus"
    prom.wait_for("DCGM_FI_DEV_XID_ERRORS == 79")
    time.sleep(2)
    end = datetime.now(timezone.utc)
    result = PrometheusSource(prom.url, config=PrometheusConfig(step_s=1)).read(start, end)
    _, util = _series(result, "gpu:gpu-node-1/0", "gpu_util")
    assert len(util) >= 3 and np.allclose(util, 50)
    assert [(e.entity, e.reason, e.message) for e in result.events] == [
        ("gpu:gpu-node-1/0", "XidError", "GPU Xid error 79")]
    # The pod label dcgm-exporter puts on each GPU says which pod holds it (not the exporter's own pod label).
    assert PrometheusSource(prom.url).gpu_pods(end) == {"pod:prod/vllm-0": ["gpu:gpu-node-1/0"]}


def test_a_bad_query_is_reported_and_the_others_still_answer(prometheus_factory, backfilled):
    now, history = backfilled
    prom = prometheus_factory(backfill=history)
    config = PrometheusConfig(queries=(
        PromQuery(metric="broken", promql="sum by (model_name (vllm:num_requests_waiting{$sel}",
                  entities=("llm:{model_name}",)),
        PromQuery(metric="queue_len", promql="sum by (model_name) (vllm:num_requests_waiting)",
                  entities=("llm:{model_name}",)),
    ))
    end = datetime.fromtimestamp(now, timezone.utc)
    result = PrometheusSource(prom.url, config=config).read(end - timedelta(minutes=5), end)
    assert result.queries_ok == 1
    assert [p.where for p in result.problems] == ["broken (window)"]
    assert "HTTP 400 bad_data" in result.problems[0].reason
    assert ("llm:deepseek-r1", "queue_len") in result.samples.series_keys()


def test_unreachable_prometheus_is_a_source_error():
    url = f"http://127.0.0.1:{free_port()}"
    end = datetime.now(timezone.utc)
    with pytest.raises(MetricSourceUnavailableError, match="ConnectError"):
        PrometheusSource(url).read(end - timedelta(minutes=5), end)


def _kubernetes_history(now: float) -> str:
    """kubelet/cAdvisor, kube-state-metrics and node-exporter series as kube-prometheus-stack stores them."""
    times = np.arange(now - 1800, now - 5, 15.0)
    oom = times >= now - STEP_AT_MIN * 60
    series: list[HistorySeries] = []
    kubelet = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": "node-1", "namespace": "prod",
               "pod": "rag-0"}
    for container, cores in (("rag", 0.5), ("sidecar", 0.1)):
        labels = {**kubelet, "container": container}
        series.append(HistorySeries("container_cpu_usage_seconds_total", labels,
                                    [(t, cores * (t - times[0])) for t in times]))
        series.append(HistorySeries("container_memory_working_set_bytes", labels, [(t, 1e9 * cores) for t in times]))
        series.append(HistorySeries("container_cpu_cfs_periods_total", labels, [(t, 10.0 * (t - times[0])) for t in times]))
        series.append(HistorySeries("container_cpu_cfs_throttled_periods_total", labels,
                                    [(t, (5.0 if container == "rag" else 0.0) * (t - times[0])) for t in times]))
    # the pod's cgroup (container="") and the pause container: counted once already, never twice
    series.append(HistorySeries("container_cpu_usage_seconds_total", {**kubelet, "container": ""},
                                [(t, 0.6 * (t - times[0])) for t in times]))
    series.append(HistorySeries("container_memory_working_set_bytes", {**kubelet, "container": "POD"},
                                [(t, 1e6) for t in times]))
    ksm = {"job": "kube-state-metrics", "namespace": "prod", "pod": "rag-0", "container": "rag", "uid": "u1"}
    series.append(HistorySeries("kube_pod_container_status_restarts_total", ksm,
                                [(t, 3.0 if o else 2.0) for t, o in zip(times, oom)]))
    series.append(HistorySeries("kube_pod_container_status_last_terminated_reason", {**ksm, "reason": "OOMKilled"},
                                [(t, 1.0) for t in times[oom]]))
    series.append(HistorySeries("kube_pod_status_ready", {**ksm, "condition": "true"}, [(t, 1.0) for t in times]))
    node = {"job": "node-exporter", "instance": "node-1"}
    for cpu in ("0", "1"):
        series.append(HistorySeries("node_cpu_seconds_total", {**node, "cpu": cpu, "mode": "idle"},
                                    [(t, 0.25 * (t - times[0])) for t in times]))
    series.append(HistorySeries("node_memory_MemAvailable_bytes", node, [(t, 4e9) for t in times]))
    series.append(HistorySeries("node_memory_MemTotal_bytes", node, [(t, 16e9) for t in times]))
    return openmetrics_history(series)


def test_cadvisor_kube_state_metrics_and_node_exporter(prometheus_factory):
    now = time.time()
    prom = prometheus_factory(backfill=_kubernetes_history(now))
    end = datetime.fromtimestamp(now, timezone.utc)
    result = PrometheusSource(prom.url, config=PrometheusConfig(step_s=30)).read(
        end - timedelta(minutes=25), end, entities={"pod:prod/rag-0", "node:node-1"})
    assert not result.problems, result.problems
    pod = "pod:prod/rag-0"
    assert np.allclose(_series(result, pod, "cpu_usage")[1], 0.6, rtol=0.02)  # rag + sidecar, not the cgroup total
    assert np.allclose(_series(result, pod, "mem_bytes")[1], 0.6e9)  # without the pause container
    assert np.allclose(_series(result, pod, "cpu_throttled_ratio")[1], 0.25, rtol=0.02)
    times, restarts = _series(result, pod, "restarts")
    assert restarts[0] == 2 and restarts[-1] == 3
    times, oom = _series(result, pod, "oom_killed")
    assert oom[0] == 0 and oom[-1] == 1, "0 before the OOM kill (not missing), 1 after"
    assert np.all(_series(result, pod, "not_ready")[1] == 0)
    assert np.allclose(_series(result, "node:node-1", "cpu_usage")[1], 0.75, rtol=0.02)
    assert np.allclose(_series(result, "node:node-1", "mem_usage")[1], 0.75)
