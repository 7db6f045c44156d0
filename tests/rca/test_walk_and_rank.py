"""The walk against its dense reference, and the ranker on small graphs with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from correlators import Incident, correlate
from detectors import Anomaly
from rca import WalkConfig, WalkDidNotConverge, ac_at_k, avg_at_k, random_walk_reference, random_walk_with_restart, rank, solved_at
from topology import Entity, Relation, Subgraph

T = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


@pytest.mark.parametrize("seed", range(5))
def test_walk_matches_dense_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes = [f"app:n{i}" for i in range(30)]
    edges = sorted({(nodes[i], nodes[j]) for i, j in rng.integers(0, 30, (60, 2)) if i != j})
    evidence = {n: float(rng.random()) for n in nodes}
    fast = random_walk_with_restart(nodes, edges, evidence, nodes[0])
    slow = random_walk_reference(nodes, edges, evidence, nodes[0])
    assert sum(fast.values()) == pytest.approx(1.0)
    assert all(fast[n] == pytest.approx(slow[n], abs=1e-8) for n in nodes)


def test_walk_non_convergence_is_a_named_error() -> None:
    nodes = ["app:a", "app:b"]
    with pytest.raises(WalkDidNotConverge, match="did not converge in 1 iterations"):
        random_walk_with_restart(nodes, [("app:a", "app:b")], {"app:b": 1.0}, "app:a", WalkConfig(max_iter=1))


def _chain_graph() -> Subgraph:
    ids = ["user:u", "app:web", "app:api", "vectordb:db", "node:n1"]
    relations = (
        Relation(src="user:u", kind="CALLS", dst="app:web"),
        Relation(src="app:web", kind="CALLS", dst="app:api"),
        Relation(src="app:api", kind="QUERIES", dst="vectordb:db"),
        Relation(src="app:api", kind="RUNS_ON", dst="node:n1"),
    )
    return Subgraph(root="app:web", entities=tuple(Entity(id=i, kind=i.split(":")[0]) for i in ids), relations=relations)


def _anomaly(entity: str, minutes_before: float, score: float) -> Anomaly:
    return Anomaly(entity=entity, metric="latency", onset=T - timedelta(minutes=minutes_before), score=score, direction="up", detector="t")


def test_deepest_earliest_anomaly_wins_and_chain_reaches_symptom() -> None:
    sub = _chain_graph()
    anomalies = [_anomaly("app:web", 8, 30), _anomaly("app:api", 9, 30), _anomaly("vectordb:db", 10, 25)]
    incident = Incident(symptom="app:web", at=T)
    candidates = rank(sub, correlate(sub, anomalies, []), incident, impacted=["user:u"])
    assert candidates[0].entity == "vectordb:db"
    assert candidates[0].chain.entities == ["vectordb:db", "app:api", "app:web", "user:u"]
    assert candidates[0].evidence and candidates[0].evidence[0].metric == "latency"
    assert all(c.evidence for c in candidates)  # nothing unexplained


def test_symptom_alone_when_nothing_beneath_is_wrong() -> None:
    sub = _chain_graph()
    candidates = rank(sub, correlate(sub, [_anomaly("app:web", 5, 20)], []), Incident(symptom="app:web", at=T))
    assert [c.entity for c in candidates] == ["app:web"]


def test_accuracy_metrics() -> None:
    assert solved_at(["a", "b", "c"], {"c", "z"}) == 3
    assert solved_at(["a"], {"z"}) is None
    ranks = [1, 2, None, 5]
    assert ac_at_k(ranks, 1) == 0.25 and ac_at_k(ranks, 5) == 0.75
    assert avg_at_k(ranks, 5) == pytest.approx((0.25 + 0.5 + 0.5 + 0.5 + 0.75) / 5)
