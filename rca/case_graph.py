"""A read-only, dict-based topology index for analysing one case directory.

Why not ``MemoryStore``: a case is analysed once, around one symptom. Loading every entity and relation of a
50,000-entity fleet into networkx (with the store's versioning bookkeeping) costs seconds and is then used for one
k-hop slice. This index applies the same versioning rules to the case's relations in one pass over plain dicts and
answers ``subgraph`` exactly as ``MemoryStore.subgraph`` does (``tests/rca/test_case_graph.py`` checks both agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from topology.exceptions import UnknownEntityError
from topology.models import Entity, Relation, Subgraph
from topology.store import Direction


class CaseGraph:
    """Entities and relation versions of one case, indexed for k-hop slices."""

    def __init__(self, entities: Iterable[Entity], relations: Iterable[Relation]) -> None:
        self._entities: dict[str, Entity] = {e.id: e for e in entities}
        versions: dict[tuple[str, str, str], dict[datetime | None, Relation]] = {}
        for rel in relations:
            for end in (rel.src, rel.dst):
                if end not in self._entities:
                    raise UnknownEntityError(end)
            same_key = versions.setdefault(rel.key, {})
            old = same_key.get(rel.valid_from)
            if old is not None:  # same start: update end and attrs (MemoryStore's rule)
                same_key[rel.valid_from] = old.model_copy(
                    update={"valid_to": rel.valid_to if rel.valid_to is not None else old.valid_to,
                            "attrs": {**old.attrs, **rel.attrs}}
                )
                continue
            if rel.valid_to is None and any(v.valid_to is None for v in same_key.values()):
                continue  # an open version already exists since earlier
            same_key[rel.valid_from] = rel
        self._out: dict[str, list[Relation]] = {}
        self._in: dict[str, list[Relation]] = {}
        for same_key in versions.values():
            for rel in same_key.values():
                self._out.setdefault(rel.src, []).append(rel)
                self._in.setdefault(rel.dst, []).append(rel)

    def subgraph(
        self, root: str, *, hops: int, at: datetime, since: datetime | None = None, direction: Direction = "down"
    ) -> Subgraph:
        if root not in self._entities:
            raise UnknownEntityError(root)
        start = since or at
        seen = {root}
        frontier = {root}
        for _ in range(max(hops, 0)):
            nxt: set[str] = set()
            for node in frontier:
                if direction in ("down", "both"):
                    nxt.update(r.dst for r in self._out.get(node, ()) if r.overlaps(start, at))
                if direction in ("up", "both"):
                    nxt.update(r.src for r in self._in.get(node, ()) if r.overlaps(start, at))
            frontier = nxt - seen
            seen |= frontier
            if not frontier:
                break
        relations = tuple(
            r for node in seen for r in self._out.get(node, ()) if r.dst in seen and r.overlaps(start, at)
        )
        entities = tuple(self._entities[n] for n in sorted(seen))
        return Subgraph(root=root, entities=entities, relations=relations)
