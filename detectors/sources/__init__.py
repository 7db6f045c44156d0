"""Metric and event sources: Prometheus, OpenTelemetry traces, Kubernetes events and container states."""

from .kubernetes_events import events_from_snapshot, restart_samples
from .prometheus import DEFAULT_QUERIES, PrometheusConfig, PrometheusResult, PrometheusSource, PromQuery, entity_for
from .samples import Samples
from .traces import trace_samples

__all__ = [
    "DEFAULT_QUERIES", "PromQuery", "PrometheusConfig", "PrometheusResult", "PrometheusSource", "Samples",
    "entity_for", "events_from_snapshot", "restart_samples", "trace_samples",
]
