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
``match_size``     log(1 + largest shift among its series measuring what the alert measures: the alert's metric
                   name, else the same role (latency for a latency alert), the bad way) — the PetShop paper's
                   methods compare only the target's metric across nodes
``match_rel``      ``match_size`` relative to the largest among the candidates
``match_corr``     |correlation| of those series with the symptom's
``match_deepest``  1 when one of those series is significant and none of its dependencies' is (anomaly traversal
                   on the alert's metric)
``is_symptom``     1 for the symptom itself (a bad deploy of the alerting service is a common real cause)
``hops``           dependency hops from the symptom, relative to the deepest entity of the slice
``below``          log(1 + largest significant shift among everything it depends on): a louder dependency
                   explains the entity's trouble
``below_corr``     largest ``corr`` among its significant dependencies: one that moved with the symptom explains it
``deepest``        1 when it is significant and nothing it depends on is (the PetShop paper's anomaly traversal)
``excess``         ``size`` minus the ``size`` of its loudest dependency (clipped to ±3): louder than what is under it
``above``          share of the entities between it and the symptom (its dependents in the slice) with a
                   significant shift: a cause's trouble is visible on the way up
``explained``      1 when a dependency's significant trouble started no later than its own (within one sample)
``explains``       share of its dependents in the slice whose significant trouble started no earlier than its own
``unexplained``    1 minus the strongest coherent significant trouble beneath it that started no later
``coherence``      1 when trouble above it (or the symptom) followed its own within a few minutes, decaying after
``later``          the strongest coherent trouble elsewhere under the symptom that started clearly earlier (retries
                   and timeouts follow their cause)
``root_score``     relative severity × unexplained × coherence × (1 − later / 2): the hand-built ranker's core
                   term (``precedence_terms``), now one weighed feature among the others
``root_resource``  ``root_score`` counted on resource evidence only (saturation, fault counters, failure events):
                   a saturated or failing resource with nothing beneath it that went first (the USE method's root)
``root_timed``     ``root_score`` when onset order is informative (``timing_informative``), else 0
``lead_timed``     ``lead`` likewise
``from_start``     1 when its strongest shift is already there at the window's first sample: it may predate the
                   incident (another recording, an older problem) as much as belong to it
``preexisting``    its trouble was there when the window opened while the symptom's started inside it: it predates
                   the incident rather than causing it
``preceded``       strongest trouble beneath it that started at least one sample *before* its own (strict order:
                   silent when everything starts in the same sample, as on 5-minute data)
``precedes``       share of the troubled entities above it whose trouble started at least one sample after its own
``lead``           how many samples its onset precedes the onsets above it (clipped ±5, /5)
``earliest``       1 when its onset is the earliest of all significant entities (within one sample)
``change``         it is what a change put in (new image, commit; or the changed entity of a change without them),
                   confirmed by trouble right after on what carries it, in [0, 1]
``carrier``        it carried such a change (the rolled-out service, the pods that swapped image), in [0, 1]
``change_recent``  1 for the entities of the most recent change before the symptom's onset
``canary``         the new pods of a rollout against the old pods they replaced and their siblings: latency and
                   errors, in [0, 1]
``canary_saturation`` the same from CPU / memory (a new build running hotter is common and often harmless)
``silent_rollout`` 1 when a rollout's new pods never reported a sample or crash-looped
``walk``           random-walk-with-restart visit mass from the symptom, relative to the best candidate
``now_rel``        the shift still there in the window's last samples (``min_tail`` of them), relative to the
                   largest among the candidates
``ended``          1 when its largest shift reached the detection threshold but is below it in the last samples: a
                   fault over before the alert (an earlier incident in the same window) rather than this one
=================  ==================================================================================================
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import numpy as np

from correlators.canary import RolloutFinding
from correlators.models import Change, Incident
from detectors.detect import DetectConfig, SeriesScores
from detectors.models import Anomaly

FEATURES: tuple[str, ...] = (
    "size", "size_rel", "peak_rel", "significant", "saturation", "errors", "latency", "traffic", "event", "corr", "match_size", "match_rel", "match_corr",
    "match_deepest",
    "is_symptom", "hops", "below", "below_corr", "deepest", "excess", "above", "explained", "explains", "unexplained", "coherence", "later", "root_score", "root_resource", "root_timed", "lead_timed", "from_start", "preexisting", "preceded", "precedes", "lead", "earliest", "change", "carrier", "change_recent", "canary", "canary_saturation",
    "silent_rollout", "walk", "now_rel", "ended",
)

EXPECTED_SIGN: dict[str, int] = {
    **{f: +1 for f in (
        "size", "size_rel", "peak_rel", "significant", "saturation", "errors", "latency", "event", "corr",
        "match_size", "match_rel", "match_corr", "match_deepest", "deepest", "excess", "above", "explains", "lead",
        "earliest", "change", "change_recent", "canary", "canary_saturation", "silent_rollout", "walk",
        "unexplained", "coherence", "root_score", "root_resource", "root_timed", "lead_timed", "precedes", "now_rel",
    )},
    **{f: -1 for f in ("below", "below_corr", "explained", "later", "preceded", "preexisting", "ended")},
}
"""The way each feature may push a candidate, from the logic of the question, not from data: more own trouble, more
agreement with the symptom, earlier, confirmed changes push up; trouble beneath that explains it pushes down.
Features not listed (traffic, hops, is_symptom, carrier) may go either way. ``benchmarks/fit_ranker.py`` fits the
weights within these signs, which keeps collinear features from taking weights of the wrong sign that only fit
one data set."""

FAILURE_EVENTS = ("OOMKilled", "XidError", "CrashLoopBackOff", "BackOff", "Evicted", "NodeNotReady", "Unhealthy",
                  "FailedScheduling", "Failed", "FailedMount", "ImagePullBackOff", "ErrImagePull")


def has_ended(size: float, now: float) -> bool:
    """A shift that reached the detection threshold and is below it in the window's last samples: over before the
    alert (``ended``, and the walk's evidence keeps only what is left of it)."""
    return size >= DetectConfig.threshold and now < DetectConfig.threshold


def _severity(size: float) -> float:
    return size / (size + 5.0) if size > 0 else 0.0


def _log(x: float) -> float:
    return math.log1p(max(x, 0.0))


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
    strength: float = 0.0
    """Soft evidence in [0, 1): severity ``s / (s + 5)`` of its largest shift times the rank test's confidence."""
    strength_onset: float | None = None
    resource_strength: float = 0.0
    """``strength`` counted on resource evidence only: saturation series, fault counters, failure events."""
    from_start: bool = False
    """Its strongest shift is already there at the first sample of the window: it may predate the incident (a
    different recording, an older problem) as much as belong to it."""
    match_size: float = 0.0
    """Largest shift among its series that measure what the alert measures (the same metric name, else the same
    role as the symptom's series, moving the bad way)."""
    match_significant: bool = False
    match_corr: float = 0.0
    now: float = 0.0
    """Largest shift still there at the end of the window, over the same series as ``size``: the mean standardised
    residual, in its shift's direction, over the last ``min_tail`` samples (a fault over before the alert has a size
    but no ``now``)."""
    now_bad: float = 0.0
    """``now`` over the series that moved the bad way (and traffic either way): the trouble still there."""


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


def call_edge_owners(scores: SeriesScores, graph: nx.DiGraph) -> dict[int, str]:
    """Rows that measure a call rather than their holder: ``out_latency_p50_s[cartservice]`` on ``app:frontend``
    is the latency of frontend's calls to cartservice, as seen from the frontend. When the bracketed peer names an
    entity the holder depends on, the row speaks for that dependency — a network delay injected at cartservice shows
    on its callers' call latency, not on anything cartservice measures itself."""
    by_name: dict[str, list[str]] = {}
    for node in graph.nodes:
        by_name.setdefault(node.split(":", 1)[-1], []).append(node)
    owners: dict[int, str] = {}
    for i, key in enumerate(scores.frame.keys):
        if "[" not in key.metric or not key.metric.endswith("]") or key.entity not in graph:
            continue
        peer = key.metric[key.metric.index("[") + 1 : -1]
        for target in [peer, *by_name.get(peer, ())]:
            if target in graph and graph.has_edge(key.entity, target):
                owners[i] = target
                break
    return owners


def entity_signals(
    scores: SeriesScores, anomalies: Sequence[Anomaly], incident: Incident, strong_share: float = 0.6,
    owners: Mapping[int, str] | None = None,
) -> dict[str, EntitySignals]:
    """Per-entity summary of the series scores and the event anomalies (``owners`` re-assigns call-edge rows)."""
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
    window_start = (float(scores.frame.times[scores.split.n_baseline]) if scores.split is not None
                    and scores.split.n_baseline < len(scores.frame.times) else None)
    rows_of: dict[str, list[int]] = {}
    for i, key in enumerate(scores.frame.keys):
        rows_of.setdefault((owners or {}).get(i, key.entity), []).append(i)
    k_end = scores.split.min_tail if scores.split is not None else 1
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        end = (np.nan_to_num(np.nanmean(scores.trace[:, -k_end:], axis=1)) * scores.sign
               if scores.trace.size else np.zeros(len(scores.frame.keys)))
    end = np.clip(end, 0.0, None)
    sym_metric = scores.frame.keys[sym].metric if sym is not None else None
    sym_role = scores.roles[sym] if sym is not None else None
    for entity in set(rows_of) | set(events):
        rows = rows_of.get(entity, [])
        same = [i for i in rows if scores.frame.keys[i].metric == sym_metric]
        if not same and sym_role not in (None, "other", "traffic"):
            same = [i for i in rows if scores.roles[i] == sym_role and scores.bad[i]]
        same = [i for i in same if i != sym]
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
        # soft strength: a large shift the rank test is not yet sure of (two 5-min samples after a short baseline)
        # still counts, in proportion to its evidence: -log10(p) / 3, so p = 1e-3 counts fully
        soft = [(float(_severity(scores.score[i]) * min(max(-math.log10(max(scores.pvalue[i], 1e-300)) / 3.0, 0.0), 1.0)),
                 float(scores.onset[i])) for i in rows if scores.score[i] > 0 and np.isfinite(scores.onset[i])]
        soft += [(_severity(a.score), a.onset.timestamp()) for a in evs]
        strength = max((x for x, _ in soft), default=0.0)
        # the same evidence from resources only: saturation series, declared fault counters, failure events
        resource = [float(_severity(scores.score[i]) * min(max(-math.log10(max(scores.pvalue[i], 1e-300)) / 3.0, 0.0), 1.0))
                    for i in rows if scores.roles[i] == "saturation" and scores.bad[i] and scores.score[i] > 0]
        resource += [_severity(a.score) for a in evs]
        resource += [_severity(scores.score[i]) for i in rows if scores.constant[i] and scores.significant[i]
                     and scores.roles[i] == "errors" and scores.score[i] >= 6.0]
        strong_onsets = [t for x, t in soft if strength > 0 and x >= strong_share * strength]
        out[entity] = EntitySignals(
            size=size, peak=peak, significant_size=sig_size, role_size=role_size, event=bool(evs),
            onset=min(onsets) if onsets else None,
            strength=strength, strength_onset=min(strong_onsets) if strong_onsets else None,
            resource_strength=max(resource, default=0.0),
            from_start=bool(strong_onsets) and window_start is not None and min(strong_onsets) <= window_start,
            corr=float(max((corr[i] for i in rows if i != sym), default=0.0)),
            match_size=float(max((scores.score[i] for i in same), default=0.0)),
            match_significant=any(scores.significant[i] for i in same),
            match_corr=float(max((corr[i] for i in same), default=0.0)),
            now=float(max((end[i] for i in rows), default=0.0)),
            now_bad=float(max((end[i] for i in rows if scores.bad[i] or scores.roles[i] == "traffic"), default=0.0)),
        )
    return out


@dataclass(frozen=True)
class ChangeSignals:
    """Change evidence per entity, from ``change_features``."""

    change: Mapping[str, float]
    carrier: Mapping[str, float]
    recent: frozenset[str]
    canary: Mapping[str, float]
    canary_saturation: Mapping[str, float]
    silent: frozenset[str]


def change_artifacts(change: Change) -> set[str]:
    """What a change put into the system: its new image and commit; without those, the changed entity itself
    (a config change on a deployment is the deployment's own change)."""
    image = change.after or change.attrs.get("image")
    commit = change.commit or change.attrs.get("commit")
    out = {str(x) for x in (image, commit) if x}
    return out or {change.entity}


def change_carriers(change: Change, graph: nx.DiGraph) -> set[str]:
    """What carries a change: the changed entity, the pods running its new image, and the services on them."""
    out = {change.entity}
    for artifact in change_artifacts(change):
        if artifact in graph and artifact != change.entity:
            for pod in graph.predecessors(artifact):
                out.add(pod)
                out |= set(graph.predecessors(pod))
    return out - change_artifacts(change) if change_artifacts(change) != {change.entity} else out


def change_features(
    graph: nx.DiGraph,
    changes: Sequence[Change],
    signals: Mapping[str, EntitySignals],
    rollouts: Sequence[RolloutFinding],
    symptom_onset: float,
    step_s: float,
    symptom: str,
) -> ChangeSignals:
    """Confirmed changes, the most recent change, and the canary verdicts, per entity.

    A change is *confirmed* when one of its carriers (the changed entity, the pods running its new image, their
    services) shows a significant shift starting between ``skew`` before the change and ``confirm`` after it; the
    confirmation is that shift's size relative to the loudest shift of the incident, discounted with the delay and by
    any trouble beneath the carrier that started first (the new pods sit on a hogged node), so a harmless rollout
    next to a loud real fault confirms little. ``change`` credits the change's artifacts (new image,
    commit; or the changed entity for a change without them), ``carrier`` the entities that carried it.
    """
    skew = max(2 * step_s, 120.0)
    confirm = max(5 * step_s, 900.0)
    loudest = max((s.significant_size for s in signals.values()), default=0.0) or 1.0
    change: dict[str, float] = {}
    carrier: dict[str, float] = {}
    latest: tuple[float, set[str]] = (-math.inf, set())
    for ch in changes:
        at = ch.at.timestamp()
        carriers = change_carriers(ch, graph)
        involved = carriers | change_artifacts(ch)
        for c in list(carriers):
            if c in graph:
                involved |= {d for d in graph.successors(c) if d.startswith(("image:", "commit:"))}
        confirmation = 0.0
        for c in carriers:
            s = signals.get(c)
            if c == symptom or s is None or s.onset is None:
                continue
            if at - skew <= s.onset <= at + confirm:
                proximity = math.exp(-max(s.onset - at, 0.0) / confirm)
                # trouble beneath the carrier that started first (a hogged node under the new pods) explains it
                # better than the change does
                other = max((signals[d].strength for d in (nx.descendants(graph, c) if c in graph else ())
                             if d not in involved and d in signals and signals[d].strength_onset is not None
                             and signals[d].strength_onset <= s.onset + skew), default=0.0)
                confirmation = max(confirmation,
                                   (s.significant_size / loudest) * (0.5 + 0.5 * proximity) * (1.0 - other))
        confirmation = min(confirmation, 1.0)
        for a in change_artifacts(ch):
            change[a] = max(change.get(a, 0.0), confirmation)
        for c in carriers:
            carrier[c] = max(carrier.get(c, 0.0), confirmation)
        if ch.kind != "commit" and at <= symptom_onset + skew:
            touched = change_artifacts(ch) | {ch.entity}
            if at > latest[0] + step_s:
                latest = (at, touched)
            elif at >= latest[0] - step_s:
                latest = (max(at, latest[0]), latest[1] | touched)
    canary: dict[str, float] = {}
    canary_sat: dict[str, float] = {}
    silent: set[str] = set()
    for finding in rollouts:
        for entity in finding.entities:
            canary[entity] = max(canary.get(entity, 0.0), finding.verdict)
            canary_sat[entity] = max(canary_sat.get(entity, 0.0), finding.saturation_verdict)
            if finding.silent:
                silent.add(entity)
    return ChangeSignals(change=change, carrier=carrier, recent=frozenset(latest[1]), canary=canary,
                         canary_saturation=canary_sat, silent=frozenset(silent))


@dataclass(frozen=True)
class Precedence:
    """The hand-built ranker's notion of "where trouble starts", kept as features the model can weigh."""

    unexplained: Mapping[str, float]
    coherence: Mapping[str, float]
    later: Mapping[str, float]


def precedence_terms(
    nodes: Sequence[str], graph: nx.DiGraph, signals: Mapping[str, EntitySignals], symptom: str, symptom_onset: float,
    step_s: float,
) -> Precedence:
    """Per entity, with time constants in samples:

    Trouble here is soft evidence (``EntitySignals.strength``: severity times the rank test's confidence), so a
    large shift seen in only two 5-minute samples still takes part.

    * ``coherence`` — a cause is followed by trouble above it (or the symptom) within ``reaction`` (3 min, at least
      two samples); a shift nothing reacted to for much longer decays as ``exp(-excess / reaction)``;
    * ``unexplained`` — 1 minus the strongest coherent trouble beneath it that started no later (within ``skew``:
      2 min, at least one sample) — but not trouble that was already there when the window opened: it did not
      start with the incident (an older problem, a different recording) and says nothing about the order;
    * ``later`` — the strongest coherent trouble elsewhere (neither above nor below) that started at least
      ``order_gap`` (1 min, at least one sample) earlier: retries and timeouts follow their cause. Trouble that
      was already there when the window opened is not such a cause.
    """
    reaction = max(180.0, 2 * step_s)
    skew = max(120.0, step_s)
    order_gap = max(60.0, step_s)
    onset = {n: signals[n].strength_onset for n in nodes if n in signals and signals[n].strength_onset is not None
             and signals[n].strength > 0}
    strength = {n: signals[n].strength if n in signals else 0.0 for n in nodes}
    below = {n: (nx.descendants(graph, n) if n in graph else set()) for n in nodes}
    above = {n: (nx.ancestors(graph, n) if n in graph else set()) for n in nodes}
    coherence: dict[str, float] = {}
    for n in nodes:
        t = onset.get(n)
        if t is None:
            coherence[n] = 0.0
            continue
        reactions = [onset[a] for a in above[n] if a in onset] + [symptom_onset]
        gaps = [r - t for r in reactions if r >= t - skew]
        gap = max(min(gaps), 0.0) if gaps else 0.0
        coherence[n] = math.exp(-max(gap - reaction, 0.0) / reaction)
    unexplained = {}
    later = {}
    for n in nodes:
        t = onset.get(n)
        if t is None:
            unexplained[n], later[n] = 1.0, 0.0
            continue
        worst = max((strength[d] * coherence.get(d, 0.0) for d in below[n]
                     if d in onset and onset[d] <= t + skew and not signals[d].from_start), default=0.0)
        unexplained[n] = 1.0 - worst
        related = below[n] | above[n] | {n, symptom}
        later[n] = max((strength[m] * coherence[m] for m in onset
                        if m not in related and t - onset[m] >= order_gap and not signals[m].from_start), default=0.0)
    return Precedence(unexplained=unexplained, coherence=coherence, later=later)


def timing_informative(signals: Mapping[str, EntitySignals], step_s: float, strong: float = 0.3) -> float:
    """1 when the incident's trouble started at different samples on different entities (the onsets of entities
    with strength above ``strong`` span at least two samples; trouble already there when the window opened does not
    count), else 0. On 5-minute data, or when a fault was already running when the window opened, everything
    "starts" at once and onset order says nothing; the ``*_timed`` features then fall silent instead of ranking on
    ties."""
    onsets = [x.strength_onset for x in signals.values()
              if x.strength_onset is not None and x.strength >= strong and not x.from_start]
    return 1.0 if onsets and max(onsets) - min(onsets) >= 2 * step_s - 1e-9 else 0.0


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
    best_match = max((_log(s.match_size) for s in sig.values()), default=0.0) or 1.0
    best_now = max((_log(s.now) for s in sig.values()), default=0.0) or 1.0
    onsets = {n: s.onset for n, s in sig.items() if s.onset is not None}
    first = min(onsets.values(), default=None)
    soft_onsets = [x.strength_onset for x in sig.values() if x.strength_onset is not None]
    t_sym = sig[symptom].strength_onset if symptom in sig and sig[symptom].strength_onset is not None else (
        max(soft_onsets) if soft_onsets else 0.0)
    prec = precedence_terms(nodes, graph, sig, symptom, t_sym, step_s)
    timing = timing_informative(sig, step_s)
    sym_from_start = bool(symptom in sig and sig[symptom].from_start)
    best_strength = max((x.strength for x in sig.values()), default=0.0) or 1.0
    out: dict[str, dict[str, float]] = {}
    for n in nodes:
        s = sig[n]
        below = nx.descendants(graph, n) if n in graph else set()
        above = (nx.ancestors(graph, n) & set(nodes)) if n in graph else set()
        below_size = max((_log(sig[d].significant_size) for d in below if d in sig), default=0.0)
        below_corr = max((sig[d].corr for d in below if d in sig and sig[d].significant_size > 0), default=0.0)
        below_match = any(sig[d].match_significant for d in below if d in sig)
        above_sig = [a for a in above if sig.get(a, empty).significant_size > 0]
        soft_t = s.strength_onset if s.strength > 0 else None
        preceded = max((sig[d].strength for d in below if d in sig and sig[d].strength_onset is not None
                        and soft_t is not None and sig[d].strength_onset < soft_t - 0.5 * step_s), default=0.0)
        ups = [sig[a] for a in above if a in sig and sig[a].strength > 0 and sig[a].strength_onset is not None]
        precedes = (sum(1 for a in ups if soft_t is not None and a.strength_onset > soft_t + 0.5 * step_s) / len(ups)
                    if ups else 0.0)
        own_t = s.onset
        explained = 0.0
        explains = 0.0
        if own_t is not None:
            explained = 1.0 if any(d in onsets and onsets[d] <= own_t + step_s for d in below) else 0.0
            timed = [a for a in above_sig if a in onsets]
            explains = (sum(1 for a in timed if onsets[a] >= own_t - step_s) / len(above)) if above else 0.0
        lead = 0.0
        if s.onset is not None:
            ups = [onsets[a] for a in above if a in onsets]
            if ups:
                lead = float(np.clip((float(np.median(ups)) - s.onset) / step_s, -5, 5)) / 5
        roles = s.role_size or {}
        row = {
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
            "match_size": _log(s.match_size),
            "match_rel": _log(s.match_size) / best_match,
            "match_corr": s.match_corr,
            "match_deepest": 1.0 if s.match_significant and not below_match else 0.0,
            "is_symptom": 1.0 if n == symptom else 0.0,
            "hops": hops.get(n, max_hops) / max_hops,
            "below": below_size,
            "below_corr": below_corr,
            "deepest": 1.0 if s.significant_size > 0 and below_size == 0 else 0.0,
            "excess": float(np.clip(_log(s.size) - max((_log(sig[d].size) for d in below if d in sig), default=0.0), -3, 3)),
            "above": (len(above_sig) / len(above)) if above else 0.0,
            "explained": explained,
            "unexplained": prec.unexplained[n],
            "coherence": prec.coherence[n],
            "later": prec.later[n],
            "root_score": (s.strength / best_strength) * prec.unexplained[n] * prec.coherence[n]
            * (1.0 - 0.5 * prec.later[n]),
            "root_resource": (s.resource_strength / best_strength) * prec.unexplained[n] * prec.coherence[n]
            * (1.0 - 0.5 * prec.later[n]),
            "root_timed": timing * (s.strength / best_strength) * prec.unexplained[n] * prec.coherence[n]
            * (1.0 - 0.5 * prec.later[n]),
            "lead_timed": timing * lead,
            "from_start": 1.0 if s.from_start else 0.0,
            "preexisting": 1.0 if s.from_start and not sym_from_start else 0.0,
            "preceded": preceded,
            "precedes": precedes,
            "explains": explains,
            "lead": lead,
            "earliest": 1.0 if s.onset is not None and first is not None and s.onset <= first + step_s else 0.0,
            "change": changes.change.get(n, 0.0),
            "carrier": changes.carrier.get(n, 0.0),
            "change_recent": 1.0 if n in changes.recent else 0.0,
            "canary": changes.canary.get(n, 0.0),
            "canary_saturation": changes.canary_saturation.get(n, 0.0),
            "silent_rollout": 1.0 if n in changes.silent else 0.0,
            "walk": walk.get(n, 0.0) / best_walk,
            "now_rel": _log(s.now) / best_now,
            "ended": 1.0 if has_ended(s.size, s.now) else 0.0,
        }
        out[n] = {f: row[f] for f in FEATURES}
    return out


def onset_of_symptom(signals: Mapping[str, EntitySignals], symptom: str, at: datetime) -> float:
    """The symptom's onset (epoch s): its own strongest shift's onset, else the alert time."""
    s = signals.get(symptom)
    return s.onset if s is not None and s.onset is not None else at.timestamp()
