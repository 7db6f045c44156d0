"""The deterministic template narrator, the default: it can only say what the evidence says.

Why keep it even with an LLM configured: it is instant, free, reproducible, and the fallback whenever a model is
slow, down, or not grounded.
"""

from __future__ import annotations

from rca.models import Analysis, Candidate

from topology.models import short_id as _short

from .fixes import suggest_fixes
from .models import ChainStep, Narrative


def _confidence(candidates: tuple[Candidate, ...]) -> float:
    """High when the top score is high and clearly ahead of the runner-up."""
    if not candidates:
        return 0.0
    top = candidates[0].score
    second = candidates[1].score if len(candidates) > 1 else 0.0
    margin = (top - second) / top if top > 0 else 0.0
    return round(max(0.0, min(1.0, top * (0.6 + 0.4 * margin) * 1.2)), 2)


def event_chain(analysis: Analysis, candidate: Candidate) -> list[ChainStep]:
    """The changes on the candidate, then the first anomaly of each entity along the chain, then the alert."""
    steps: list[ChainStep] = []
    seen_changes: set[tuple[str, str]] = set()
    chain_entities = candidate.chain.entities
    for evidence in candidate.evidence:
        if evidence.kind == "change" and evidence.change is not None:
            key = (evidence.change.entity, evidence.change.at.isoformat())
            if key not in seen_changes:
                seen_changes.add(key)
                steps.append(ChainStep(entity=evidence.change.entity, at=evidence.change.at, what=evidence.summary.split(";")[0]))
    by_entity = {}
    for anomaly in analysis.anomalies:
        if anomaly.entity in chain_entities:
            earlier = by_entity.get(anomaly.entity)
            if earlier is None or anomaly.onset < earlier.onset:
                by_entity[anomaly.entity] = anomaly
    for entity, anomaly in by_entity.items():
        if anomaly.detector == "event":
            what = f"{anomaly.metric.removeprefix('event:')} event"
        else:
            what = f"{anomaly.metric} went {anomaly.direction}: {anomaly.baseline:.4g} → {anomaly.current:.4g}"
        steps.append(ChainStep(entity=entity, at=anomaly.onset, what=what))
    incident = analysis.incident
    steps.append(ChainStep(entity=incident.symptom, at=incident.at,
                           what=f"alert fired: {incident.title or (incident.metric or 'symptom') + ' anomalous'}"))
    return sorted(steps, key=lambda s: (s.at, chain_entities.index(s.entity) if s.entity in chain_entities else 99))


def narrate_template(analysis: Analysis) -> Narrative:
    incident = analysis.incident
    if not analysis.candidates:
        return Narrative(
            summary=f"No anomaly or change was found under {incident.symptom} in the {incident.lookback} before the alert.",
            root_cause=incident.symptom, event_chain=(), fix_suggestions=(), confidence=0.0,
        )
    top = analysis.candidates[0]
    chain = " → ".join(_short(e) for e in top.chain.entities)
    lead = top.evidence[0].summary if top.evidence else "no direct evidence"
    summary = (
        f"{incident.title or incident.symptom}: most likely root cause {_short(top.entity)} — {lead}. "
        f"Fault chain: {chain}."
    )
    fixes = suggest_fixes(top.evidence)
    if not fixes:
        for runner_up in analysis.candidates[1:3]:
            fixes = suggest_fixes(runner_up.evidence)
            if fixes:
                break
    return Narrative(
        summary=summary, root_cause=top.entity, event_chain=tuple(event_chain(analysis, top)),
        fix_suggestions=tuple(fixes), confidence=_confidence(analysis.candidates),
    )
