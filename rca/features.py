"""Per-candidate features: the numbers the fitted ranking model reads.

The question for every entity under the symptom is *"is this where the trouble starts?"*. Each feature answers one
part of it and is a small pure function of the detection, the topology slice and the changes; all are scale-free
(log sizes, shares, signs, counts of samples — never seconds chosen for one data set), so one fitted weight vector
serves 1-s, 1-min and 5-min data alike.

Names and meanings (``FEATURES`` fixes the order the model's weights follow):

=================  ==================================================================================================
``size``           log(1 + largest shift of any of the entity's series), significant or not (N-Sigma's instinct)
``size_rel``       ``size`` relative to the largest ``size`` among the candidates (1 = the loudest entity)
``peak_rel``       same for the largest single residual in the window (a fault over before the alert)
``significant``    1 when a series shift passed both the size and the rank test, or a failure event occurred
``saturation``     log(1 + largest bad-way shift of a saturation series) — CPU, memory, queues, KV cache …
``errors``         … of an errors series (error rate up, success rate down, restarts, Xid)
``latency``        … of a latency series
``traffic``        … of a traffic series, either way
``event``          1 for a failure event in the window (OOMKilled, BackOff, Xid, Evicted …)
``corr``           largest |correlation| of one of its series with the symptom's series over the window: a cause
                   moves when the symptom moves (the PetShop paper's ranked correlation)
``is_symptom``     1 for the symptom itself (a bad deploy of the alerting service is a common real cause)
``hops``           dependency hops from the symptom, relative to the deepest entity of the slice
``below``          log(1 + largest significant shift among everything it depends on): a louder dependency
                   explains the entity's trouble
``excess``         ``size`` minus the ``size`` of its loudest dependency (clipped to ±3): louder than what is under it
``above``          share of the entities between it and the symptom (its dependents in the slice) with a
                   significant shift: a cause's trouble is visible on the way up
``lead``           how many samples its onset precedes the onsets above it (clipped ±5, /5)
``earliest``       1 when its onset is the earliest of all significant entities (within one sample)
``change``         a change on it (or the image/commit it carried) confirmed by trouble right after, in [0, 1]
``change_recent``  1 for the entities of the most recent change before the symptom's onset
``canary``         the new pods of a rollout against the old pods they replaced and their siblings, in [0, 1]
``silent_rollout`` 1 when a rollout's new pods never reported a sample or crash-looped
``walk``           random-walk-with-restart visit mass from the symptom, relative to the best candidate
=================  ==================================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import numpy as np

from correlators.canary import RolloutFinding
from correlators.models import Change, Evidence, Incident
from detectors.detect import SeriesScores
from detectors.models import Anomaly

FEATURES: tuple[str, ...] = (
    "size", "size_rel", "peak_rel", "significant", "saturation", "errors", "latency", "traffic", "event", "corr",
    "is_symptom", "hops", "below", "excess", "above", "lead", "earliest", "change", "change_recent", "canary",
    "silent_rollout", "walk",
)

FAILURE_EVENTS = ("OOMKilled", "XidError", "CrashLoopBackOff", "BackOff", "Evicted", "NodeNotReady", "Unhealthy",
                  "FailedScheduling", "Failed", "FailedMount", "ImagePullBackOff", "ErrImagePull")


@dataclass(frozen=True)
class EntitySignals:
    """What the detectors say about one entity, summarised over its series and events."""

    size: float = 0.0
    peak: float = 0.0
    significant_size: float = 0.0
    role_size: Mapping[str, float] | None = None
    event: bool = False
    onset: float | None = None
    """Epoch seconds of its earliest strong significant shift or failure event; None without one."""
    corr: float = 0.0


def symptom_row(scores: SeriesScores, incident: Incident) -> int | None:
    """The series that stands for the symptom: the alert's metric on it, else the symptom's largest shift."""
    rows = [i for i, key in enumerate(scores.frame.keys) if key.entity == incident.symptom]
    if not rows:
        return None
    if incident.metric:
        for i in rows:
            if scores.frame.keys[i].metric == incident.metric:
                return i
    return max(rows, key=lambda i: (scores.score[i], -i))


def correlation_with(trace: np.ndarray, row: np.ndarray) -> np.ndarray:
    """|Pearson correlation| of every row of ``trace`` with ``row`` over the samples both have (NaN-safe)."""
    if trace.size == 0:
        return np.zeros(trace.shape[0])
    both = np.isfinite(trace) & np.isfinite(row)[None, :]
    n = both.sum(axis=1)
    x = np.where(both, trace, 0.0)
    y = np.where(both, row[None, :], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = x.sum(axis=1) / np.maximum(n, 1)
        my = y.sum(axis=1) / np.maximum(n, 1)
        xc = np.where(both, x - mx[:, None], 0.0)
        yc = np.where(both, y - my[:, None], 0.0)
        cov = (xc * yc).sum(axis=1)
        den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
        r = np.where((den > 1e-12) & (n >= 3), cov / den, 0.0)
    return np.abs(np.nan_to_num(r))


def entity_signals(
    scores: SeriesScores, anomalies: Sequence[Anomaly], incident: Incident, strong_share: float = 0.6
) -> dict[str, EntitySignals]:
    """Per-entity summary of the series scores and the event anomalies."""
    sym = symptom_row(scores, incident)
    corr = (
        correlation_with(scores.trace, scores.trace[sym]) if sym is not None and scores.trace.size
        else np.zeros(len(scores.frame.keys))
    )
    out: dict[str, EntitySignals] = {}
    events: dict[str, list[Anomaly]] = {}
    for a in anomalies:
        if a.detector == "event" and a.metric.removeprefix("event:") in FAILURE_EVENTS:
            events.setdefault(a.entity, []).append(a)
    rows_of = scores.rows_of()
    for entity in set(rows_of) | set(events):
        rows = rows_of.get(entity, [])
        size = float(max((scores.score[i] for i in rows), default=0.0))
        peak = float(max((scores.peak[i] for i in rows), default=0.0))
        sig_rows = [i for i in rows if scores.significant[i]]
        sig_size = float(max((scores.score[i] for i in sig_rows), default=0.0))
        role_size: dict[str, float] = {}
        for i in rows:
            role = scores.roles[i]
            if role != "traffic" and not scores.bad[i]:
                continue
            role_size[role] = max(role_size.get(role, 0.0), float(scores.score[i]))
        onsets = [float(scores.onset[i]) for i in sig_rows if scores.score[i] >= strong_share * sig_size]
        evs = events.get(entity, [])
        onsets += [a.onset.timestamp() for a in evs]
        if evs:
            sig_size = max(sig_size, max(a.score for a in evs))
        out[entity] = EntitySignals(
            size=size, peak=peak, significant_size=sig_size, role_size=role_size, event=bool(evs),
            onset=min(onsets) if onsets else None,
            corr=float(max((corr[i] for i in rows if i != sym), default=0.0)),
        )
    return out


def _log(x: float) -> float:
    return math.log1p(max(x, 0.0))


@dataclass(frozen=True)
class ChangeSignals:
    """Change evidence per entity, from ``change_features``."""

    change: Mapping[str, float]
    recent: frozenset[str]
    canary: Mapping[str, float]
    silent: frozenset[str]


def change_features(
    graph: nx.DiGraph,
    evidence: Mapping[str, Sequence[Evidence]],
    signals: Mapping[str, EntitySignals],
    rollouts: Sequence[RolloutFinding],
    symptom_onset: float,
    step_s: float,
    symptom: str,
) -> ChangeSignals:
    """Confirmed changes, the most recent change, and the canary verdicts, per entity.

    A change is *confirmed* when the changed entity, what runs it, or the entity it serves shows a significant
    shift starting between one step before the change and ``confirm`` after it; the confirmation is the share of the
    loudest such shift among all shifts (so a harmless rollout next to a loud real fault confirms little).
    """
    skew = max(2 * step_s, 120.0)
    confirm = max(5 * step_s, 900.0)
    loudest = max((s.significant_size for s in signals.values()), default=0.0) or 1.0
    change: dict[str, float] = {}
    latest: tuple[float, set[str]] = (-math.inf, set())
    for entity, items in evidence.items():
        for e in items:
            if e.kind != "change" or e.change is None:
                continue
            ch: Change = e.change
            at = ch.at.timestamp()
            touched = {ch.entity, *(x for x in (ch.after, ch.commit) if x)}
            carriers = set(touched)
            for t in touched:
                if t in graph:
                    carriers |= set(graph.predecessors(t))
            carriers.discard(symptom) if symptom not in touched else None
            confirmation = 0.0
            for c in carriers:
                s = signals.get(c)
                if s is None or s.onset is None:
                    continue
                if at - skew <= s.onset <= at + confirm:
                    proximity = math.exp(-max(s.onset - at, 0.0) / confirm)
                    confirmation = max(confirmation, (s.significant_size / loudest) * (0.5 + 0.5 * proximity))
            change[entity] = max(change.get(entity, 0.0), min(confirmation, 1.0))
            if at <= symptom_onset + skew and at > latest[0]:
                latest = (at, {entity})
            elif at == latest[0]:
                latest[1].add(entity)
    canary: dict[str, float] = {}
    silent: set[str] = set()
    for finding in rollouts:
        for entity in finding.entities:
            canary[entity] = max(canary.get(entity, 0.0), finding.verdict)
            if finding.silent:
                silent.add(entity)
    return ChangeSignals(change=change, recent=frozenset(latest[1]), canary=canary, silent=frozenset(silent))


def candidate_features(
    nodes: Iterable[str],
    graph: nx.DiGraph,
    signals: Mapping[str, EntitySignals],
    changes: ChangeSignals,
    walk: Mapping[str, float],
    symptom: str,
    step_s: float,
) -> dict[str, dict[str, float]]:
    """The ``FEATURES`` of every candidate in ``nodes`` (a dict per entity, keys in ``FEATURES`` order)."""
    nodes = list(nodes)
    empty = EntitySignals()
    sig = {n: signals.get(n, empty) for n in nodes}
    hops = nx.single_source_shortest_path_length(graph, symptom) if symptom in graph else {symptom: 0}
    max_hops = max(hops.values(), default=0) + 1
    best_size = max((_log(s.size) for s in sig.values()), default=0.0) or 1.0
    best_peak = max((_log(s.peak) for s in sig.values()), default=0.0) or 1.0
    best_walk = max((walk.get(n, 0.0) for n in nodes), default=0.0) or 1.0
    onsets = {n: s.onset for n, s in sig.items() if s.onset is not None}
    first = min(onsets.values(), default=None)
    out: dict[str, dict[str, float]] = {}
    for n in nodes:
        s = sig[n]
        below = nx.descendants(graph, n) if n in graph else set()
        above = (nx.ancestors(graph, n) & set(nodes)) if n in graph else set()
        below_size = max((_log(sig[d].significant_size) for d in below if d in sig), default=0.0)
        above_sig = [a for a in above if sig.get(a, empty).significant_size > 0]
        lead = 0.0
        if s.onset is not None:
            ups = [onsets[a] for a in above if a in onsets]
            if ups:
                lead = float(np.clip((float(np.median(ups)) - s.onset) / step_s, -5, 5)) / 5
        roles = s.role_size or {}
        out[n] = {
            "size": _log(s.size),
            "size_rel": _log(s.size) / best_size,
            "peak_rel": _log(s.peak) / best_peak,
            "significant": 1.0 if s.significant_size > 0 else 0.0,
            "saturation": _log(roles.get("saturation", 0.0)),
            "errors": _log(roles.get("errors", 0.0)),
            "latency": _log(roles.get("latency", 0.0)),
            "traffic": _log(roles.get("traffic", 0.0)),
            "event": 1.0 if s.event else 0.0,
            "corr": s.corr,
            "is_symptom": 1.0 if n == symptom else 0.0,
            "hops": hops.get(n, max_hops) / max_hops,
            "below": below_size,
            "excess": float(np.clip(_log(s.size) - max((_log(sig[d].size) for d in below if d in sig), default=0.0), -3, 3)),
            "above": (len(above_sig) / len(above)) if above else 0.0,
            "lead": lead,
            "earliest": 1.0 if s.onset is not None and first is not None and s.onset <= first + step_s else 0.0,
            "change": changes.change.get(n, 0.0),
            "change_recent": 1.0 if n in changes.recent else 0.0,
            "canary": changes.canary.get(n, 0.0),
            "silent_rollout": 1.0 if n in changes.silent else 0.0,
            "walk": walk.get(n, 0.0) / best_walk,
        }
    return out


def onset_of_symptom(signals: Mapping[str, EntitySignals], symptom: str, at: datetime) -> float:
    """The symptom's onset (epoch s): its own strongest shift's onset, else the alert time."""
    s = signals.get(symptom)
    return s.onset if s is not None and s.onset is not None else at.timestamp()
