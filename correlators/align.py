"""Temporal alignment: which changes plausibly caused which anomalies.

A change on entity E at time t is linked to an anomaly on A when A is E or depends on E (the fault can flow from E up
to A) and the anomaly's onset falls in ``[t - skew, t + horizon]``. ``skew`` tolerates onsets estimated one sample
early and clocks that disagree; a change clearly *after* an onset cannot have caused it and is not evidence.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from detectors.models import Anomaly
from topology.models import Relation, Subgraph, short_id

from .models import Change, ChangeLink, Evidence


@dataclass(frozen=True)
class AlignConfig:
    horizon: timedelta = timedelta(minutes=30)
    skew: timedelta = timedelta(seconds=90)
    tau_s: float = 600.0
    """Proximity decays as exp(-lag / tau): a change two minutes before an onset counts more than one 25 minutes before."""


ROLE_WEIGHT = {"commit": 1.0, "image": 0.8, "changed": 0.6}
"""Share of a change's proximity credited to each entity it touches: the commit is the root, the image and the pod
that carried it are on the way."""


def dependents(relations: Sequence[Relation], entity: str) -> set[str]:
    """``entity`` and everything that (transitively) depends on it."""
    reverse: dict[str, list[str]] = defaultdict(list)
    for relation in relations:
        reverse[relation.dst].append(relation.src)
    seen = {entity}
    queue = deque([entity])
    while queue:
        for parent in reverse[queue.popleft()]:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return seen


@dataclass(frozen=True)
class Correlation:
    """Evidence per entity plus the change↔anomaly links behind it."""

    links: tuple[ChangeLink, ...]
    unlinked_changes: tuple[Change, ...]
    evidence: dict[str, tuple[Evidence, ...]] = field(default_factory=dict)

    def evidence_for(self, entity: str) -> tuple[Evidence, ...]:
        return self.evidence.get(entity, ())


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def anomaly_evidence(anomaly: Anomaly) -> Evidence:
    if anomaly.detector == "event":
        summary = f"{anomaly.metric.removeprefix('event:')} event at {anomaly.onset:%H:%M:%S}"
        kind = "event"
    else:
        summary = (
            f"{anomaly.metric} {anomaly.direction} from {_fmt(anomaly.baseline)} to {_fmt(anomaly.current)} "
            f"(robust z {anomaly.score:.1f}) since {anomaly.onset:%H:%M:%S}"
        )
        if anomaly.template:
            summary += f"; template \"{anomaly.template[:160]}\""
        if anomaly.detail:
            summary += f" ({anomaly.detail})"
        if anomaly.traces:
            summary += f"; exemplar trace{'s' if len(anomaly.traces) > 1 else ''} {', '.join(anomaly.traces)}"
        kind = "anomaly"
    return Evidence(
        kind=kind, entity=anomaly.entity, at=anomaly.onset, weight=anomaly.severity, summary=summary,
        metric=anomaly.metric, baseline=anomaly.baseline, current=anomaly.current, traces=anomaly.traces,
        template=anomaly.template, log_lines=anomaly.examples,
    )


def _change_summary(change: Change, links: Sequence[ChangeLink]) -> str:
    what = f"{change.kind} on {change.entity} at {change.at:%H:%M:%S}"
    if change.before or change.after:
        what += f": {short_id(change.before or '?')} → {short_id(change.after or '?')}"
    if change.commit:
        message = change.attrs.get("message")
        author = change.attrs.get("author")
        what += f" ({short_id(change.commit)}" + (f" \"{message}\"" if message else "") + (f" by {author}" if author else "") + ")"
    first = min((link for link in links if link.anomaly.entity == change.entity), default=None, key=lambda link: link.lag_s)
    first = first or min(links, key=lambda link: link.lag_s)
    what += f"; {max(first.lag_s, 0) / 60:.1f} min before {first.anomaly.metric} went {first.anomaly.direction} on {first.anomaly.entity}"
    return what


def correlate(subgraph: Subgraph, anomalies: Sequence[Anomaly], changes: Sequence[Change], config: AlignConfig = AlignConfig()) -> Correlation:
    """Link changes to the anomalies they precede and turn both into per-entity evidence."""
    relations = list(subgraph.relations)
    known = subgraph.entity_ids()
    links: list[ChangeLink] = []
    unlinked: list[Change] = []
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for anomaly in anomalies:
        evidence[anomaly.entity].append(anomaly_evidence(anomaly))
    for change in changes:
        reach = dependents(relations, change.entity) if change.entity in known else {change.entity}
        for touched in (change.after, change.commit):  # the new image and its commit sit under the changed entity
            if touched and touched in known:
                reach |= dependents(relations, touched)
        own = []
        for anomaly in anomalies:
            if anomaly.entity not in reach:
                continue
            lag = (anomaly.onset - change.at).total_seconds()
            if -config.skew.total_seconds() <= lag <= config.horizon.total_seconds():
                proximity = math.exp(-max(lag, 0.0) / config.tau_s)
                own.append(ChangeLink(change=change, anomaly=anomaly, lag_s=lag, proximity=proximity))
        if not own:
            unlinked.append(change)
            continue
        links.extend(own)
        proximity = max(link.proximity * link.anomaly.severity for link in own)
        explains = tuple(sorted({link.anomaly.entity for link in own}))
        summary = _change_summary(change, own)
        roles = [("changed", change.entity)]
        if change.after:
            roles.append(("image", change.after))
        if change.commit:
            roles.append(("commit", change.commit))
        for role, entity in roles:
            if entity in known:
                evidence[entity].append(
                    Evidence(
                        kind="change", entity=entity, at=change.at, weight=proximity * ROLE_WEIGHT[role],
                        summary=summary, change=change, explains=explains,
                    )
                )
    return Correlation(
        links=tuple(links), unlinked_changes=tuple(unlinked), evidence={k: tuple(v) for k, v in evidence.items()}
    )
