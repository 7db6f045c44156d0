"""``/healthz`` (is it up, can it analyse) and ``/metrics`` (Prometheus text format).

``/healthz`` is public — load balancers and kubelets call it without a token — so to such a caller it says only
``{"status": "ok"}`` (or ``degraded``/``error``, with the same status code as below). The details — data source name
(a case directory path), insight counts, queue and outbox — are for callers with read access: a valid token, or
anyone in token-less loopback mode, who can read every insight anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ..deps import CallerDep, ReadAccess, ServicesDep
from ..exceptions import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "the insight store cannot be read"}})
async def healthz(services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Anonymous callers get ``status`` only; callers with read access also get the details."""
    body: dict[str, Any] = {"status": "ok", "backend": services.backend.name if services.backend else None}
    try:
        body["insights"] = await asyncio.to_thread(services.insights.counts)
        body["outbox_pending"] = await asyncio.to_thread(services.outbox.pending_count)
    except StorageError as exc:
        body = {"status": "error", "detail": str(exc)}
        return JSONResponse(status_code=503, content=body if _detailed(caller) else {"status": "error"})
    if services.backend is None:
        body["status"] = "degraded"
        body["detail"] = services.backend_error or "analysis data source still loading"
    body["queued"] = services.runner.queued
    metrics_check = services.metrics_health()
    if metrics_check is not None:  # families whose metrics exist but give nothing faultline can name
        body["metrics"] = metrics_check
    return JSONResponse(body if _detailed(caller) else {"status": body["status"]})


def _detailed(caller: Any) -> bool:
    return caller is not None and caller.allows("read")


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep, _: ReadAccess) -> Response:
    """Insights run (by outcome), latency histogram, failures by reason, webhooks, outbox backlog."""
    payload, content_type = await asyncio.to_thread(services.telemetry.render)
    return Response(content=payload, media_type=content_type)
