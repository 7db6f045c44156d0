"""Human-readable rendering of an insight for the terminal, written to be read by an on-call engineer at 3 a.m.

Rules the layout follows (checked by ``tests/api/test_render.py``):

* each fact once: a rollout or an anomaly is stated in full where it first appears (normally "What happened") and
  referred to afterwards ("the rollout above", "ttft_p95_s above");
* lines fit the terminal: wrapped to its width, at most ``MAX_WIDTH``; shell commands are never wrapped (a command
  cut in two and pasted would run half of it), they sit alone on their line;
* one time format (``narrator.wording``): the alert's full time with its UTC offset once, clock times after it;
  durations as the user gave them; a clipped robust z as ``> 20``;
* the confidence says what it means, and when the top candidates are too close to call.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterable

from correlators.models import Evidence
from detectors.models import Anomaly
from narrator.rollouts import Rollout, rollouts_of
from narrator.template import first_anomalies
from narrator.wording import clock, day_and_offset, duration, stamp, value, z_text
from rca.models import Candidate
from topology.models import short_id

from .insight import Insight

MAX_WIDTH = 120
_CODE = re.compile(r"`[^`]+`")
_NBSP = "\x00"
MIN_WIDTH = 60
EVIDENCE_PER_CANDIDATE = 3


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` or the tty), at most ``MAX_WIDTH``; ``MAX_WIDTH`` when not a terminal."""
    columns = shutil.get_terminal_size((MAX_WIDTH, 24)).columns
    return max(MIN_WIDTH, min(MAX_WIDTH, columns))


