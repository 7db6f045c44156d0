"""Fault chains: the most anomalous path from a candidate up to the symptom, then on to the users it hurts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx

from correlators.models import Evidence
from topology.models import Relation

from .models import ChainHop, FaultChain


def dependency_graph(relations: Sequence[Relation]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for relation in relations:
        graph.add_edge(relation.src, relation.dst, kind=relation.kind.value)
    return graph


def fault_chain(
    graph: nx.DiGraph,
    candidate: str,
    symptom: str,
    evidence_score: Mapping[str, float],
    evidence: Mapping[str, Sequence[Evidence]],
    impacted: Sequence[str] = (),
) -> FaultChain:
    """Cheapest path symptom → … → candidate where entering an anomalous entity is cheap; reversed so it reads
    cause → symptom. ``impacted`` (users calling the symptom) are appended at the end."""
    path: list[str]
    if candidate == symptom:
        path = [symptom]
    else:
        try:
            path = nx.dijkstra_path(
                graph, symptom, candidate, weight=lambda u, v, d: 1.05 - min(evidence_score.get(v, 0.0), 1.0)
            )
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
