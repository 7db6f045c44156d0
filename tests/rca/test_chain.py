"""Fault chains run through what went wrong first and worst, and keep the old signature callers use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import networkx as nx
import pytest

from correlators.models import Evidence
from rca.chain import fault_chain, onset

T0 = datetime(2026, 11, 20, 10, 50, tzinfo=timezone.utc)


def _ev(entity: str, minutes: float, weight: float, kind: str = "anomaly") -> Evidence:
    return Evidence(kind=kind, entity=entity, at=T0 + timedelta(minutes=minutes), weight=weight, summary=f"{entity} +{minutes}")


def _rollout_graph() -> nx.DiGraph:
    """users → app → llm → two replicas → one image → one commit (dependency direction)."""
    graph = nx.DiGraph()
    for src, kind, dst in [
        ("user:u", "CALLS", "app:chat"), ("app:chat", "CALLS", "llm:m"),
        ("llm:m", "RUNS_ON", "pod:p/r0"), ("llm:m", "RUNS_ON", "pod:p/r1"),
        ("pod:p/r0", "RUNS", "image:new"), ("pod:p/r1", "RUNS", "image:new"), ("image:new", "BUILT_FROM", "commit:c"),
    ]:
        graph.add_edge(src, dst, kind=kind)
    return graph


def _evidence(r0_minutes: float, r0_weight: float, r1_minutes: float, r1_weight: float) -> dict[str, list[Evidence]]:
    return {
        "commit:c": [_ev("commit:c", 0, 0.7, "change"), _ev("commit:c", 0.75, 0.75, "change")],
        "image:new": [_ev("image:new", 0, 0.6, "change")],
        "pod:p/r0": [_ev("pod:p/r0", r0_minutes, r0_weight)],
        "pod:p/r1": [_ev("pod:p/r1", r1_minutes, r1_weight)],
        "llm:m": [_ev("llm:m", 2, 0.8)],
        "app:chat": [_ev("app:chat", 2.5, 0.8)],
    }


def _score(evidence: dict[str, list[Evidence]]) -> dict[str, float]:
    return {k: max(e.weight for e in v) for k, v in evidence.items()}


def test_chain_runs_through_the_replica_that_went_wrong_first() -> None:
    """The demo's situation: r0 degraded a minute before r1; r1's z is a hair higher. The chain goes through r0."""
    evidence = _evidence(1, 0.796, 2, 0.800)
    chain = fault_chain(_rollout_graph(), "commit:c", "app:chat", _score(evidence), evidence, ["user:u"])
    assert chain.entities == ["commit:c", "image:new", "pod:p/r0", "llm:m", "app:chat", "user:u"]
    assert [h.relation for h in chain.hops[:-1]] == ["BUILT_FROM", "RUNS", "RUNS_ON", "CALLS", "CALLS"]


def test_without_the_time_preference_the_stronger_replica_wins() -> None:
    """The same graph with onset_scale=0 is the old rule (strength only): proves the preference is what decides."""
    evidence = _evidence(1, 0.796, 2, 0.800)
    chain = fault_chain(_rollout_graph(), "commit:c", "app:chat", _score(evidence), evidence,
                        onset_scale=timedelta(0))
    assert "pod:p/r1" in chain.entities and "pod:p/r0" not in chain.entities


def test_much_stronger_later_evidence_still_wins() -> None:
    """'First and worst': a replica one minute later but clearly worse (0.9 vs 0.5) is the one the chain shows."""
    evidence = _evidence(1, 0.5, 2, 0.9)
    chain = fault_chain(_rollout_graph(), "commit:c", "app:chat", _score(evidence), evidence)
    assert "pod:p/r1" in chain.entities


def test_earlier_replica_wins_whichever_order_the_graph_lists_them() -> None:
    evidence = _evidence(2, 0.8, 1, 0.8)  # now r1 went wrong first
    chain = fault_chain(_rollout_graph(), "commit:c", "app:chat", _score(evidence), evidence)
    assert "pod:p/r1" in chain.entities and "pod:p/r0" not in chain.entities


def test_positional_signature_and_fallbacks() -> None:
    graph = _rollout_graph()
    evidence = _evidence(1, 0.8, 2, 0.8)
    # the lead's call shape: fault_chain(graph, candidate, symptom, evidence_score, evidence, impacted)
    assert fault_chain(graph, "app:chat", "app:chat", {}, evidence, ["user:u"]).entities == ["app:chat", "user:u"]
    assert fault_chain(graph, "node:elsewhere", "app:chat", {}, {}, ()).entities == ["node:elsewhere", "app:chat"]
    # a candidate without evidence: no time preference, plain strength
    chain = fault_chain(graph, "commit:c", "app:chat", {"pod:p/r1": 0.9, "pod:p/r0": 0.5}, {}, ())
    assert "pod:p/r1" in chain.entities


@pytest.mark.parametrize(("items", "expected"), [
    ([], None),
    ([_ev("pod:a/b", 5, 0.0)], None),
    ([_ev("pod:a/b", -20, 0.1), _ev("pod:a/b", 1, 0.8), _ev("pod:a/b", 2, 0.9)], T0 + timedelta(minutes=1)),
])
def test_onset_ignores_weak_noise(items: list[Evidence], expected: datetime | None) -> None:
    assert onset(items) == expected
