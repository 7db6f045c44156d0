"""Alertmanager's webhook payload, version 4 (``webhook_config`` receivers; Prometheus Alertmanager docs,
"Configuration" → ``<webhook_config>``). Unknown fields are tolerated: Alertmanager adds fields over time."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from topology.timeutil import UtcDatetime

MAX_ALERTS = 1000


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: UtcDatetime
    endsAt: UtcDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("endsAt", mode="before")
    @classmethod
    def _go_zero_time_is_unset(cls, value: object) -> object:
        """Alertmanager writes Go's zero time (``0001-01-01T00:00:00Z``) for an alert that has not ended."""
        if isinstance(value, str) and value.startswith("0001-01-01"):
            return None
        return value


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=4096)
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)


class AlertmanagerResult(BaseModel):
    """What faultline did with one delivery."""

    incident_id: str
    status: Literal["firing", "resolved"]
    created: bool = Field(description="a new incident was opened (false: the group's open incident was updated)")
    insight_id: str | None = Field(description="insight started for this group, or the one already running/done")
    insight_ids: list[str] = Field(default=[], description="every insight this delivery started: one per symptom "
                                                           "entity its alerts name that had none yet")
    symptom: str | None
    message: str
    dropped_alerts: int = Field(default=0, description="alerts of this delivery not stored: the incident already "
                                "held FAULTLINE_MAX_ALERTS_PER_INCIDENT (its details.dropped_alerts counts them all)")
