"""Turning requests, alerts and PagerDuty events into stored incidents and queued insights.

Each function is blocking (SQLite, and for a live store a graph lookup) and is called through ``asyncio.to_thread``.
Everything one delivery changes — webhook receipt, incident, insight row — is written in one transaction, so a crash
leaves either all of it or none of it, and a re-delivery after a crash is processed as new rather than half-seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from topology.exceptions import UnknownEntityError

from ..exceptions import RequestProblem
from ..schemas.alertmanager import AlertmanagerWebhook
from ..schemas.insights import InsightCreate
from ..schemas.pagerduty import PagerDutyIncident, PagerDutyWebhook
from ..storage import IncidentRecord, InsightRecord, InsightRequest
from .backend import AnalysisBackend
from .container import Services
from .entity_mapping import map_alert_group, resolve_alert, resolve_pagerduty
from .isolated_jobs import InlineCaseIntake

log = logging.getLogger(__name__)


def _lookback(services: Services, value: str | None) -> str:
    return value or services.settings.default_lookback


def _did_you_mean(backend: AnalysisBackend, entity_id: str) -> str:
    """``; did you mean app:chat-frontend?`` — the closest ids the topology holds, or nothing."""
    try:
        backend.graph().get_entity(entity_id)
    except UnknownEntityError as exc:
        return f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
    return ""


def create_insight(services: Services, body: InsightCreate | InlineCaseIntake, *, source: str) -> InsightRecord:
    """Validate what to analyse and queue it. ``RequestProblem`` (422) when it names nothing analysable. A body with
    an inline case was read and checked already (``isolated_jobs.read_insight_body``): it is only stored here."""
    incident_id: str | None = None
    if isinstance(body, InlineCaseIntake):
        return services.insights.create(body.request, source=source, inline_case=body.case_json)
    backend = services.require_backend()
    if body.incident_id is not None:
        incident = services.incidents.get(body.incident_id)  # NotFoundError -> 404
        if incident.symptom is None:
            raise RequestProblem(f"incident {incident.id} has no symptom entity mapped; give 'symptom' instead")
        incident_id = incident.id
        lookback = body.lookback or incident.details.get("lookback_s")
        request = InsightRequest(
            symptom=incident.symptom, at=body.at or incident.at, metric=body.metric or incident.metric,
            lookback=f"{int(lookback)}s" if isinstance(lookback, (int, float)) else _lookback(services, lookback),
            title=body.title or incident.title,
        )
    else:
        labels = body.labels or {}
        if body.labels is not None:
            resolution = resolve_alert(body.labels, services.settings.alert_entity_rules, backend.has_entity)
            if resolution.entity is None:
                raise RequestProblem(f"labels: {resolution.explanation}")
            symptom = resolution.entity
        else:
            assert body.symptom is not None
            symptom = body.symptom
            if not backend.has_entity(symptom):
                raise RequestProblem(f"symptom: {symptom!r} is not an entity of the topology ({backend.name})"
                                     + _did_you_mean(backend, symptom))
        metric = body.metric or labels.get(services.settings.alert_metric_label)
        request = InsightRequest(symptom=symptom, at=body.at or backend.default_time(), metric=metric,
                                 lookback=_lookback(services, body.lookback), title=body.title, labels=labels)
    return services.insights.create(request, source=source, incident_id=incident_id)


# -- Alertmanager --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertOutcome:
    incident: IncidentRecord
    created: bool
    insight: InsightRecord | None
    new_insight: bool
    message: str
    insights: tuple[InsightRecord, ...] = ()
    """Every insight this delivery started (one per new symptom entity); ``insight`` is the first of them."""
    dropped_alerts: int = 0


def _alert_title(payload: AlertmanagerWebhook) -> str:
    annotations = payload.commonAnnotations
    labels = payload.commonLabels or payload.groupLabels
    return (annotations.get("summary") or annotations.get("description") or labels.get("alertname")
            or payload.groupKey)[:512]


def _alerts_detail(payload: AlertmanagerWebhook, previous: dict[str, Any], cap: int) -> tuple[dict[str, Any], int]:
    """The incident's alert map after this delivery, and how many of its alerts were dropped.

    At most ``cap`` alerts are kept per incident: an alert already held is always updated (its status may have
    changed), a new one is added only while there is room. Without the cap one open group grew by every delivery
    (12 deliveries of 1,000 alerts made a 13.7 MB incident list); the ones left out are counted in
    ``dropped_alerts`` so nobody mistakes the map for the whole group."""
    alerts = dict(previous.get("alerts") or {})
    dropped = 0
    for alert in payload.alerts:
        key = alert.fingerprint or "|".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        if key not in alerts and len(alerts) >= cap:
            dropped += 1
            continue
        alerts[key] = {"status": alert.status, "labels": alert.labels, "startsAt": alert.startsAt.isoformat(),
                       "endsAt": alert.endsAt.isoformat() if alert.endsAt else None,
                       "summary": alert.annotations.get("summary", "")}
    return {"alerts": alerts, "receiver": payload.receiver, "externalURL": payload.externalURL,
            "groupLabels": payload.groupLabels, "truncatedAlerts": payload.truncatedAlerts,
            "dropped_alerts": int(previous.get("dropped_alerts") or 0) + dropped}, dropped


def take_alertmanager(services: Services, payload: AlertmanagerWebhook) -> AlertOutcome:
    """A firing group opens (or updates) its incident and starts one insight per symptom entity its alerts name; a
    resolved group closes it.

    Every alert of the group is mapped (``map_alert_group``). Alerts naming the same entity share one insight; alerts
    naming different entities (a latency alert on ``app:chat`` and a TTFT alert on ``llm:deepseek-r1``) get one insight
    each, all attached to the group's incident — the ranker analyses one symptom at a time. A later delivery of the
    same group starts insights only for entities it had not analysed yet. Alerts that map to nothing are recorded on
    the incident (``details.unmapped``, with the reason) and logged.
    """
    backend = services.require_backend()
    firing = [a for a in payload.alerts if a.status == "firing"]
    considered = firing or payload.alerts
    settings = services.settings
    if considered:
        mapping = map_alert_group([a.labels for a in considered], payload.commonLabels, settings.alert_entity_rules,
                                  backend.has_entity)
    else:  # a group with no alerts listed: its common labels are all there is
        mapping = map_alert_group([payload.commonLabels], {}, settings.alert_entity_rules, backend.has_entity)
    symptom = next(iter(mapping.symptoms), None)
    for index, why in mapping.unmapped:
        labels = considered[index].labels if considered else payload.commonLabels
        log.warning("alertmanager group %s: alert %s maps to no entity: %s", payload.groupKey,
                    labels.get("alertname") or index, why)
    starts = [a.startsAt for a in considered]
    at: datetime = min(starts) if starts else backend.default_time()
    metric = payload.commonLabels.get(settings.alert_metric_label)
    with services.db.transaction():
        existing = services.incidents.find_open("alertmanager", payload.groupKey)
        details, dropped = _alerts_detail(payload, existing.details if existing else {},
                                          services.settings.max_alerts_per_incident)
        details["unmapped"] = [
            {"alert": considered[i].fingerprint or considered[i].labels.get("alertname", str(i)) if considered else
             "commonLabels", "labels": considered[i].labels if considered else payload.commonLabels, "reason": why}
            for i, why in mapping.unmapped]
        details["mapping"] = mapping.explanation
        incident, created = services.incidents.open_or_get(
            source="alertmanager", external_key=payload.groupKey, title=_alert_title(payload), symptom=symptom,
            metric=metric, at=at, status="firing", details=details,
        )
        if payload.status == "resolved":
            ends = [a.endsAt for a in payload.alerts if a.endsAt]
            resolved = services.incidents.resolve(source="alertmanager", external_key=payload.groupKey,
                                                  at=max(ends) if ends else at, details={})
            assert resolved is not None
            insight = services.insights.get(resolved.latest_insight) if resolved.latest_insight else None
            return AlertOutcome(resolved, created, insight, False, "alert group resolved; incident closed",
                                dropped_alerts=dropped)
        analysed: dict[str, str] = dict(incident.details.get("insights_by_symptom") or {})
        if not analysed and incident.latest_insight is not None and incident.symptom:
            analysed[incident.symptom] = incident.latest_insight  # an incident opened before per-entity insights
        new: list[InsightRecord] = []
        for entity, indices in mapping.symptoms.items():
            if entity in analysed:
                continue
            alerts = [considered[i] for i in indices] if considered else []
            first = alerts[0] if alerts else None
            labels = {**payload.commonLabels, **(first.labels if first else {})}
            title = (first.annotations.get("summary") if first else None) or incident.title
            request = InsightRequest(symptom=entity, at=min(a.startsAt for a in alerts) if alerts else at,
                                     metric=labels.get(settings.alert_metric_label) or metric,
                                     lookback=settings.default_lookback, title=title[:512], labels=labels)
            record = services.insights.create(request, source="alertmanager", incident_id=incident.id)
            analysed[entity] = record.id
            new.append(record)
        if new:
            incident, _ = services.incidents.open_or_get(
                source="alertmanager", external_key=payload.groupKey, title=incident.title, symptom=symptom,
                metric=metric, at=at, status="firing", details={"insights_by_symptom": analysed})
        if not new:
            if analysed:
                first_id = next(iter(analysed.values()))
                insight = services.insights.get(first_id)
                return AlertOutcome(incident, created, insight, False,
                                    f"incident already open with insight {insight.id} ({insight.status}); not run "
                                    "again" + (f"; {mapping.explanation}" if mapping.unmapped else ""),
                                    dropped_alerts=dropped)
            return AlertOutcome(incident, created, None, False,
                                f"incident recorded, no insight: {mapping.explanation}", dropped_alerts=dropped)
        incident = services.incidents.get(incident.id)
    names = ", ".join(r.request.symptom for r in new)
    return AlertOutcome(incident, created, new[0], True, f"{len(new)} insight(s) started for {names}"
                        + (f"; {len(mapping.unmapped)} alert(s) not mapped" if mapping.unmapped else ""),
                        insights=tuple(new), dropped_alerts=dropped)


# -- PagerDuty -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PagerDutyOutcome:
    duplicate: bool
    ignored: bool
    incident: IncidentRecord | None
    insight: InsightRecord | None
    new_insight: bool
    symptom: str | None
    message: str


def take_pagerduty(services: Services, payload: PagerDutyWebhook) -> PagerDutyOutcome:
    """De-duplicate by event id; ``incident.triggered`` -> incident + insight; ``incident.resolved`` closes it."""
    event = payload.event
    with services.db.transaction():
        if not services.receipts.first_time("pagerduty", event.id):
            known = services.receipts.incident_of("pagerduty", event.id)
            incident = services.incidents.get(known) if known else None
            insight = services.insights.get(incident.latest_insight) if incident and incident.latest_insight else None
            return PagerDutyOutcome(True, False, incident, insight, False, incident.symptom if incident else None,
                                    f"event {event.id} already received; not processed again")
        if event.event_type == "incident.resolved":
            data = PagerDutyIncident.model_validate(event.data)
            resolved = services.incidents.resolve(source="pagerduty", external_key=data.id, at=event.occurred_at,
                                                  details={"resolved_event": event.id})
            if resolved is not None:
                services.receipts.link("pagerduty", event.id, resolved.id)
            return PagerDutyOutcome(False, False, resolved, None, False, None,
                                    "incident resolved" if resolved else "no open incident to resolve")
        if event.event_type != "incident.triggered":
            return PagerDutyOutcome(False, True, None, None, False, None,
                                    f"event type {event.event_type} is not acted on")
        data = PagerDutyIncident.model_validate(event.data)
        backend = services.require_backend()
        service = data.service
        resolution = resolve_pagerduty(service_id=service.id if service else None,
                                       service_name=service.summary if service else None, title=data.title,
                                       mapping=services.settings.pagerduty_service_map, exists=backend.has_entity)
        at = data.created_at or event.occurred_at
        incident, created = services.incidents.open_or_get(
            source="pagerduty", external_key=data.id, title=data.title[:512] or f"PagerDuty incident {data.id}",
            symptom=resolution.entity, metric=None, at=at, status="triggered",
            details={"html_url": data.html_url, "number": data.number, "urgency": data.urgency,
                     "service": service.summary if service else None, "service_id": service.id if service else None},
        )
        services.receipts.link("pagerduty", event.id, incident.id)
        if incident.latest_insight is not None:
            insight = services.insights.get(incident.latest_insight)
            return PagerDutyOutcome(False, False, incident, insight, False, incident.symptom,
                                    f"incident {data.id} already has insight {insight.id}; not run again")
        if resolution.entity is None:
            return PagerDutyOutcome(False, False, incident, None, False, None,
                                    f"incident recorded, no insight: {resolution.explanation}; "
                                    "add the service to FAULTLINE_PAGERDUTY_SERVICE_MAP")
        request = InsightRequest(symptom=resolution.entity, at=at, lookback=services.settings.default_lookback,
                                 title=incident.title)
        insight = services.insights.create(request, source="pagerduty", incident_id=incident.id)
        incident = services.incidents.get(incident.id)
    return PagerDutyOutcome(False, False, incident, insight, True, resolution.entity,
                            f"insight {insight.id} started for {resolution.entity}")
