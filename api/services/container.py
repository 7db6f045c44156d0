"""Everything one running app holds, built from settings at start-up and torn down at shutdown.

Routers reach it through ``api.deps`` (``ServicesDep``); nothing here is a module-level global, so a test process can
run several apps with different settings side by side.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..schemas.insights import console_link
from ..settings import Settings
from ..storage import (IncidentRepository, InsightRecord, InsightRepository, Outbox, SqlDatabase, WebhookReceipts,
                       database_for)
from .analysis import json_safe, run_insight
from .backend import AnalysisBackend, backend_from_settings
from .isolated_jobs import analyse_inline_case
from .isolation import run_isolated, warm_up
from .notes import failure_note, insight_note
from .outbox_worker import PAGERDUTY_NOTE, OutboxWorker
from .pagerduty_client import NoteSender, PagerDutyNotes
from .runner import InsightRunner, default_owner
from .telemetry import Telemetry

log = logging.getLogger(__name__)

BackendFactory = Callable[[Settings], AnalysisBackend]
BACKEND_RETRY_S = 5.0
METRICS_CHECK_S = 300.0
"""How often ``/healthz`` re-checks that the metric families give series faultline can name."""


@dataclass
class Services:
    settings: Settings
    db: SqlDatabase
    telemetry: Telemetry
    insights: InsightRepository
    incidents: IncidentRepository
    receipts: WebhookReceipts
    outbox: Outbox
    runner: InsightRunner
    outbox_worker: OutboxWorker
    backend: AnalysisBackend | None = None
    backend_error: str | None = None
    narrate: Callable[..., Any] | None = None
    backend_factory: BackendFactory | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    intake_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    """Big ``POST /v1/insights`` bodies read at once (each in a worker process under the memory budget)."""
    _backend_lock: threading.Lock = field(default_factory=threading.Lock)
    _backend_tried_at: float = 0.0
    _metrics_lock: threading.Lock = field(default_factory=threading.Lock)
    _metrics_check: tuple[float, dict[str, Any]] | None = None
    _metrics_checking: bool = False

    def metrics_health(self) -> dict[str, Any] | None:
        """What the last check of the Prometheus families found (``None`` without Prometheus); a stale check is
        redone in the background, so ``/healthz`` never waits on Prometheus."""
        source = getattr(self.backend, "prometheus", None)
        if source is None:
            return None
        with self._metrics_lock:
            stale = self._metrics_check is None or time.monotonic() - self._metrics_check[0] > METRICS_CHECK_S
            if stale and not self._metrics_checking:
                self._metrics_checking = True
                threading.Thread(target=self._check_metrics, args=(source,), name="metrics-check",
                                 daemon=True).start()
            return dict(self._metrics_check[1]) if self._metrics_check else {"state": "checking", "warnings": []}

    def _check_metrics(self, source: Any) -> None:
        from datetime import datetime, timezone

        from detectors.exceptions import MetricSourceError

        try:
            check = source.check_families()
            doc: dict[str, Any] = {
                "state": "checked", "families_with_series": sum(1 for c in check.counts.values() if c),
                "families_absent": len(check.absent), "warnings": check.warnings()}
        except MetricSourceError as exc:
            doc = {"state": "unavailable", "warnings": [f"prometheus: {exc}"]}
        except Exception as exc:  # noqa: BLE001 - a health check must not take the server down
            doc = {"state": "failed", "warnings": [f"metrics check: {type(exc).__name__}: {exc}"]}
        doc["checked_at"] = datetime.now(timezone.utc).isoformat()
        for warning in doc["warnings"]:
            log.warning("metrics: %s", warning)
        with self._metrics_lock:
            self._metrics_check = (time.monotonic(), doc)
            self._metrics_checking = False

    def load_backend(self) -> AnalysisBackend | None:
        """Build the data source; on failure remember why (``/healthz`` shows it) and let a later call retry."""
        factory = self.backend_factory or backend_from_settings
        with self._backend_lock:
            if self.backend is not None:
                return self.backend
            self._backend_tried_at = time.monotonic()
            try:
                self.backend = factory(self.settings)
                self.backend_error = None
            except Exception as exc:  # noqa: BLE001 - any failure leaves the server up, serving stored insights
                self.backend_error = f"{type(exc).__name__}: {exc}"
                log.error("analysis data source unavailable: %s", self.backend_error)
            return self.backend

    def require_backend(self) -> AnalysisBackend:
        """The data source; if it failed to load, retried at most every ``BACKEND_RETRY_S`` (blocking: call from a
        worker thread). ``NotConfiguredError`` (503) with the reason while it cannot be had."""
        from ..exceptions import DataSourceUnavailable

        if self.backend is None and time.monotonic() - self._backend_tried_at >= BACKEND_RETRY_S:
            self.load_backend()
        if self.backend is None:
            raise DataSourceUnavailable(f"no analysis data source is available: {self.backend_error or 'still loading'}")
        return self.backend

    def console_url(self, insight_id: str) -> str:
        return console_link(self.settings.base_url, insight_id)


def note_sender(settings: Settings) -> NoteSender | None:
    if settings.pagerduty_api_token is None or not settings.pagerduty_from:
        return None
    return PagerDutyNotes(base_url=settings.pagerduty_api_url, token=settings.pagerduty_api_token.get_secret_value(),
                          from_email=settings.pagerduty_from, timeout_s=settings.outbox_timeout_s)


def default_narrator() -> Callable[..., Any] | None:
    """The narrator package's ``narrate`` (LLM when ``FAULTLINE_LLM_*`` is configured, grounded, template otherwise);
    ``None`` -> the template narrator, when this build has no LLM narrator."""
    try:
        from narrator.narrate import narrate
    except ImportError:
        return None
    return lambda analysis: narrate(analysis, use_llm=None)


def build_services(settings: Settings, *, sender: NoteSender | None = None) -> Services:
    db_url = settings.db_url.get_secret_value() if settings.db_url is not None else None
    db = database_for(db_url, settings.db_path).open()
    owner = settings.replica_id or default_owner()
    telemetry = Telemetry()
    services: Services

    def analyse(record: InsightRecord, on_stage: Callable[[str], None]) -> dict[str, Any]:
        on_stage("loading data")
        inline = services.insights.inline_case_text(record.id) if record.has_inline_case else None
        if inline is not None:  # in a worker process, under the memory budget (isolation.py says why)
            payload = inline.encode("utf-8")
            del inline
            return run_isolated(analyse_inline_case, payload, record.request, settings.hops,
                                services.narrate is not None, settings.case_limits(),
                                memory_bytes=settings.inline_case_memory_bytes, timeout_s=settings.insight_timeout_s,
                                what="analyse it", on_progress=on_stage)
        backend = services.require_backend()
        kwargs: dict[str, Any] = {"hops": settings.hops, "on_stage": on_stage}
        if services.narrate is not None:
            kwargs["narrate"] = services.narrate
        return json_safe(run_insight(backend, record.request, **kwargs))

    runner = InsightRunner(db=db, analyse=analyse, telemetry=telemetry,
                           concurrency=settings.max_concurrent_insights, timeout_s=settings.insight_timeout_s,
                           retries=settings.insight_retries, retry_backoff_s=settings.insight_retry_backoff_s,
                           owner=owner, lease_s=settings.lease_s)
    outbox = Outbox(db)
    worker = OutboxWorker(outbox=outbox, sender=sender if sender is not None else note_sender(settings),
                          telemetry=telemetry, poll_s=settings.outbox_poll_s, max_backoff_s=settings.outbox_max_backoff_s,
                          owner=owner, lease_s=settings.lease_s)
    runner.heartbeat.append(lambda: outbox.renew(owner, settings.lease_s))
    services = Services(
        settings=settings, db=db, telemetry=telemetry, insights=runner.insights, incidents=IncidentRepository(db),
        receipts=WebhookReceipts(db), outbox=outbox, runner=runner, outbox_worker=worker, narrate=default_narrator(),
    )

    def pagerduty_note(record: InsightRecord, result: dict[str, Any]) -> None:
        if record.source != "pagerduty" or record.incident_id is None:
            return
        incident = services.incidents.get(record.incident_id)
        if incident.external_key is None:
            return
        content = insight_note(result, services.console_url(record.id))
        services.outbox.enqueue(kind=PAGERDUTY_NOTE, target=incident.external_key, insight_id=record.id,
                                payload={"content": content})

    def pagerduty_failure_note(record: InsightRecord, error: str) -> None:
        if record.source != "pagerduty" or record.incident_id is None:
            return
        incident = services.incidents.get(record.incident_id)
        if incident.external_key is not None:
            services.outbox.enqueue(kind=PAGERDUTY_NOTE, target=incident.external_key, insight_id=record.id,
                                    payload={"content": failure_note(error, services.console_url(record.id))})

    runner.after_finish.append(pagerduty_note)
    runner.after_fail.append(pagerduty_failure_note)
    runner.after_commit.append(lambda: worker.kick())
    telemetry.bind(queued=lambda: float(runner.queued), outbox_pending=lambda: float(outbox.pending_count()))
    return services


async def start_services(services: Services, backend_factory: BackendFactory = backend_from_settings) -> None:
    """Load the data source (off the event loop), seed the case's own incident, start the runner and outbox."""
    services.backend_factory = backend_factory
    services.intake_slots = asyncio.Semaphore(services.settings.max_concurrent_insights)
    asyncio.get_running_loop().run_in_executor(None, warm_up)  # the fork server imports for seconds: not on a request
    await asyncio.to_thread(services.load_backend)
    if services.backend is not None:
        await asyncio.to_thread(seed_default_incident, services)
        services.metrics_health()  # start checking the metric families now, not at the first /healthz
    if not services.db.shared:  # one process per SQLite file: whoever held its outbox leases is gone
        await asyncio.to_thread(services.outbox.release_leases)
    await services.runner.start()
    services.outbox_worker.start()


async def stop_services(services: Services) -> None:
    await services.outbox_worker.stop()
    await services.runner.stop()
    services.db.close()


def seed_default_incident(services: Services) -> None:
    """The recorded case's own alert appears in the incident list, ready for the magic wand (once, not per restart)."""
    assert services.backend is not None
    incident = services.backend.default_incident()
    if incident is None:
        return
    services.incidents.open_or_get(
        source="case", external_key=f"{incident.symptom}@{incident.at.isoformat()}", title=incident.title,
        symptom=incident.symptom, metric=incident.metric, at=incident.at, status="open",
        details={"lookback_s": incident.lookback.total_seconds()},
    )
