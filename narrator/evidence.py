"""The evidence an LLM may see: the ranker's own findings, cut down to a size the prompt can carry.

Why a separate, bounded model instead of handing the ``Analysis`` to the prompt: the analysis of a 5,000-entity
incident holds thousands of anomalies and changes, but an engineer (and a model) needs the top candidates, the
evidence that put them there, the fault chain, the changes with their commits, and a short timeline. ``EvidencePack``
is exactly that, and it is also the reference the grounding check compares the narrative against: what the model was
not shown, it may not claim.

Ids are shown in their short form (``topology.models.short_id``: digests and shas cut to 12 hex digits, as the
evidence summaries already write them); ``aliases`` maps them back to the full ids the narrative must carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from correlators.models import Change, Evidence
from detectors.models import Anomaly
from rca.models import Analysis, Candidate
from topology.models import short_id
from topology.timeutil import UtcDatetime

from .wording import z_text


@dataclass(frozen=True)
class EvidenceLimits:
    """How much of the analysis goes into the prompt. ``shrink`` gives the next smaller setting, ``None`` at the floor.

    Shrinking goes round-robin over the parts, least valuable first in each round (timeline tail, per-candidate
    evidence, changes, candidates, long texts, chain length), so no part is cut to its floor while another is whole.
    """

    candidates: int = 5
    evidence_per_candidate: int = 4
    chain_hops: int = 10
    changes: int = 8
    timeline: int = 24
    text_chars: int = 240
    round_robin: int = field(default=0, repr=False, compare=False)

    _FLOOR = {"timeline": 4, "evidence_per_candidate": 1, "changes": 1, "candidates": 1, "text_chars": 80, "chain_hops": 3}
    _SMALLER = {
        "timeline": lambda v: v * 3 // 4,
        "evidence_per_candidate": lambda v: v - 1,
        "changes": lambda v: v * 3 // 4,
        "candidates": lambda v: v - 1,
        "text_chars": lambda v: v * 4 // 5,
        "chain_hops": lambda v: v - 1,
    }

    def shrink(self) -> EvidenceLimits | None:
        names = list(self._FLOOR)
        for offset in range(len(names)):
            name = names[(self.round_robin + offset) % len(names)]
            value, floor = getattr(self, name), self._FLOOR[name]
            if value > floor:
                nxt = (self.round_robin + offset + 1) % len(names)
                return replace(self, **{name: max(floor, self._SMALLER[name](value)), "round_robin": nxt})
        return None


class EvidenceItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    entity: str
    at: UtcDatetime
    text: str
    traces: tuple[str, ...] = ()
    """Exemplar trace ids of a trace-derived anomaly: the only trace ids a narrative may cite."""
    template: str | None = None
    """The log template of a log-derived anomaly: the only templates a narrative may quote."""
    log_lines: tuple[str, ...] = ()


class CandidateBrief(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    entity: str
    kind: str
    score: float
    chain: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]


class ChangeBrief(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: UtcDatetime
    entity: str
    kind: str
    before: str | None = None
    after: str | None = None
    commit: str | None = None
    author: str | None = None
    message: str | None = None


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: UtcDatetime
    entity: str
    what: str


class IncidentBrief(BaseModel):
    model_config = ConfigDict(frozen=True)

    symptom: str
    metric: str | None
    at: UtcDatetime
    title: str
    lookback_min: float


class ActionBrief(BaseModel):
    """A fix faultline's own rules derive from the evidence (``narrator.fixes``), shown so a model can choose."""

    model_config = ConfigDict(frozen=True)

    action: str
    entity: str
    risk: str


