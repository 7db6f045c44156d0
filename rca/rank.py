"""``rank()``: random walk, then re-ranking with explainable terms.

The question for every entity under the symptom is *"is this where the trouble starts, or is it passing trouble
on?"*. Terms (each in [0, 1], all shown with every candidate):

* ``anomaly``    — the entity's own evidence (anomalies, events), weighted by its **relevance in time**: trouble
  that began long before the symptom moved (an old crash loop that recovered) or clearly after it (retries that the
  symptom caused) counts less. Saturation signals (CPU, memory, KV cache, GPU, Xid, restarts, events) count fully,
  pure performance signals (latency, errors, TTFT …) a little less: they are what propagates.
* ``precedence`` — how *unexplained* the entity's trouble is: 1 when nothing beneath it went wrong first, lower when
  a dependency (or a confirmed change beneath it) started no later and can explain it. Includes how much of the
  anomalous chain above it the entity explains (``coverage``) and whether it shows the same kind of signal as the
  symptom (errors for an error alert, latency for a latency alert).
* ``change``     — a rollout / image swap / commit, **confirmed**: the changed pods or the service on them went
  wrong within minutes after the change *and* nothing else beneath that service explains it. A harmless rollout
  near the incident gets little here.
* ``walk``       — visit mass of the random walk from the symptom, relative to the best candidate.
* ``distance``   — closeness to the symptom in hops; a small tie-breaker.

The total is ``w.anomaly * anomaly * precedence + w.change * change + w.walk * walk + w.distance * distance +
w.precedence * precedence * [entity has evidence]``: an entity needs both its own trouble and no better explanation
beneath it to rank first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import networkx as nx

from correlators.align import Correlation
from correlators.models import Evidence, Incident
from topology.models import Subgraph, entity_kind

from .chain import dependency_graph, fault_chain
from .models import Candidate, ScoreTerms
from .walk import WalkConfig, random_walk_with_restart

SATURATION_PREFIXES = (
    "cpu", "mem", "kv_cache", "gpu", "xid", "restarts", "disk", "net", "event:", "swap", "oom", "throttl",
)
ERROR_WORDS = ("error", "fail", "5xx", "availability")


@dataclass(frozen=True)
class RankConfig:
    walk: WalkConfig = field(default_factory=WalkConfig)
    weights: ScoreTerms = field(
        default_factory=lambda: ScoreTerms(walk=0.08, anomaly=0.5, precedence=0.12, change=0.45, distance=0.03)
    )
    skew: timedelta = timedelta(seconds=120)
    """Onsets this close count as simultaneous (onsets are estimated to a sample or two)."""
    before: timedelta = timedelta(minutes=10)
    """Evidence starting up to this long before the symptom's onset is fully relevant; older evidence decays."""
    decay: timedelta = timedelta(minutes=5)
    after: timedelta = timedelta(minutes=3)
    """Evidence starting up to this long after the symptom's onset is still relevant (onset estimates wobble)."""
    confirm: timedelta = timedelta(minutes=15)
    """A change is confirmed by trouble on the changed pods or their service starting within this time after it."""
    performance_weight: float = 0.85
    order_gap: timedelta = timedelta(seconds=60)
    """Trouble starting this much after a stronger, unrelated anomaly under the symptom is treated as a consequence."""
    order_penalty: float = 0.5
    reaction: timedelta = timedelta(minutes=3)
    """A cause is expected to be followed by trouble above it within about this long; slower is less coherent."""
    strong_share: float = 0.6
    """Evidence within this share of an entity's best sets its onsets."""
    top_k: int = 10
    excluded_kinds: tuple[str, ...] = ("user",)


def _is_saturation(evidence: Evidence) -> bool:
    if evidence.kind == "event":
        return True
    metric = (evidence.metric or "").lower()
    return metric.startswith(SATURATION_PREFIXES)


def _family(metric: str | None) -> str:
    m = (metric or "").lower()
    if any(w in m for w in ERROR_WORDS):
        return "errors"
    if m.startswith(SATURATION_PREFIXES):
        return "saturation"
    return "latency"


def _symptom_onset(incident: Incident, evidence: Sequence[Evidence]) -> datetime:
    own = [e for e in evidence if e.kind != "change"]
    matching = [e.at for e in own if incident.metric and e.metric == incident.metric]
    if matching:
        return min(matching)
    if own:
        return min(e.at for e in own)
    return incident.at  # the alert fired, so the symptom moved shortly before: trouble beneath starts before it