class _Page:
    """Lines wrapped to a width, with hanging indents."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[str] = []

    def text(self, text: str, indent: int = 0, hang: int | None = None) -> None:
        """Wrap ``text``; a `backticked` command inside it is kept on one line (its spaces do not break)."""
        hang = indent if hang is None else hang
        protected = _CODE.sub(lambda m: m.group(0).replace(" ", _NBSP), text)
        wrapped = textwrap.wrap(
            protected, width=self.width, initial_indent=" " * indent, subsequent_indent=" " * hang,
            break_long_words=False, break_on_hyphens=False,
        )
        self.lines += [line.replace(_NBSP, " ") for line in wrapped] or [""]

    def command(self, command: str, indent: int) -> None:
        self.lines.append(" " * indent + command)  # never wrapped: pasted, a wrapped command would run in pieces

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


class _Facts:
    """What has been stated already, so later mentions refer to it instead of repeating it."""

    def __init__(self, anomalies: Iterable[Anomaly] = ()) -> None:
        self.rollouts: dict[tuple, str] = {}  # key -> the title it was stated under
        self.anomalies: set[tuple[str, str | None, object]] = set()
        self.z = {(x.entity, x.metric, x.onset): x.score for x in anomalies if x.detector != "event"}

    def rollout(self, rollout: Rollout, day: object) -> str:
        if rollout.key in self.rollouts:
            return f"the {self.rollouts[rollout.key]} above"
        self.rollouts[rollout.key] = rollout.title()
        return rollout.describe(day)  # type: ignore[arg-type]

    def evidence(self, item: Evidence, day: object) -> str:
        key = (item.entity, item.metric, item.at)
        if key in self.anomalies:
            return f"{(item.metric or item.kind).removeprefix('event:')} above"
        self.anomalies.add(key)
        if item.kind == "event":
            return f"{(item.metric or 'event').removeprefix('event:')} event at {clock(item.at, day)}"  # type: ignore[arg-type]
        z = f" ({z_text(self.z[key])})" if key in self.z else ""
        return (f"{item.metric} {_direction(item)} {value(item.baseline)} → {value(item.current)}{z} "
                f"from {clock(item.at, day)}")  # type: ignore[arg-type]


def _direction(item: Evidence) -> str:
    if item.baseline is None or item.current is None:
        return "changed"
    return "up" if item.current > item.baseline else "down"


def _terms(candidate: Candidate) -> str:
    t = candidate.terms
    return " ".join(f"{x:.2f}" for x in (t.walk, t.anomaly, t.precedence, t.change, t.distance))


def _candidate_evidence(candidate: Candidate, facts: _Facts, day: object) -> str:
    parts = [facts.rollout(r, day) for r in rollouts_of(candidate.evidence)]
    own = [e for e in candidate.evidence if e.kind != "change"][:EVIDENCE_PER_CANDIDATE]
    parts += [facts.evidence(e, day) for e in own]
    return "; ".join(parts) or "no direct evidence"


def render_text(insight: Insight, top: int = 5, width: int | None = None) -> str:
    a, n = insight.analysis, insight.narrative
    incident = a.incident
    day = incident.at
    page = _Page(width or terminal_width())
    facts = _Facts(a.anomalies)

    page.text(incident.title or f"Incident on {incident.symptom}")
    page.text(f"Symptom {incident.symptom}{f' ({incident.metric})' if incident.metric else ''}, alert at "
              f"{stamp(incident.at)}; looked back {duration(incident.lookback, incident.lookback_text)} over "
              f"{a.subgraph_entities} entities and {a.subgraph_relations} relations: {len(a.anomalies)} anomalies, "
              f"{len(a.changes)} changes. Below, {day_and_offset(day)}.", indent=2)
    page.blank()

    if not a.candidates:
        page.text(n.summary)
        page.text(n.confidence_text, indent=2)
        return "\n".join(page.lines)

    lead = a.candidates[0]
    page.text(f"Most likely cause: {short_id(lead.entity)} (candidate 1 below).")
    page.text(n.confidence_text, indent=2)
    page.blank()

    if n.narrator == "llm":
        page.text(f"Narrative by {n.model or 'the LLM'} (checked against the evidence):")
        page.text(n.summary, indent=2)
        page.blank()
    elif n.fallback_reason:
        page.text(f"LLM narrative not used: {n.fallback_reason}", indent=0, hang=2)
        page.blank()

    page.text("What happened:")
    rollouts = {r.first_entity: r for r in rollouts_of(lead.evidence)} if n.narrator == "template" else {}
    if n.narrator == "template":
        for entity, anomaly in first_anomalies(a, lead.chain.entities).items():
            facts.anomalies.add((entity, anomaly.metric, anomaly.onset))
    for step in n.event_chain:
        rollout = rollouts.get(step.entity)
        if rollout is not None and step.at == rollout.at and step.what == rollout.describe(day):
            what = facts.rollout(rollout, day)
        elif step.entity == incident.symptom and step.at == incident.at and incident.title and incident.title in step.what:
            what = f"{short_id(step.entity)}: alert fired (the incident above)"
        else:
            what = f"{short_id(step.entity)}: {step.what}"
        page.text(f"{clock(step.at, day)}  {what}", indent=2, hang=12)
    page.blank()

    page.text("Fault chain (cause → users): " + " → ".join(short_id(e) for e in lead.chain.entities), hang=2)
    page.blank()

    page.text("Candidates, ranked by score [its terms: walk, anomaly, precedence, change, distance]:")
    for i, candidate in enumerate(a.candidates[:top], start=1):
        on_chain = " — on the chain above" if i > 1 and candidate.entity in lead.chain.entities else ""
        page.text(f"{i}. {short_id(candidate.entity)}  {candidate.score:.3f} [{_terms(candidate)}]{on_chain}",
                  indent=2, hang=5)
        page.text(_candidate_evidence(candidate, facts, day), indent=5)
    if len(a.candidates) > top:
        page.text(f"({len(a.candidates) - top} more with --top {len(a.candidates)} or --json)", indent=2)
    page.blank()

    page.text("What to do, first things first:")
    if not n.fix_suggestions:
        page.text("(no fix derived from the evidence)", indent=2)
    for i, fix in enumerate(n.fix_suggestions, start=1):
        page.text(f"{i}. {fix.action}" + (":" if fix.command else f" (on {short_id(fix.entity)})."), indent=2, hang=5)
        if fix.command:
            page.command(fix.command, indent=7)
            if fix.effect:
                page.text(f"Does: {fix.effect}", indent=5)
        page.text(f"Risk: {fix.risk}", indent=5)
        if fix.undo:
            page.text(f"Undo: {fix.undo}", indent=5)
    page.blank()
    page.text("Timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in insight.timings_ms.items()))
    return "\n".join(page.lines)