class EvidencePack(BaseModel):
    """Everything the model is shown. ``omitted`` counts what was left out for the budget (shown as a note)."""

    model_config = ConfigDict(frozen=True)

    incident: IncidentBrief
    candidates: tuple[CandidateBrief, ...]
    changes: tuple[ChangeBrief, ...]
    timeline: tuple[TimelineEntry, ...]
    omitted: dict[str, int]
    aliases: dict[str, str]
    actions: tuple[ActionBrief, ...] = ()

    def entity_ids(self) -> list[str]:
        """Every id the pack names in a structured field, in first-seen order (display form)."""
        seen: dict[str, None] = {self.incident.symptom: None}
        for c in self.candidates:
            seen[c.entity] = None
            seen.update(dict.fromkeys(c.chain))
            seen.update(dict.fromkeys(e.entity for e in c.evidence))
        for ch in self.changes:
            seen.update(dict.fromkeys(x for x in (ch.entity, ch.before, ch.after, ch.commit) if x))
        seen.update(dict.fromkeys(t.entity for t in self.timeline))
        seen.update(dict.fromkeys(a.entity for a in self.actions))
        return list(seen)

    def templates(self) -> list[str]:
        """Every log template the pack shows."""
        return list(dict.fromkeys(e.template for c in self.candidates for e in c.evidence if e.template))

    def times(self) -> list[datetime]:
        """Every time the pack names in a structured field, sorted."""
        moments = {self.incident.at}
        moments.update(e.at for c in self.candidates for e in c.evidence)
        moments.update(ch.at for ch in self.changes)
        moments.update(t.at for t in self.timeline)
        return sorted(moments)

    def moments(self) -> set[tuple[str, datetime]]:
        """Every (entity, time) the pack ties together: what happened to whom, when. A change's time belongs to the
        changed entity, its images and its commit."""
        pairs = {(self.incident.symptom, self.incident.at)}
        pairs.update((e.entity, e.at) for c in self.candidates for e in c.evidence)
        pairs.update((t.entity, t.at) for t in self.timeline)
        for ch in self.changes:
            pairs.update((x, ch.at) for x in (ch.entity, ch.before, ch.after, ch.commit) if x)
        for c in self.candidates:  # a change carried as a candidate's evidence names the candidate too
            pairs.update((c.entity, e.at) for e in c.evidence if e.kind == "change")
        return pairs

    def full_id(self, display_id: str) -> str:
        return self.aliases.get(display_id, display_id)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def anomaly_text(anomaly: Anomaly) -> str:
    """One line for the timeline, with the numbers the narrative may quote (a clipped z as ``> 20``)."""
    if anomaly.detector == "event":
        return f"{anomaly.metric.removeprefix('event:')} event"
    return (
        f"{anomaly.metric} {anomaly.direction} from {_fmt(anomaly.baseline)} to {_fmt(anomaly.current)} "
        f"(robust {z_text(anomaly.score)})"
    )


_ROBUST_Z = re.compile(r"robust z (\d+(?:\.\d+)?)")


def _clipped_z(text: str) -> str:
    """The ranker's summaries print a clipped z as ``robust z 20.0``; the prompt says ``robust z > 20``."""
    return _ROBUST_Z.sub(lambda m: "robust " + z_text(float(m.group(1))), text)


def change_text(change: Change) -> str:
    what = change.kind
    if change.before or change.after:
        what += f" {short_id(change.before) if change.before else '?'} -> {short_id(change.after) if change.after else '?'}"
    if change.commit:
        what += f" ({short_id(change.commit)})"
    return what


def _evidence_text(evidence: Evidence) -> str:
    """The ranker's summary; for a change, a short form (its details are in the Changes section) plus the lag.
    A template and trace ids the summary repeats are cut: they are shown in their own fields, uncut."""
    if evidence.kind != "change" or evidence.change is None:
        text = evidence.summary
        if evidence.template or evidence.traces:
            text = text.split("; template ", 1)[0].split("; exemplar trace", 1)[0]
        return _clipped_z(text)
    change = evidence.change
    text = f"{change_text(change)} on {short_id(change.entity)} at {change.at:%H:%M:%S}"
    _, sep, lag = evidence.summary.rpartition("; ")
    return f"{text}; {lag}" if sep and "before" in lag else text


def _relevance(entity_sets: list[set[str]], *ids: str | None) -> int:
    """0 when any id is on the top candidate's chain, 1 on another shown candidate's chain, 2 otherwise."""
    for rank, members in enumerate(entity_sets[:2]):
        if any(i in members for i in ids if i):
            return rank
    return 2


def _candidate_brief(rank: int, candidate: Candidate, limits: EvidenceLimits) -> CandidateBrief:
    evidence = sorted(candidate.evidence, key=lambda e: -e.weight)[: limits.evidence_per_candidate]
    chain = candidate.chain.entities[: limits.chain_hops]
    return CandidateBrief(
        rank=rank,
        entity=short_id(candidate.entity),
        kind=candidate.kind,
        score=round(candidate.score, 3),
        chain=tuple(short_id(e) for e in chain),
        evidence=tuple(
            EvidenceItem(kind=e.kind, entity=short_id(e.entity), at=e.at, text=_clip(_evidence_text(e), limits.text_chars),
                         traces=e.traces[:3], template=_clip(e.template, limits.text_chars) if e.template else None,
                         log_lines=tuple(_clip(line, limits.text_chars) for line in e.log_lines[:2]))
            for e in evidence
        ),
    )


