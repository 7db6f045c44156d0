"""``POST /v1/alerts/alertmanager``: Alertmanager's webhook receiver (payload version 4).

Configure Alertmanager with ``webhook_configs: [{url: http://faultline:8080/v1/alerts/alertmanager}]`` and, when
faultline requires tokens, ``http_config.authorization.credentials: <a write token>``. Each firing group becomes an
incident with one insight per symptom entity its alerts name; later notifications of the same group update it and
start insights only for entities not analysed yet; a resolved group closes it. Answers are 2xx for everything faultline
could record (Alertmanager retries non-2xx, which would not help a label-mapping problem); the body says what happened.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from ..deps import ServicesDep, WriteAccess
from ..schemas.alertmanager import AlertmanagerResult, AlertmanagerWebhook
from ..services.intake import take_alertmanager

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.post("/alertmanager", response_model=AlertmanagerResult, responses={
    202: {"description": "a new insight was started"}, 200: {"description": "recorded; no new insight"}})
async def alertmanager_webhook(
    payload: AlertmanagerWebhook, services: ServicesDep, _: WriteAccess, response: Response
) -> AlertmanagerResult:
    outcome = await asyncio.to_thread(take_alertmanager, services, payload)
    services.telemetry.webhooks.labels(source="alertmanager", outcome="insight" if outcome.new_insight else "recorded").inc()
    if outcome.dropped_alerts:
        services.telemetry.alerts_dropped.inc(outcome.dropped_alerts)
    if outcome.new_insight and outcome.insight is not None:
        for started in outcome.insights or (outcome.insight,):
            services.runner.submit(started.id)
        response.status_code = 202
    else:
        response.status_code = 200
    return AlertmanagerResult(
        incident_id=outcome.incident.id, status=payload.status, created=outcome.created,
        insight_id=outcome.insight.id if outcome.insight else None,
        insight_ids=[i.id for i in outcome.insights], symptom=outcome.incident.symptom,
        message=outcome.message, dropped_alerts=outcome.dropped_alerts,
    )
