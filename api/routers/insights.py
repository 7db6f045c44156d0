"""``/v1/insights``: start an insight (202 + id), read one, list them newest first."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from ..deps import ReadAccess, ServicesDep, WriteAccess
from ..exceptions import RequestProblem, UnsupportedMediaType
from ..schemas.errors import ErrorBody
from ..schemas.insights import (
    InsightCreate,
    InsightLinks,
    InsightPage,
    InsightPublic,
    InsightRequestPublic,
    InsightSummary,
    console_link,
    parse_cursor,
)
from ..schemas.openapi import json_body
from ..services.container import Services
from ..services.intake import create_insight
from ..services.isolated_jobs import InlineCaseIntake, read_insight_body
from ..services.isolation import run_isolated
from ..storage import InsightListItem, InsightRecord

router = APIRouter(prefix="/v1/insights", tags=["insights"])

MAX_WAIT_S = 60.0
ISOLATE_ABOVE_BYTES = 1024 * 1024
"""Bodies above this are read in a worker process: parsing them holds the GIL long enough to stall the event loop."""


def links(services: Services, ident: str) -> InsightLinks:
    return InsightLinks(self=f"/v1/insights/{ident}", console=console_link(services.settings.base_url, ident))


def to_public(services: Services, record: InsightRecord) -> InsightPublic:
    result = record.result or {}
    candidates = result.get("candidates") or []
    return InsightPublic(
        id=record.id, status=record.status, stage=record.stage, source=record.source, incident_id=record.incident_id,
        request=InsightRequestPublic(symptom=record.request.symptom, at=record.request.at,
                                     lookback=record.request.lookback, metric=record.request.metric,
                                     title=record.request.title),
        created_at=record.created_at, started_at=record.started_at, finished_at=record.finished_at,
        error=record.error, top_cause=candidates[0]["entity"] if candidates else None,
        chain=list(candidates[0].get("chain") or []) if candidates else [], candidates=candidates,
        narrative=result.get("narrative"), timings_ms=result.get("timings_ms") or {},
        anomalies=result.get("anomalies") or [], changes=result.get("changes") or [],
        topology=result.get("topology"), entity_scores=result.get("entity_scores") or {},
        sparklines=result.get("sparklines") or [], partial=result.get("partial") or [],
        links=links(services, record.id),
    )


def to_summary(record: InsightListItem) -> InsightSummary:
    return InsightSummary(
        id=record.id, status=record.status, stage=record.stage, source=record.source, incident_id=record.incident_id,
        symptom=record.request.symptom, at=record.request.at, title=record.request.title,
        created_at=record.created_at, finished_at=record.finished_at, top_cause=record.top_cause,
        top_score=record.top_score, error=record.error,
    )


@router.post("", status_code=202, response_model=InsightPublic, responses={
    200: {"description": "finished within ?wait= seconds"}, 202: {"description": "accepted; poll links.self"},
    400: {"model": ErrorBody, "description": "body is not JSON"}, 404: {"description": "incident_id unknown"},
    413: {"model": ErrorBody, "description": "body, or the memory/time needed to read its inline case, too large"},
    415: {"model": ErrorBody, "description": "not application/json"},
    422: {"model": ErrorBody, "description": "nothing analysable (unknown symptom, bad case)"}},
    openapi_extra=json_body(InsightCreate))
async def start_insight(
    request: Request,
    services: ServicesDep,
    _: WriteAccess,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="wait up to this many seconds for the result")] = 0,
    x_faultline_source: Annotated[Literal["api", "console"], Header()] = "api",
) -> InsightPublic:
    """Queue an insight and answer 202 with its id; the analysis runs in the background (bounded concurrency).

    The body is an ``InsightCreate``; it is read here rather than by FastAPI so that parsing it — megabytes, when it
    holds a whole case — happens off the event loop (``read_insight``)."""
    require_json(request)
    body = await read_insight(services, await request.body())
    record = await asyncio.to_thread(create_insight, services, body, source=x_faultline_source)
    services.runner.submit(record.id)
    response.headers["Location"] = f"/v1/insights/{record.id}"
    deadline = time.monotonic() + wait
    while wait and record.status in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        record = await asyncio.to_thread(services.insights.get, record.id)
    if record.status in ("done", "failed"):
        response.status_code = 200
    return to_public(services, record)


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (a missing type is taken as JSON, as FastAPI does). A form or text/plain
    body is also what a web page elsewhere could make a browser send without a CORS preflight."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    kind = declared.split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json")


async def read_insight(services: Services, body: bytes) -> InsightCreate | InlineCaseIntake:
    """Parse and check a ``POST /v1/insights`` body off the event loop: small ones in a thread, big ones (a whole
    case) in a worker process under ``FAULTLINE_INLINE_CASE_MEMORY_BYTES`` (``services/isolation.py`` says why)."""
    limits = services.settings.case_limits()
    if len(body) <= ISOLATE_ABOVE_BYTES:
        return await asyncio.to_thread(read_insight_body, body, limits)
    async with services.intake_slots:
        return await asyncio.to_thread(
            run_isolated, read_insight_body, body, limits, memory_bytes=services.settings.inline_case_memory_bytes,
            timeout_s=services.settings.insight_timeout_s, what="read it")


@router.get("/{insight_id}", response_model=InsightPublic, responses={404: {"description": "no such insight"}})
async def get_insight(insight_id: str, services: ServicesDep, _: ReadAccess) -> InsightPublic:
    """Status, and once done: candidates, fault chain, evidence, narrative, timings, the subgraph and sparklines."""
    return to_public(services, await asyncio.to_thread(services.insights.get, insight_id))


@router.get("", response_model=InsightPage)
async def list_insights(
    services: ServicesDep,
    _: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
    incident_id: Annotated[str | None, Query(max_length=64)] = None,
) -> InsightPage:
    """Newest first; follow ``next_cursor`` for older pages."""
    try:
        before = parse_cursor(cursor)
    except ValueError as exc:
        raise RequestProblem(str(exc)) from exc
    records = await asyncio.to_thread(services.insights.page, limit=limit + 1, before_seq=before,
                                      incident_id=incident_id, status=status)
    more = len(records) > limit
    records = records[:limit]
    return InsightPage(items=[to_summary(r) for r in records],
                       next_cursor=str(records[-1].seq) if more and records else None)
