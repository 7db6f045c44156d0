"""``/healthz`` (is it up, can it analyse) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ..deps import ReadAccess, ServicesDep
from ..exceptions import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "the insight store cannot be read"}})
async def healthz(services: ServicesDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "backend": services.backend.name if services.backend else None}
    try:
        body["insights"] = await asyncio.to_thread(services.insights.counts)
        body["outbox_pending"] = await asyncio.to_thread(services.outbox.pending_count)
    except StorageError as exc:
        return JSONResponse(status_code=503, content={"status": "error", "detail": str(exc)})
    if services.backend is None:
        body["status"] = "degraded"
        body["detail"] = services.backend_error or "analysis data source still loading"
    body["queued"] = services.runner.queued
    metrics_check = services.metrics_health()
    if metrics_check is not None:  # families whose metrics exist but give nothing faultline can name
        body["metrics"] = metrics_check
    return JSONResponse(body)


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep, _: ReadAccess) -> Response:
    """Insights run (by outcome), latency histogram, failures by reason, webhooks, outbox backlog."""
    payload, content_type = await asyncio.to_thread(services.telemetry.render)
    return Response(content=payload, media_type=content_type)
