"""Fault chains: the path from a candidate up to the symptom through what went wrong first and worst.

Why "first" as well as "worst": when a rollout reaches two replicas, both show the same damage, a minute apart. The
replica that was changed first and degraded first is the one the story runs through (its onset is the earliest
symptom of the fault, and the one to look at); picking the other because its robust z is 0.2 higher points the
engineer at the later, derivative copy. So entering an entity costs less the stronger its evidence *and* the sooner
after the candidate its trouble began: the evidence score is discounted by ``exp(-lateness / onset_scale)``, where
lateness is the time from the candidate's own onset to the entity's. With the default scale of 10 minutes a replica
that went wrong one minute later needs evidence ~10 % stronger to be preferred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import networkx as nx

from correlators.models import Evidence
from topology.models import Relation

from .models import ChainHop, FaultChain

ONSET_SCALE = timedelta(minutes=10)
"""Lateness (after the candidate's onset) at which an entity's evidence counts ``1/e`` as much on the path."""
STRONG_SHARE = 0.6
"""An entity's onset is the earliest of its evidence items within this share of its strongest (noise does not count)."""

__all__ = ["ONSET_SCALE", "dependency_graph", "fault_chain", "onset"]


def dependency_graph(relations: Sequence[Relation]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for relation in relations:
        graph.add_edge(relation.src, relation.dst, kind=relation.kind.value)
    return graph


def onset(items: Sequence[Evidence], strong_share: float = STRONG_SHARE) -> datetime | None:
    """When an entity's trouble began: the earliest evidence among its strong items (``None`` without evidence).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda m: datetime(2026, 11, 20, 10, m, tzinfo=timezone.utc)
    >>> ev = lambda m, w: Evidence(kind="anomaly", entity="pod:a/b", at=t(m), weight=w, summary="x")
    >>> onset([ev(40, 0.1), ev(51, 0.8), ev(52, 0.9)]).minute  # the weak 10:40 blip is noise
    51
    """
    best = max((e.weight for e in items), default=0.0)
    if best <= 0:
        return None
    return min(e.at for e in items if e.weight >= strong_share * best)


def fault_chain(
    graph: nx.DiGraph,
    candidate: str,
    symptom: str,
    evidence_score: Mapping[str, float],
    evidence: Mapping[str, Sequence[Evidence]],
    impacted: Sequence[str] = (),
    *,
    onset_scale: timedelta = ONSET_SCALE,
) -> FaultChain:
    """Cheapest path symptom → … → candidate, reversed so it reads cause → symptom, then on to ``impacted`` users.

    Entering entity ``v`` costs ``1.05 - score(v) * exp(-lateness(v) / onset_scale)``: strong evidence is cheap,
    and among entities with similar evidence the one whose trouble began first after the candidate's wins. Entities
    whose trouble began before the candidate's (or that have no evidence, or when the candidate has none) are not
    discounted. ``onset_scale=timedelta(0)`` switches the time preference off (evidence strength only).

    Examples
    --------
    Two replicas of one rollout, equally bad; ``pod:p/a`` degraded at 10:51, ``pod:p/b`` at 10:52 with slightly
    stronger evidence — the chain runs through ``a``:

    >>> from datetime import datetime, timezone
    >>> t = lambda m: datetime(2026, 11, 20, 10, m, tzinfo=timezone.utc)
    >>> ev = lambda e, m, w: Evidence(kind="anomaly", entity=e, at=t(m), weight=w, summary="x")
    >>> g = nx.DiGraph([("llm:l", "pod:p/a"), ("llm:l", "pod:p/b"), ("pod:p/a", "image:i"), ("pod:p/b", "image:i")])
    >>> nx.set_edge_attributes(g, "RUNS", "kind")
    >>> evidence = {"image:i": [ev("image:i", 50, 0.6)], "pod:p/a": [ev("pod:p/a", 51, 0.79)],
    ...             "pod:p/b": [ev("pod:p/b", 52, 0.80)], "llm:l": [ev("llm:l", 52, 0.8)]}
    >>> score = {k: max(e.weight for e in v) for k, v in evidence.items()}
    >>> fault_chain(g, "image:i", "llm:l", score, evidence).entities
    ['image:i', 'pod:p/a', 'llm:l']
    """
    path: list[str]
    if candidate == symptom:
        path = [symptom]
    else:
        start = onset(evidence.get(candidate, ()))
        scale_s = onset_scale.total_seconds()
        earliness: dict[str, float] = {}

        def discount(node: str) -> float:
            if node not in earliness:
                factor = 1.0
                began = onset(evidence.get(node, ())) if start is not None and scale_s > 0 else None
                if began is not None and start is not None:
                    factor = math.exp(-max((began - start).total_seconds(), 0.0) / scale_s)
                earliness[node] = factor
            return earliness[node]

        def cost(u: str, v: str, data: dict) -> float:
            return 1.05 - min(evidence_score.get(v, 0.0), 1.0) * discount(v)

        try:
            path = nx.dijkstra_path(graph, symptom, candidate, weight=cost)
            path.reverse()
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            path = [candidate, symptom]
    path += [user for user in impacted if user not in path]
    hops: list[ChainHop] = []
    for i, entity in enumerate(path):
        relation = None
        if i + 1 < len(path):
            nxt = path[i + 1]
            if graph.has_edge(nxt, entity):
                relation = graph.edges[nxt, entity]["kind"]
        summaries = tuple(e.summary for e in sorted(evidence.get(entity, ()), key=lambda e: -e.weight)[:3])
        hops.append(ChainHop(entity=entity, relation=relation, evidence=summaries))
    return FaultChain(hops=tuple(hops))
