"""``rank()``: random walk, then re-ranking with explainable terms.

Terms (each in [0, 1]):

* ``walk``       — visit mass of the walk from the symptom, relative to the best candidate.
* ``anomaly``    — the strongest anomaly or event on the entity itself.
* ``precedence`` — half for starting no later than the anomalous entities above it, half for having nothing
  beneath it that started earlier: a root cause comes first and has no earlier cause under it.
* ``change``     — the strongest change evidence (a change shortly before anomalies it can explain).
* ``distance``   — closeness to the symptom in hops; a small tie-breaker.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class RankConfig:
    walk: WalkConfig = field(default_factory=WalkConfig)
    weights: ScoreTerms = field(
        default_factory=lambda: ScoreTerms(walk=0.25, anomaly=0.25, precedence=0.2, change=0.25, distance=0.05)
    )
    skew: timedelta = timedelta(seconds=90)
    top_k: int = 10
    excluded_kinds: tuple[str, ...] = ("user",)


def _earliest(evidence: Sequence[Evidence]) -> datetime | None:
    """When trouble started on an entity: its first anomaly or event; a change only when it shows no symptom itself
    (a pod that received a bad image started *suffering* when its metrics moved; the image's trouble is the swap)."""
    symptoms = [e.at for e in evidence if e.kind != "change"]
    return min(symptoms) if symptoms else min((e.at for e in evidence), default=None)


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
    See ``tests/rca/test_rank.py``: a database whose latency rises under an app ranks above the app.
    """
    nodes = sorted(subgraph.entity_ids())
    edges = sorted({(r.src, r.dst) for r in subgraph.relations if r.src != r.dst})
    evidence = {node: correlation.evidence_for(node) for node in nodes}
    score = {node: max((e.weight for e in evidence[node]), default=0.0) for node in nodes}
    mass = random_walk_with_restart(nodes, edges, score, incident.symptom, config.walk)
    graph = dependency_graph(subgraph.relations)
    graph.add_nodes_from(nodes)
    hops_from_symptom = nx.single_source_shortest_path_length(graph, incident.symptom)
    max_hops = max(hops_from_symptom.values(), default=0) + 1

    pool = [n for n in nodes if entity_kind(n) not in config.excluded_kinds and n != incident.symptom and score[n] > 0]
    if not pool:
        pool = [incident.symptom]
    best_mass = max((mass[n] for n in pool), default=0.0) or 1.0
    skew = config.skew
    candidates: list[Candidate] = []
    for node in pool:
        own = evidence[node]
        start = _earliest(own)
        above = [m for m in nx.ancestors(graph, node) if m in evidence and evidence[m]] if node in graph else []
        below = nx.descendants(graph, node) if node in graph else set()
        if start is None:
            precedence = 0.0
        else:
            onsets_above = [_earliest(evidence[m]) for m in above if _earliest(evidence[m]) is not None]
            leads = sum(1 for t in onsets_above if t >= start - skew) / len(onsets_above) if onsets_above else 0.5
            earlier_below = any(
                (t := _earliest(evidence.get(m, ()))) is not None and t < start - skew for m in below
            )
            precedence = 0.5 * leads + (0.0 if earlier_below else 0.5)
        terms = ScoreTerms(
            walk=mass[node] / best_mass,
            anomaly=max((e.weight for e in own if e.kind in ("anomaly", "event")), default=0.0),
            precedence=precedence,
            change=max((e.weight for e in own if e.kind == "change"), default=0.0),
            distance=1.0 - hops_from_symptom.get(node, max_hops) / max_hops,
        )
        w = config.weights
        total = (
            w.walk * terms.walk + w.anomaly * terms.anomaly + w.precedence * terms.precedence
            + w.change * terms.change + w.distance * terms.distance
        )
        candidates.append(
            Candidate(
                entity=node, kind=entity_kind(node), score=round(total, 6), terms=terms,
                evidence=tuple(sorted(own, key=lambda e: -e.weight)),
                chain=fault_chain(graph, node, incident.symptom, score, evidence, impacted),
            )
        )
    candidates.sort(key=lambda c: (-c.score, c.entity))
    return candidates[: config.top_k]
