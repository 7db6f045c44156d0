"""Schemas of ``/v1/insights``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from topology.timeutil import UtcDatetime, parse_duration

MAX_LABELS = 64


class InlineCase(BaseModel):
    """A whole case sent as JSON: the documents of the case format (docs/case-format.md in the faultline
    repository), with metrics as a list of sample objects."""

    model_config = ConfigDict(extra="forbid")

    topology: dict[str, Any]
    metrics: list[dict[str, Any]] = Field(description="samples: {timestamp, entity, metric, value}")
    incident: dict[str, Any]
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []


class InsightCreate(BaseModel):
    """What to analyse. Give exactly one of: ``symptom`` (an entity id), ``labels`` (an alert's labels, mapped to an
    entity by the configured rules), ``incident_id`` (an incident faultline already holds) or ``case`` (a whole case
    inline). ``at`` defaults to now for live data, to the case's alert time for a recorded case."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"symptom": "user:deepseek-chat-users", "at": "2026-11-20T11:00:00Z", "lookback": "60m"}]})

    symptom: str | None = Field(default=None, min_length=3, max_length=512, description="entity id, kind:name")
    labels: dict[str, str] | None = Field(default=None, description="alert labels, e.g. {'namespace': 'prod', 'pod': 'vllm-0'}")
    incident_id: str | None = Field(default=None, max_length=64)
    case: InlineCase | None = None
    at: UtcDatetime | None = None
    lookback: str | None = Field(default=None, description="how far back to look, e.g. '60m', '2h'")
    metric: str | None = Field(default=None, max_length=256)
    title: str = Field(default="", max_length=512)

    @model_validator(mode="before")
    @classmethod
    def _bare_case(cls, data: Any) -> Any:
        """A body that *is* a case (``{"topology": …, "metrics": …, "incident": …}``) is accepted as ``case``."""
        if isinstance(data, dict) and "topology" in data and "case" not in data:
            return {"case": data}
        return data

    @field_validator("symptom")
    @classmethod
    def _entity_id(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.startswith(":") or value.endswith(":")):
            raise ValueError(f"symptom must be an entity id like 'kind:name', got {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _few_labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and not (0 < len(value) <= MAX_LABELS):
            raise ValueError(f"labels must hold between 1 and {MAX_LABELS} entries")
        return value

    @field_validator("lookback")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _exactly_one_target(self) -> "InsightCreate":
        given = [name for name in ("symptom", "labels", "incident_id", "case") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'symptom', 'labels', 'incident_id' or 'case'"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class InsightRequestPublic(BaseModel):
    symptom: str
    at: UtcDatetime
    lookback: str
    metric: str | None = None
    title: str = ""


class InsightLinks(BaseModel):
    self: str
    console: str


class InsightAccepted(BaseModel):
    """Answer of ``POST /v1/insights``: the id to poll, and where."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    links: InsightLinks


class InsightPublic(BaseModel):
    """One insight. ``candidates`` … ``sparklines`` are filled once ``status`` is ``done``."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    source: str
    incident_id: str | None
    request: InsightRequestPublic
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    error: str | None = None
    top_cause: str | None = None
    chain: list[str] = []
    candidates: list[dict[str, Any]] = []
    narrative: dict[str, Any] | None = None
    timings_ms: dict[str, float] = {}
    anomalies: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    topology: dict[str, Any] | None = None
    entity_scores: dict[str, float] = {}
    sparklines: list[dict[str, Any]] = []
    partial: list[str] = Field(default=[], description="data that could not be read (the insight ran without it)")
    links: InsightLinks


class InsightSummary(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    source: str
    incident_id: str | None
    symptom: str
    at: UtcDatetime
    title: str
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    top_cause: str | None = None
    top_score: float | None = None
    error: str | None = None


class InsightPage(BaseModel):
    items: list[InsightSummary]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next (older) page")


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:  # "²".isdigit() is True, int("²") fails
        raise ValueError("cursor must be the next_cursor of a previous page")
    return int(cursor)


def console_link(base_url: str, insight_id: str) -> str:
    return f"{base_url}/#/insights/{insight_id}"
