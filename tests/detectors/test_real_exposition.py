"""The catalogue against real exposition: ``prometheus_client`` exporters with vLLM, DCGM and OpenTelemetry names and
labels, scraped by a real Prometheus in the classic text format and in OpenMetrics, read back per entity.

OpenMetrics as ``prometheus_client`` writes it turns ``vllm:num_requests_waiting`` into ``vllm_num_requests_waiting``;
both forms must land on the same metrics. The DCGM exporter is scraped as a Kubernetes target, so the pod it reports a
GPU for arrives as ``exported_pod``; the OpenTelemetry collector puts the service in ``job``, which Prometheus keeps as
``exported_job``; a service scraped directly carries its name in the target's ``job``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from prometheus_client import Counter, Gauge, Histogram

from detectors.roles import Role, default_catalogue
from detectors.sources import PrometheusConfig, PrometheusSource
from tests.servers.client_exporter import ClientExporter

pytestmark = pytest.mark.integration

SCRAPE_S = 12.0
NEIGHBOURHOOD = {"pod:prod/vllm-0", "llm:deepseek-r1", "gpu:gpu-node-1/0", "app:chat", "app:rag"}


def _vllm(fmt: str) -> tuple[ClientExporter, callable]:
    exp = ClientExporter(fmt=fmt)
    r, m = exp.registry, ["model_name"]
    ttft = Histogram("vllm:time_to_first_token_seconds", "ttft", m, registry=r, buckets=(0.1, 0.25, 0.5, 1, 2.5))
    e2e = Histogram("vllm:e2e_request_latency_seconds", "e2e", m, registry=r, buckets=(0.5, 1, 2.5, 5, 10))
    queue = Histogram("vllm:request_queue_time_seconds", "queue", m, registry=r, buckets=(0.01, 0.1, 1))
    waiting = Gauge("vllm:num_requests_waiting", "waiting", m, registry=r)
    kv = Gauge("vllm:kv_cache_usage_perc", "kv", m, registry=r)
    preempt = Counter("vllm:num_preemptions", "preemptions", m, registry=r)
    success = Counter("vllm:request_success", "finished", [*m, "finished_reason"], registry=r)
    hits = Counter("vllm:prefix_cache_hits", "hits", m, registry=r)
    queries = Counter("vllm:prefix_cache_queries", "queries", m, registry=r)
    http = Counter("http_requests", "instrumentator", ["handler", "method", "status"], registry=r)

    def tick(i: int) -> None:
        for _ in range(10):
            ttft.labels("deepseek-r1").observe(0.3)
            e2e.labels("deepseek-r1").observe(2.0)
            queue.labels("deepseek-r1").observe(0.05)
        waiting.labels("deepseek-r1").set(4)
        kv.labels("deepseek-r1").set(0.6)
        preempt.labels("deepseek-r1").inc(2)
        success.labels("deepseek-r1", "stop").inc(9)
        success.labels("deepseek-r1", "abort").inc(1)
        queries.labels("deepseek-r1").inc(100)
        hits.labels("deepseek-r1").inc(25)
        http.labels("/v1/chat/completions", "POST", "2xx").inc(9)
        http.labels("/v1/chat/completions", "POST", "5xx").inc(1)
    return exp, tick


def _dcgm(fmt: str) -> tuple[ClientExporter, callable]:
    exp = ClientExporter(fmt=fmt)
    labels = ["gpu", "UUID", "device", "modelName", "Hostname", "container", "namespace", "pod"]
    values = ["0", "GPU-6f1c", "nvidia0", "NVIDIA H100 80GB HBM3", "gpu-node-1", "vllm", "prod", "vllm-0"]
    gauges = {name: Gauge(name, name, labels, registry=exp.registry).labels(*values) for name in (
        "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER")}

    def tick(i: int) -> None:
        gauges["DCGM_FI_DEV_GPU_UTIL"].set(87)
        gauges["DCGM_FI_DEV_FB_FREE"].set(2048)
        gauges["DCGM_FI_DEV_XID_ERRORS"].set(79 if i >= 4 else 0)  # the GPU fell off the bus mid-test
        gauges["DCGM_FI_DEV_ROW_REMAP_FAILURE"].set(0)
        gauges["DCGM_FI_PROF_GR_ENGINE_ACTIVE"].set(0.83)
        gauges["DCGM_FI_DEV_PCIE_REPLAY_COUNTER"].set(3)
    return exp, tick


def _otel_collector(fmt: str) -> tuple[ClientExporter, callable]:
    """What the OpenTelemetry collector's Prometheus exporter exposes: the service in ``job`` on every sample."""
    exp = ClientExporter(fmt=fmt)
    http = Histogram("http_server_request_duration_seconds", "otel http", ["job", "http_request_method",
                                                                            "http_response_status_code"],
                     registry=exp.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5))
    genai = Histogram("gen_ai_client_operation_duration_seconds", "otel genai",
                      ["job", "gen_ai_operation_name", "gen_ai_request_model", "gen_ai_system"],
                      registry=exp.registry, buckets=(0.5, 1, 2.5, 5, 10))

    def tick(i: int) -> None:
        for _ in range(20):
            http.labels("chat", "POST", "200").observe(0.04)
        genai.labels("chat", "chat", "deepseek-r1", "openai").observe(2.2)
    return exp, tick


