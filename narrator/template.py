"""The deterministic template narrator, the default: it can only say what the evidence says.

Why keep it even with an LLM configured: it is instant, free, reproducible, and the fallback whenever a model is
slow, down, or not grounded.

The event chain states each fact once: a rollout to several pods is one step (``narrator.rollouts``), and each entity
on the fault chain contributes its *earliest* anomaly (when it began to go wrong), then the alert.
"""

from __future__ import annotations

from detectors.models import Anomaly
from rca.models import Analysis, Candidate
from topology.models import short_id as _short

from .confidence import with_confidence
from .fixes import suggest_fixes
from .models import ChainStep, Narrative
from .rollouts import rollouts_of
from .wording import clock, duration, value, z_text

__all__ = ["anomaly_what", "event_chain", "narrate_template"]


def anomaly_what(anomaly: Anomaly) -> str:
    """``ttft_p95_s up 0.463 → 3.13 (z 19.5)`` / ``Unhealthy event``: one anomaly in a few words."""
    if anomaly.detector == "event":
        return f"{anomaly.metric.removeprefix('event:')} event"
    return f"{anomaly.metric} {anomaly.direction} {value(anomaly.baseline)} → {value(anomaly.current)} ({z_text(anomaly.score)})"


def first_anomalies(analysis: Analysis, entities: list[str]) -> dict[str, Anomaly]:
    """Each entity's earliest anomaly (ties: the largest), i.e. when it began to go wrong."""
    wanted = set(entities)
    first: dict[str, Anomaly] = {}
    for anomaly in analysis.anomalies:
        if anomaly.entity in wanted:
            known = first.get(anomaly.entity)
            if known is None or (anomaly.onset, -anomaly.score) < (known.onset, -known.score):
                first[anomaly.entity] = anomaly
    return first


def event_chain(analysis: Analysis, candidate: Candidate) -> list[ChainStep]:
    """The candidate's changes (one step per rollout), each chain entity's earliest anomaly, then the alert."""
    incident = analysis.incident
    day = incident.at
    chain_entities = candidate.chain.entities
    steps = [ChainStep(entity=r.first_entity, at=r.at, what=r.describe(day)) for r in rollouts_of(candidate.evidence)]
    for entity, anomaly in first_anomalies(analysis, chain_entities).items():
        steps.append(ChainStep(entity=entity, at=anomaly.onset, what=anomaly_what(anomaly)))
    steps.append(ChainStep(entity=incident.symptom, at=incident.at,
                           what=f"alert fired: {incident.title or (incident.metric or 'symptom') + ' anomalous'}"))
    order = {e: i for i, e in enumerate(chain_entities)}
    return sorted(steps, key=lambda s: (s.at, order.get(s.entity, len(order))))


def _headline(analysis: Analysis, top: Candidate) -> str:
    rollouts = rollouts_of(top.evidence)
    if rollouts:
        return f"the {rollouts[0].title()} at {clock(rollouts[0].at, analysis.incident.at)}"
    own = [e for e in top.evidence if e.kind != "change"]
    if own:
        best = max(own, key=lambda e: e.weight)
        return f"{best.metric.removeprefix('event:') if best.metric else best.kind} from {clock(best.at, analysis.incident.at)}"
    return "no direct evidence"


def narrate_template(analysis: Analysis) -> Narrative:
    incident = analysis.incident
    if not analysis.candidates:
        narrative = Narrative(
            summary=(f"No anomaly or change was found under {incident.symptom} in the "
                     f"{duration(incident.lookback, incident.lookback_text)} before the alert."),
            root_cause=incident.symptom, event_chain=(), fix_suggestions=(),
        )
        return with_confidence(narrative, analysis)
    top = analysis.candidates[0]
    steps = event_chain(analysis, top)
    day = incident.at
    summary = f"{incident.title or incident.symptom}: most likely cause {_short(top.entity)} ({_headline(analysis, top)})."
    firsts = first_anomalies(analysis, top.chain.entities)
    if firsts:
        order = {e: i for i, e in enumerate(top.chain.entities)}
        earliest = min(firsts.values(), key=lambda a: (a.onset, order.get(a.entity, 0)))
        summary += f" {_short(earliest.entity)} went wrong first, at {clock(earliest.onset, day)}"
        felt = firsts.get(incident.symptom)
        summary += f"; {_short(incident.symptom)} from {clock(felt.onset, day)}." if felt is not None and felt is not earliest else "."
    fixes = suggest_fixes(top.evidence)
    if not fixes:
        for runner_up in analysis.candidates[1:3]:
            fixes = suggest_fixes(runner_up.evidence)
            if fixes:
                break
    narrative = Narrative(summary=summary, root_cause=top.entity, event_chain=tuple(steps), fix_suggestions=tuple(fixes))
    return with_confidence(narrative, analysis)
