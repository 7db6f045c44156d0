"""``CaseGraph`` (the fast index ``rca.analyze`` uses for case directories) against ``MemoryStore`` (the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scenarios import CaseSpec, generate, write_case
from correlators.case_files import load_case
from rca.case_graph import CaseGraph
from topology.memory_store import MemoryStore


@pytest.mark.parametrize("fault", ["bad_rollout", "node_cpu_hog"])
def test_case_graph_slices_equal_memory_store(tmp_path: Path, fault: str) -> None:
    case = load_case(write_case(generate(CaseSpec(seed=21, fault=fault, entities=200)), tmp_path / fault))
    store = MemoryStore()
    store.upsert_entities(case.entities)
    store.upsert_relations(case.relations)
    fast = CaseGraph(case.entities, case.relations)
    inc = case.incident
    for direction, hops in (("down", 6), ("up", 1), ("both", 2)):
        a = store.subgraph(inc.symptom, hops=hops, at=inc.at, since=inc.start, direction=direction)
        b = fast.subgraph(inc.symptom, hops=hops, at=inc.at, since=inc.start, direction=direction)
        assert [e.id for e in a.entities] == [e.id for e in b.entities]
        key = lambda r: (r.src, r.kind.value, r.dst, r.valid_from, r.valid_to)  # noqa: E731
        assert sorted(map(key, a.relations)) == sorted(map(key, b.relations))
