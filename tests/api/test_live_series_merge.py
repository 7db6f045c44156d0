"""Live backend with Prometheus *and* a collected directory: series only the collectors know (trace-derived latency,
restart counts) are kept beside Prometheus's instead of being replaced by them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from api.services.backend import LiveBackend
from detectors.sources import PrometheusConfig, PrometheusSource
from detectors.sources.samples import Samples
from tests.servers.exporter import HistorySeries, openmetrics_history
from topology.memory_store import MemoryStore

pytestmark = pytest.mark.integration


def test_prometheus_and_collected_series_are_merged(prometheus_factory, tmp_path: Path) -> None:
    now = time.time()
    times = np.arange(now - 1200, now - 5, 15.0)
    labels = {"model_name": "deepseek-r1", "pod": "vllm-0", "namespace": "prod"}
    prom = prometheus_factory(backfill=openmetrics_history(
        [HistorySeries("vllm:num_requests_waiting", labels, [(t, 3.0) for t in times])]))
    source = PrometheusSource(prom.url, config=PrometheusConfig(step_s=15))
    end = datetime.fromtimestamp(now, tz=timezone.utc)
    start = end - timedelta(minutes=15)
    from_prometheus = source.read(start, end).samples
    assert len(from_prometheus), "Prometheus must answer the backfilled series"
    prom_keys = from_prometheus.series_keys()
    prom_entity, prom_metric = sorted(prom_keys)[0]

    collected = tmp_path / "collected"
    collected.mkdir()
    Samples.concat([
        Samples.of(times, "app:chat", "latency_p95_s", np.full(times.size, 1.5)),  # only the trace collector has it
        Samples.of(times, prom_entity, prom_metric, np.full(times.size, 999.0)),  # both have it: Prometheus wins
    ]).write_csv(collected / "metrics.csv")

    backend = LiveBackend(MemoryStore(), prometheus=source, collected_dir=collected, step_s=15)
    window = backend.window({"app:chat", prom_entity}, start, end)
    keys = {(k.entity, k.metric) for k in window.series.keys}
    assert ("app:chat", "latency_p95_s") in keys
    assert (prom_entity, prom_metric) in keys
    from detectors.models import SeriesKey

    merged = window.series.row(SeriesKey(prom_entity, prom_metric))
    assert np.nanmax(merged) < 999.0
