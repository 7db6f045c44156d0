"""PagerDuty V3 webhook payloads (developer docs, "Webhooks V3 overview": one ``event`` per delivery)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from topology.timeutil import UtcDatetime


class PagerDutyReference(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str = ""
    summary: str = ""
    html_url: str | None = None


class PagerDutyIncident(BaseModel):
    """``event.data`` of ``incident.*`` events."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=64)
    type: str = "incident"
    title: str = ""
    status: str = ""
    html_url: str | None = None
    number: int | None = None
    created_at: UtcDatetime | None = None
    service: PagerDutyReference | None = None
    incident_key: str | None = None
    urgency: str | None = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128)
    event_type: str = Field(min_length=1, max_length=128)
    resource_type: str = ""
    occurred_at: UtcDatetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class PagerDutyWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: PagerDutyEvent


class PagerDutyResult(BaseModel):
    event_id: str
    event_type: str
    duplicate: bool = False
    ignored: bool = False
    incident_id: str | None = None
    insight_id: str | None = None
    symptom: str | None = None
    message: str
