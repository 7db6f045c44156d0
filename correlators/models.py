"""Changes, the incident, evidence, and the whole case as the analysis sees it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detectors.models import Anomaly, Event, SeriesFrame
from detectors.roles import MetricInfo
from topology.models import Entity, Relation
from topology.timeutil import UtcDatetime, parse_duration


class Change(BaseModel):
    """Something that was changed on purpose: a rollout, an image swap, a commit, a config edit, a restart."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    entity: str = Field(min_length=3)
    kind: str = Field(min_length=1)
    at: UtcDatetime
    before: str | None = None
    after: str | None = None
    commit: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    source: str = "changes.json"


class Incident(BaseModel):
    """The symptom that triggered the analysis: which entity, which metric, when the alert fired."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    symptom: str = Field(min_length=3)
    metric: str | None = None
    at: UtcDatetime
    lookback: timedelta = timedelta(minutes=60)
    title: str = ""
    lookback_text: str | None = None
    """The look-back as the user wrote it (``60m``), so answers repeat it in their words, not as ``1:00:00``."""

    @model_validator(mode="before")
    @classmethod
    def _keep_lookback_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("lookback_text") is None:
            given = data.get("lookback")
            if given is None or isinstance(given, str):
                return {**data, "lookback_text": (given or "60m").strip()[:32]}
        return data

    @field_validator("lookback", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value if value is not None else "60m")

    @property
    def start(self) -> datetime:
        return self.at - self.lookback


class ChangeLink(BaseModel):
    """A change that precedes an anomaly on the same entity or on something that depends on it."""

    model_config = ConfigDict(frozen=True)

    change: Change
    anomaly: Anomaly
    lag_s: float
    proximity: float


class Evidence(BaseModel):
    """One reason an entity is suspected. Every candidate carries a list of these; nothing is unexplained."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["anomaly", "event", "change"]
    entity: str
    at: UtcDatetime
    weight: float
    summary: str
    metric: str | None = None
    baseline: float | None = None
    current: float | None = None
    change: Change | None = None
    explains: tuple[str, ...] = ()
    traces: tuple[str, ...] = ()
    """Exemplar trace ids behind a trace-derived anomaly (only ids the evidence names may be cited)."""
    template: str | None = None
    """The log template behind a log-derived anomaly."""
    log_lines: tuple[str, ...] = ()
    """Example lines of that template since the onset."""


class Case(BaseModel):
    """Everything the analysis reads about one incident. ``truth.json`` is never part of it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    series: SeriesFrame
    incident: Incident
    changes: tuple[Change, ...] = ()
    events: tuple[Event, ...] = ()
    metrics_meta: dict[str, MetricInfo] = Field(default_factory=dict)
    """What each metric is (``metrics_meta.json``): role, unit, bad direction; overrides the catalogue."""
    name: str = ""
    telemetry: Any = None
    """``detectors.sources.case_telemetry.CaseTelemetry`` from ``traces.jsonl``/``logs.jsonl``, or None. Typed loosely
    so that reading a case without spans or logs does not import the trace and log stack (pandas among it)."""
    """Spans and log records of ``traces.jsonl`` / ``logs.jsonl`` (their evidence is already rows of ``series``);
    kept for the console's exemplar trace and log lines."""