def _otel_old_semconv(fmt: str) -> tuple[ClientExporter, callable]:
    """A service on the old HTTP conventions (milliseconds), scraped directly: its name is the target's job."""
    exp = ClientExporter(fmt=fmt)
    http = Histogram("http_server_duration_milliseconds", "old otel http", ["http_method", "http_status_code"],
                     registry=exp.registry, buckets=(5, 10, 25, 50, 75, 100, 250, 500))

    def tick(i: int) -> None:
        for _ in range(18):
            http.labels("GET", "200").observe(120)
        for _ in range(2):
            http.labels("GET", "503").observe(120)
    return exp, tick


def _series(result, entity: str, metric: str) -> np.ndarray:
    mask = (result.samples.entities == entity) & (result.samples.metrics == metric)
    return result.samples.values[mask][np.argsort(result.samples.times[mask])]


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_catalogue_maps_real_exposition(fmt: str, prometheus_factory) -> None:
    exporters = [_vllm(fmt), _dcgm(fmt), _otel_collector(fmt), _otel_old_semconv(fmt)]
    addresses = [e.start() for e, _ in exporters]
    try:
        targets = {
            addresses[0]: {"namespace": "prod", "pod": "vllm-0"},  # the vLLM pod itself
            addresses[1]: {"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-x7k2p"},  # the exporter's pod
            addresses[2]: {"namespace": "observability", "pod": "otel-collector-0"},
            addresses[3]: {"job": "rag"},
        }
        prom = prometheus_factory(targets)
        started = time.time()
        i = 0
        while time.time() - started < SCRAPE_S:
            for _, tick in exporters:
                tick(i)
            i += 1
            time.sleep(1.0)
        stored = {s["metric"]["__name__"] for s in prom.query('{__name__=~"vllm.num_requests_waiting"}')}
        end = datetime.now(timezone.utc)
        source = PrometheusSource(prom.url, config=PrometheusConfig(step_s=1, rate_window="5s", names_ttl_s=0))
        result = source.read(end - timedelta(seconds=SCRAPE_S - 2), end, entities=NEIGHBOURHOOD)
    finally:
        for exporter, _ in exporters:
            exporter.stop()

    # prometheus_client's OpenMetrics writes the colon as an underscore; the text format keeps it.
    assert stored == ({"vllm_num_requests_waiting"} if fmt == "openmetrics" else {"vllm:num_requests_waiting"})
    assert not result.problems, result.problems
    keys = result.samples.series_keys()

    # vLLM, per pod (the target's pod), in either name form.
    vllm = "pod:prod/vllm-0"
    assert 0.25 < np.nanmedian(_series(result, vllm, "ttft_p95_s")) <= 0.5  # 0.3 s falls in the (0.25, 0.5] bucket
    assert np.nanmedian(_series(result, vllm, "latency_p95_s")) > 1.0
    assert np.nanmax(_series(result, vllm, "queue_len")) == 4
    assert np.nanmax(_series(result, vllm, "kv_cache_usage")) == pytest.approx(0.6)
    assert np.nanmedian(_series(result, vllm, "preemptions_per_s")) == pytest.approx(2.0, rel=0.35)
    assert np.nanmedian(_series(result, vllm, "aborted_ratio")) == pytest.approx(0.1, rel=0.1)
    assert np.nanmedian(_series(result, vllm, "prefix_cache_hit_rate")) == pytest.approx(0.25, rel=0.05)
    assert np.nanmedian(_series(result, vllm, "queue_time_p95_s")) < 0.1
    # vLLM's own HTTP metrics (prometheus-fastapi-instrumentator: status="5xx").
    assert np.nanmedian(_series(result, vllm, "error_rate")) == pytest.approx(0.1, rel=0.1)
    # The model as a whole gets its own series too (one replica here: the same values), never instead of the pod's.
    assert np.nanmax(_series(result, "llm:deepseek-r1", "queue_len")) == 4
    assert ("llm:deepseek-r1", "ttft_p95_s") in keys and (vllm, "ttft_p95_s") in keys

    # DCGM: the GPU by Hostname/gpu, although the exporter's own pod is the scrape target.
    gpu = "gpu:gpu-node-1/0"
    assert np.nanmax(_series(result, gpu, "gpu_util")) == 87
    assert np.nanmax(_series(result, gpu, "gpu_fb_free_mib")) == 2048
    assert np.nanmax(_series(result, gpu, "gpu_engine_active")) == pytest.approx(0.83)
    assert np.nanmax(_series(result, gpu, "gpu_pcie_replays")) == 3
    assert (gpu, "gpu_row_remap_failure") in keys
    assert [(e.entity, e.reason, e.message) for e in result.events] == [(gpu, "XidError", "GPU Xid error 79")]

    # OpenTelemetry: service in the collector's job label (exported_job), and in a direct target's job.
    assert np.nanmedian(_series(result, "app:chat", "rps")) == pytest.approx(20.0, rel=0.35)
    assert np.nanmax(_series(result, "app:chat", "error_rate")) == 0.0
    assert 0.025 < np.nanmedian(_series(result, "app:chat", "latency_p95_s")) <= 0.05
    assert np.nanmedian(_series(result, "app:chat", "genai_latency_p95_s[llm:deepseek-r1]")) > 2.0
    assert 0.1 < np.nanmedian(_series(result, "app:rag", "latency_p95_s")) <= 0.25  # milliseconds read as seconds
    assert np.nanmedian(_series(result, "app:rag", "error_rate")) == pytest.approx(0.1, rel=0.1)

    # Every family whose metrics Prometheus has gave series; the rest were not asked.
    assert result.empty_families == ()
    assert "kube-state-metrics restarts (query)" in result.absent

    catalogue = default_catalogue()
    assert catalogue.lookup("gpu_fb_free_mib").direction == "down"
    assert catalogue.lookup("aborted_ratio").role is Role.ERRORS
