"""Rows of the insight store as typed records (what the repositories return; routers turn them into Public schemas)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from topology.timeutil import UtcDatetime, iso

InsightStatus = Literal["queued", "running", "done", "failed"]
IncidentStatus = Literal["firing", "triggered", "open", "resolved"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    """Time-ordered, unguessable id: ``ins_`` + 12 hex of milliseconds + 10 random hex."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(5).hex()}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def ts(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


class InsightRequest(BaseModel):
    """What to analyse, fully resolved: an entity, a time, a window. Stored so a pending insight can be resumed."""

    model_config = ConfigDict(frozen=True)

    symptom: str
    at: UtcDatetime
    lookback: str = "60m"
    metric: str | None = None
    title: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class _InsightHead(BaseModel):
    """What every view of an insight shows: who asked, for what, where it stands."""

    model_config = ConfigDict(frozen=True)

    id: str
    seq: int
    incident_id: str | None
    source: str
    status: InsightStatus
    stage: str
    request: InsightRequest
    has_inline_case: bool
    error: str | None
    created_at: UtcDatetime
    finished_at: UtcDatetime | None


class InsightRecord(_InsightHead):
    """An insight as stored, with its result document."""

    result: dict[str, Any] | None
    attempts: int
    started_at: UtcDatetime | None


class InsightListItem(_InsightHead):
    """One row of an insight listing: what the list shows, read without the stored case or the result document
    (either may be megabytes; a page of 200 read them all)."""

    top_cause: str | None
    top_score: float | None


class IncidentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    seq: int
    source: str
    external_key: str | None
    title: str
    symptom: str | None
    metric: str | None
    at: UtcDatetime
    status: IncidentStatus
    created_at: UtcDatetime
    updated_at: UtcDatetime
    resolved_at: UtcDatetime | None
    details: dict[str, Any]
    latest_insight: str | None


class OutboxItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: str
    target: str
    insight_id: str
    payload: dict[str, Any]
    status: Literal["pending", "sent"]
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: UtcDatetime
    sent_at: UtcDatetime | None
    in_flight: bool = False
    """The last attempt never got an answer (the process died mid-POST, the connection dropped): the message may
    already be at the receiver."""
