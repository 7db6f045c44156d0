"""The walk against its dense reference, and the ranker on small graphs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from rca import WalkConfig, WalkDidNotConverge, ac_at_k, analyze, avg_at_k, random_walk_reference, random_walk_with_restart, solved_at
from rca.features import FEATURES

from .builders import World, services


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


def _chain_world() -> World:
    w = World(seed=11)
    w.chain("user:u", "app:web", "app:api").relate("app:api", "QUERIES", "vectordb:db").relate("app:api", "RUNS_ON", "node:n1")
    services(w, ["app:web", "app:api"])
    w.noise("vectordb:db", "query_latency_p95_s", 0.05)
    w.noise("node:n1", "cpu_usage", 0.4)
    return w


def test_deepest_earliest_anomaly_wins_and_chain_reaches_symptom() -> None:
    w = _chain_world()
    w.step("vectordb:db", "query_latency_p95_s", 150, 0.5)
    w.step("app:api", "latency_p95_s", 151, 0.6)
    w.step("app:web", "latency_p95_s", 152, 0.6)
    analysis = analyze(w.incident("app:web", "latency_p95_s", 160))
    top = analysis.candidates[0]
    assert top.entity == "vectordb:db"
    assert top.chain.entities == ["vectordb:db", "app:api", "app:web", "user:u"]
    assert top.evidence and top.evidence[0].metric == "query_latency_p95_s"
    assert all(c.evidence for c in analysis.candidates)  # nothing unexplained
    assert 0.0 < top.probability <= 1.0 and set(top.features) == set(FEATURES)


def test_symptom_alone_when_nothing_beneath_is_wrong() -> None:
    w = _chain_world()
    w.step("app:web", "latency_p95_s", 150, 0.6)
    ranked = [c.entity for c in analyze(w.incident("app:web", "latency_p95_s", 160)).candidates]
    assert ranked[0] == "app:web"


def test_accuracy_metrics() -> None:
    assert solved_at(["a", "b", "c"], {"c", "z"}) == 3
    assert solved_at(["a"], {"z"}) is None
    ranks = [1, 2, None, 5]
    assert ac_at_k(ranks, 1) == 0.25 and ac_at_k(ranks, 5) == 0.75
    assert avg_at_k(ranks, 5) == pytest.approx((0.25 + 0.5 + 0.5 + 0.5 + 0.75) / 5)


def test_the_walk_follows_trouble_that_is_still_there() -> None:
    """``current_trouble``: the largest bad-way shift; what is left of it when it ended before the alert; nothing for
    a series that only moved the good way (a CPU that fell)."""
    from rca.features import EntitySignals
    from rca.rank import current_trouble

    ongoing = EntitySignals(size=40, role_size={"latency": 40}, now=35, now_bad=35)
    ended = EntitySignals(size=40, role_size={"saturation": 40}, now=1.0, now_bad=1.0)
    fell = EntitySignals(size=12, role_size={}, now=12, now_bad=0.0)
    traffic = EntitySignals(size=8, role_size={"traffic": 8}, now=8, now_bad=8)
    assert current_trouble(ongoing) == 40
    assert current_trouble(ended) == 1.0
    assert current_trouble(fell) == 0.0
    assert current_trouble(traffic) == 8
