"""Schemas of ``/v1/incidents`` and ``/v1/topology``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from topology.timeutil import UtcDatetime


class IncidentPublic(BaseModel):
    id: str
    source: str = Field(description="alertmanager | pagerduty | api | console | case")
    external_key: str | None = Field(description="Alertmanager groupKey or PagerDuty incident id")
    title: str
    symptom: str | None
    metric: str | None
    at: UtcDatetime
    status: Literal["firing", "triggered", "open", "resolved"]
    created_at: UtcDatetime
    updated_at: UtcDatetime
    resolved_at: UtcDatetime | None
    latest_insight: str | None
    details: dict[str, Any] = {}


class IncidentPage(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None = None


class EntityPublic(BaseModel):
    id: str
    kind: str
    attrs: dict[str, Any] = {}


class RelationPublic(BaseModel):
    src: str
    kind: str
    dst: str
    valid_from: UtcDatetime | None
    valid_to: UtcDatetime | None


class TopologyPublic(BaseModel):
    around: str
    at: UtcDatetime
    hops: int
    direction: Literal["down", "up", "both"]
    entities: list[EntityPublic]
    relations: list[RelationPublic]
