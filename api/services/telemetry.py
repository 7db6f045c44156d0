"""Prometheus metrics of one app instance, on its own registry (several apps in one test process do not collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.insights = Counter("faultline_insights", "Insights finished, by outcome", ["outcome"],
                                registry=self.registry)
        self.failures = Counter("faultline_insight_failures", "Insights that failed, by reason", ["reason"],
                                registry=self.registry)
        self.latency = Histogram("faultline_insight_duration_seconds", "Wall time of one insight (queue excluded)",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_progress = Gauge("faultline_insights_in_progress", "Insights running now", registry=self.registry)
        self.webhooks = Counter("faultline_webhooks", "Webhook deliveries, by source and outcome",
                                ["source", "outcome"], registry=self.registry)
        self.notes = Counter("faultline_outbox_deliveries", "Outbox delivery attempts, by kind and outcome",
                             ["kind", "outcome"], registry=self.registry)
        self.alerts_dropped = Counter("faultline_alerts_dropped", "Alertmanager alerts not stored: their incident "
                                      "already held FAULTLINE_MAX_ALERTS_PER_INCIDENT", registry=self.registry)
        self.queued = Gauge("faultline_insights_queued", "Insights accepted and waiting for a worker",
                            registry=self.registry)
        self.outbox_pending = Gauge("faultline_outbox_pending", "Outbox messages not yet delivered",
                                    registry=self.registry)

    def bind(self, *, queued: Callable[[], float], outbox_pending: Callable[[], float]) -> None:
        """Gauges read at scrape time, from the runner's queue and the store."""
        self.queued.set_function(queued)
        self.outbox_pending.set_function(outbox_pending)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
