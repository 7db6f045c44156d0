"""``/v1/incidents``: what alerts, PagerDuty and recorded cases opened; each may carry its latest insight."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ..deps import ReadAccess, ServicesDep
from ..exceptions import RequestProblem
from ..schemas.incidents import IncidentPage, IncidentPublic
from ..schemas.insights import parse_cursor
from ..storage import IncidentRecord

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


def to_public(record: IncidentRecord) -> IncidentPublic:
    return IncidentPublic(**record.model_dump(exclude={"seq"}))


@router.get("", response_model=IncidentPage)
async def list_incidents(
    services: ServicesDep,
    _: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[Literal["firing", "triggered", "open", "resolved"] | None, Query()] = None,
) -> IncidentPage:
    """Newest first; follow ``next_cursor`` for older pages."""
    try:
        before = parse_cursor(cursor)
    except ValueError as exc:
        raise RequestProblem(str(exc)) from exc
    records = await asyncio.to_thread(services.incidents.page, limit=limit + 1, before_seq=before, status=status)
    more = len(records) > limit
    records = records[:limit]
    return IncidentPage(items=[to_public(r) for r in records],
                        next_cursor=str(records[-1].seq) if more and records else None)


@router.get("/{incident_id}", response_model=IncidentPublic, responses={404: {"description": "no such incident"}})
async def get_incident(incident_id: str, services: ServicesDep, _: ReadAccess) -> IncidentPublic:
    return to_public(await asyncio.to_thread(services.incidents.get, incident_id))