def _change_brief(change: Change, limits: EvidenceLimits) -> ChangeBrief:
    author = change.attrs.get("author")
    message = change.attrs.get("message")
    return ChangeBrief(
        at=change.at,
        entity=short_id(change.entity),
        kind=change.kind,
        before=short_id(change.before) if change.before else None,
        after=short_id(change.after) if change.after else None,
        commit=short_id(change.commit) if change.commit else None,
        author=str(author) if author else None,
        message=_clip(str(message), limits.text_chars) if message else None,
    )


def _aliases(full_ids: Iterable[str]) -> dict[str, str]:
    """display id -> full id, only where they differ and the short form is unambiguous."""
    by_short: dict[str, set[str]] = {}
    for full in full_ids:
        by_short.setdefault(short_id(full), set()).add(full)
    return {s: next(iter(f)) for s, f in by_short.items() if len(f) == 1 and s not in f}


def build_evidence(analysis: Analysis, limits: EvidenceLimits = EvidenceLimits()) -> EvidencePack:
    """Select and shorten what the model will see, most relevant first, at most ``limits`` of each part."""
    incident = analysis.incident
    shown = analysis.candidates[: limits.candidates]
    chain_sets = [set(c.chain.entities) | {c.entity} for c in shown]

    changes = sorted(
        analysis.changes,
        key=lambda ch: (_relevance(chain_sets, ch.entity, ch.after, ch.commit), abs((incident.at - ch.at).total_seconds())),
    )
    kept_changes = changes[: limits.changes]

    earliest: dict[str, Anomaly] = {}
    for a in analysis.anomalies:  # when each entity began to go wrong: kept first, so the timeline starts right
        if a.entity not in earliest or (a.onset, -a.score) < (earliest[a.entity].onset, -earliest[a.entity].score):
            earliest[a.entity] = a
    anomalies = sorted(
        analysis.anomalies,
        key=lambda a: (_relevance(chain_sets, a.entity), earliest[a.entity] is not a, -a.score),
    )
    alert = TimelineEntry(
        at=incident.at, entity=short_id(incident.symptom),
        what=f"alert fired: {_clip(incident.title, limits.text_chars) or (incident.metric or 'symptom') + ' anomalous'}",
    )
    room = max(0, limits.timeline - 1)
    timeline_changes = kept_changes[: max(1, room // 3)] if room else []
    timeline_anomalies = anomalies[: room - len(timeline_changes)]
    timeline = [alert]
    timeline += [TimelineEntry(at=ch.at, entity=short_id(ch.entity), what=change_text(ch)) for ch in timeline_changes]
    timeline += [TimelineEntry(at=a.onset, entity=short_id(a.entity), what=anomaly_text(a)) for a in timeline_anomalies]
    timeline.sort(key=lambda t: t.at)

    full_ids = {incident.symptom}
    for c in shown:
        full_ids.add(c.entity)
        full_ids.update(c.chain.entities)
        full_ids.update(e.entity for e in c.evidence)
    for ch in kept_changes:
        full_ids.update(x for x in (ch.entity, ch.before, ch.after, ch.commit) if x)
    full_ids.update(a.entity for a in timeline_anomalies)
    actions = _actions(shown, limits)
    full_ids.update(a.entity for a in actions)

    omitted = {
        "candidates": len(analysis.candidates) - len(shown),
        "changes": len(analysis.changes) - len(kept_changes),
        "anomalies": len(analysis.anomalies) - len(timeline_anomalies),
    }
    return EvidencePack(
        incident=IncidentBrief(
            symptom=short_id(incident.symptom), metric=incident.metric, at=incident.at, title=incident.title,
            lookback_min=round(incident.lookback.total_seconds() / 60, 1),
        ),
        candidates=tuple(_candidate_brief(i, c, limits) for i, c in enumerate(shown, start=1)),
        changes=tuple(sorted((_change_brief(ch, limits) for ch in kept_changes), key=lambda b: b.at)),
        timeline=tuple(timeline),
        omitted={k: v for k, v in omitted.items() if v > 0},
        aliases=_aliases(full_ids),
        actions=tuple(ActionBrief(action=_clip(a.action, limits.text_chars), entity=short_id(a.entity),
                                  risk=_clip(a.risk, limits.text_chars)) for a in actions),
    )


def _actions(shown: tuple[Candidate, ...], limits: EvidenceLimits) -> list:
    """The rule-based fixes of the first shown candidate that has any (as the template narrator picks them)."""
    from .fixes import suggest_fixes  # fixes -> rollouts -> wording; imported here to keep this module's imports flat

    for candidate in shown[:3]:
        fixes = suggest_fixes(candidate.evidence, limit=3)
        if fixes:
            return fixes
    return []
