"""Metric and event sources: Prometheus, OpenTelemetry traces, Kubernetes events and container states."""

from .kubernetes_events import events_from_snapshot, restart_samples
from .prometheus import PrometheusConfig, PrometheusResult, PrometheusSource
from .promql import PromQuery, catalogue_queries, entity_for
from .samples import Samples
from .traces import trace_samples

__all__ = [
    "PromQuery", "catalogue_queries", "PrometheusConfig", "PrometheusResult", "PrometheusSource", "Samples",
    "entity_for", "events_from_snapshot", "restart_samples", "trace_samples",
]
