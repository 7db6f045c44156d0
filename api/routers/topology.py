"""``/v1/topology``: the subgraph around an entity as it was at a time (what the console draws)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from topology.timeutil import parse_time

from ..deps import ReadAccess, ServicesDep
from ..exceptions import RequestProblem
from ..schemas.incidents import EntityPublic, RelationPublic, TopologyPublic

router = APIRouter(prefix="/v1/topology", tags=["topology"])


@router.get("", response_model=TopologyPublic, responses={404: {"description": "unknown entity"}})
async def get_topology(
    services: ServicesDep,
    _: ReadAccess,
    around: Annotated[str, Query(min_length=3, max_length=512, description="entity id, kind:name")],
    hops: Annotated[int, Query(ge=0, le=8)] = 2,
    at: Annotated[str | None, Query(max_length=64, description="ISO-8601 or epoch seconds; default now / case time")] = None,
    direction: Annotated[Literal["down", "up", "both"], Query()] = "both",
) -> TopologyPublic:
    backend = services.require_backend()
    try:
        moment: datetime = parse_time(at) if at else backend.default_time()
    except ValueError as exc:
        raise RequestProblem(f"at: {exc}") from exc
    sub = await asyncio.to_thread(backend.graph().subgraph, around, hops=hops, at=moment, direction=direction)
    return TopologyPublic(
        around=around, at=moment, hops=hops, direction=direction,
        entities=[EntityPublic(id=e.id, kind=e.kind, attrs=e.attrs) for e in sub.entities],
        relations=[RelationPublic(src=r.src, kind=r.kind.value, dst=r.dst, valid_from=r.valid_from,
                                  valid_to=r.valid_to) for r in sub.relations],
    )