def _relevance(at: datetime, symptom_onset: datetime, config: RankConfig) -> float:
    lo = symptom_onset - config.before
    hi = symptom_onset + config.after
    if at < lo:
        return math.exp(-(lo - at) / config.decay)
    if at > hi:
        return math.exp(-(at - hi) / config.after)
    return 1.0


def rank(
    subgraph: Subgraph,
    correlation: Correlation,
    incident: Incident,
    *,
    impacted: Sequence[str] = (),
    config: RankConfig = RankConfig(),
) -> list[Candidate]:
    """Ranked root-cause candidates for ``incident`` over ``subgraph`` (dependency direction), best first.

    Examples
    --------
    See ``tests/rca/test_walk_and_rank.py``: a database whose latency rises under an app ranks above the app; and
    ``benchmarks/`` for the generated incidents (quiet GPU under a loud model endpoint, harmless rollouts, retries).
    """
    nodes = sorted(subgraph.entity_ids())
    edges = sorted({(r.src, r.dst) for r in subgraph.relations if r.src != r.dst})
    evidence = {node: correlation.evidence_for(node) for node in nodes}
    graph = dependency_graph(subgraph.relations)
    graph.add_nodes_from(nodes)
    below = {n: nx.descendants(graph, n) for n in nodes}
    above = {n: nx.ancestors(graph, n) for n in nodes}
    t_sym = _symptom_onset(incident, evidence.get(incident.symptom, ()))
    sym_family = _family(incident.metric)
    skew = config.skew

    # 1. own evidence, weighted by relevance in time and signal kind; "strong" onsets are those of the evidence
    #    that carries the entity's score (weak early noise does not set its onset)
    own_strength: dict[str, float] = {}
    strong_onsets: dict[str, list[datetime]] = {}
    own_families: dict[str, set[str]] = {}
    for node in nodes:
        items = []
        for e in evidence[node]:
            if e.kind == "change":
                continue
            rel = _relevance(e.at, t_sym, config)
            items.append((e.at, e.weight * rel * (1.0 if _is_saturation(e) else config.performance_weight), e))
        best = max((w for _, w, _ in items), default=0.0)
        strong = [(t, e) for t, w, e in items if best > 0 and w >= config.strong_share * best]
        own_strength[node] = best
        strong_onsets[node] = sorted(t for t, _ in strong)
        own_families[node] = {_family(e.metric) for _, e in strong}
    own_onset = {n: (strong_onsets[n][0] if strong_onsets[n] else None) for n in nodes}

    # 2. coherence: a cause is followed within minutes by trouble above it (or by the symptom); a level shift that
    #    nothing above reacted to for many minutes explains nothing
    def gap_to_reaction(node: str, onsets: Sequence[datetime]) -> float:
        reactions = [own_onset[a] for a in above[node] if own_onset.get(a) is not None] + [t_sym]
        gaps = [(r - o).total_seconds() for o in onsets for r in reactions if r >= o - skew]
        return max(min(gaps), 0.0) if gaps else 0.0

    allowed = config.reaction.total_seconds()
    coherence = {
        n: math.exp(-max(gap_to_reaction(n, strong_onsets[n]) - allowed, 0.0) / allowed) if strong_onsets[n] else 0.0
        for n in nodes
    }

    # 3. trouble that starts clearly after another strong, coherent anomaly elsewhere under the symptom is more
    #    likely a consequence (retries, timeouts) than a cause
    order_gap = config.order_gap.total_seconds()
    starts = sorted((t, n) for n, t in own_onset.items() if t is not None and n != incident.symptom)
    later: dict[str, float] = {n: 0.0 for n in nodes}
    for t, n in starts:
        related = below[n] | above[n]
        later[n] = max(
            (own_strength[m] * coherence[m] for tm, m in starts if (t - tm).total_seconds() >= order_gap and m not in related),
            default=0.0,
        )

    # 4. confirmed changes: the changed pod or the service on it went wrong soon after, with nothing else beneath
    #    it to blame and not as a late consequence of something else
    def explained_by_others(entity: str, when: datetime, exclude: set[str]) -> float:
        worst = 0.0
        for d in below.get(entity, ()):
            t = own_onset.get(d)
            if d not in exclude and t is not None and t <= when + skew:
                worst = max(worst, own_strength[d] * coherence[d])
        return worst

    change_strength: dict[str, float] = {n: 0.0 for n in nodes}
    change_time: dict[str, datetime] = {}
    for node in nodes:
        for e in evidence[node]:
            if e.kind != "change" or e.change is None:
                continue
            ch = e.change
            changed = ch.entity
            involved = {changed, *(x for x in (ch.after, ch.before, ch.commit) if x)} | below.get(changed, set())
            if ch.after and ch.after in graph:  # every pod of the same rollout, and what they sit on
                for pod in graph.predecessors(ch.after):
                    involved |= {pod} | below[pod]
            carriers = {changed} | (set(graph.predecessors(changed)) if changed in graph else set())
            confirmation = 0.0
            for c in carriers:
                if c == incident.symptom and c != changed:
                    continue  # the symptom is anomalous anyway: it confirms nothing about this change
                for t in strong_onsets.get(c, ()):
                    if not (ch.at - skew <= t <= ch.at + config.confirm):
                        continue
                    others = max(explained_by_others(c, t, involved), later[c])
                    proximity = math.exp(-max((t - ch.at).total_seconds(), 0.0) / config.confirm.total_seconds())
                    confirmation = max(confirmation, own_strength[c] * (1.0 - others) * (0.5 + 0.5 * proximity))
            role = 1.0 if node in (ch.after, ch.commit) else (0.9 if ch.after else 0.5)
            if confirmation * role > change_strength[node]:
                change_strength[node] = confirmation * role
                change_time[node] = ch.at

    # 5. how much of each entity's trouble is explained by something beneath it that started no later
    def explained(node: str) -> float:
        start = own_onset.get(node)
        if start is None:
            return 0.0
        worst = 0.0
        for d in below[node]:
            t = own_onset.get(d)
            if t is not None and t <= start + skew:
                worst = max(worst, own_strength[d] * coherence[d])
            ct = change_time.get(d)
            if ct is not None and ct <= start + skew:
                worst = max(worst, change_strength[d])
        return worst

    walk_score = {n: max(own_strength[n], change_strength[n]) for n in nodes}
    mass = random_walk_with_restart(nodes, edges, walk_score, incident.symptom, config.walk)
    hops_from_symptom = nx.single_source_shortest_path_length(graph, incident.symptom)
    max_hops = max(hops_from_symptom.values(), default=0) + 1

    pool = [
        n for n in nodes
        if entity_kind(n) not in config.excluded_kinds and n != incident.symptom and walk_score[n] > 0 and evidence[n]
    ]
    if not pool:
        pool = [incident.symptom]
    best_mass = max((mass[n] for n in pool), default=0.0) or 1.0
    coverage_raw = {}
    for n in pool:
        start = own_onset.get(n) or change_time.get(n)
        coverage_raw[n] = sum(
            own_strength[a] for a in above[n]
            if own_onset.get(a) is not None and (start is None or own_onset[a] >= start - skew)
        )
    best_cov = max(coverage_raw.values(), default=0.0) or 1.0
    w = config.weights
    candidates: list[Candidate] = []
    for node in pool:
        unexplained = (1.0 - explained(node)) * (1.0 - config.order_penalty * later[node])
        coverage = coverage_raw[node] / best_cov
        match = 1.0 if sym_family in own_families[node] or change_strength[node] > 0 else 0.0
        coherent = coherence[node] if own_strength[node] > 0 else 1.0
        precedence = unexplained * coherent * (0.7 + 0.2 * coverage + 0.1 * match)
        terms = ScoreTerms(
            walk=mass[node] / best_mass,
            anomaly=own_strength[node],
            precedence=precedence,
            change=change_strength[node],
            distance=1.0 - hops_from_symptom.get(node, max_hops) / max_hops,
        )
        has_own = 1.0 if (own_strength[node] > 0 or change_strength[node] > 0) else 0.0
        total = (
            w.anomaly * terms.anomaly * precedence + w.change * terms.change + w.walk * terms.walk
            + w.distance * terms.distance + w.precedence * precedence * has_own
        )
        candidates.append(
            Candidate(
                entity=node, kind=entity_kind(node), score=round(total, 6), terms=terms,
                evidence=tuple(sorted(evidence[node], key=lambda e: -e.weight)),
                chain=fault_chain(graph, node, incident.symptom, walk_score, evidence, impacted),
            )
        )
    candidates.sort(key=lambda c: (-c.score, c.entity))
    return candidates[: config.top_k]
