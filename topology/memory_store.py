"""``MemoryStore``: the zero-setup ``GraphStore`` on networkx, optionally persisted to a JSON file.

Why JSON and a whole-file atomic rewrite: it survives a crash mid-write (``os.replace`` is atomic), it is readable
by a person, and the embedded default holds graphs of thousands, not millions, of entities. Fleet scale belongs in
Neo4j.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx

from .exceptions import StoreError, UnknownEntityError
from .models import Entity, Relation, RelationKind, Subgraph
from .store import Direction
from .suggest import closest_ids
from .timeutil import parse_time

_FORMAT_VERSION = 1


def _exact(moment: datetime | None) -> str | None:
    """Full-precision UTC ISO text. ``iso()`` stops at milliseconds, which made two starts within one millisecond
    the same version and truncated every stored time on a save/load round trip."""
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _version_key(kind: str, valid_from: datetime | None) -> str:
    return f"{kind}@{_exact(valid_from) or '-'}"


def _relation_document(relation: Relation) -> dict:
    return {**relation.model_dump(mode="json"), "valid_from": _exact(relation.valid_from),
            "valid_to": _exact(relation.valid_to)}


class MemoryStore:
    """networkx ``MultiDiGraph``: nodes are entity ids, parallel edges are relation versions.

    Parameters
    ----------
    path:
        When given, the graph is loaded from this file at start and rewritten after every write call.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._graph: nx.MultiDiGraph = nx.MultiDiGraph()
        if self.path and self.path.exists():
            self._load()

    # -- writes ---------------------------------------------------------------------------------------------------
    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        written = 0
        for entity in entities:
            self._graph.add_node(entity.id, entity=entity)
            written += 1
        if written:
            self._save()
        return written

    def upsert_relations(self, relations: Iterable[Relation]) -> int:
        batch = list(relations)
        for relation in batch:  # validate the whole batch first: nothing half-written
            for end in (relation.src, relation.dst):
                if end not in self._graph:
                    raise UnknownEntityError(end)
        for relation in batch:
            self._upsert_one(relation)
        if batch:
            self._save()
        return len(batch)

    def _upsert_one(self, relation: Relation) -> None:
        versions = self._graph.get_edge_data(relation.src, relation.dst) or {}
        same_start = versions.get(_version_key(relation.kind.value, relation.valid_from))
        if same_start is not None:
            old: Relation = same_start["relation"]
            merged = old.model_copy(
                update={
                    "valid_to": relation.valid_to if relation.valid_to is not None else old.valid_to,
                    "attrs": {**old.attrs, **relation.attrs},
                }
            )
            same_start["relation"] = merged
            return
        if relation.valid_to is None and any(
            v["relation"].kind == relation.kind and v["relation"].valid_to is None for v in versions.values()
        ):
            return  # already open since earlier: re-collecting the same state changes nothing
        key = _version_key(relation.kind.value, relation.valid_from)
        self._graph.add_edge(relation.src, relation.dst, key=key, relation=relation)

    def close_relation(self, src: str, kind: RelationKind, dst: str, at: datetime) -> bool:
        versions = self._graph.get_edge_data(src, dst) or {}
        for data in versions.values():
            rel: Relation = data["relation"]
            if rel.kind == kind and rel.valid_to is None:
                data["relation"] = rel.model_copy(update={"valid_to": at})
                self._save()
                return True
        return False

    # -- reads ----------------------------------------------------------------------------------------------------
    def get_entity(self, entity_id: str) -> Entity:
        if entity_id not in self._graph:
            raise UnknownEntityError(entity_id, lambda: closest_ids(entity_id, self._graph.nodes))
        return self._graph.nodes[entity_id]["entity"]

    def open_relations(self, kinds: Iterable[RelationKind] | None = None) -> list[Relation]:
        wanted = set(kinds) if kinds is not None else None
        return [
            d["relation"]
            for _, _, d in self._graph.edges(data=True)
            if d["relation"].valid_to is None and (wanted is None or d["relation"].kind in wanted)
        ]

    def subgraph(
        self,
        root: str,
        *,
        hops: int,
        at: datetime,
        since: datetime | None = None,
        direction: Direction = "down",
    ) -> Subgraph:
        if root not in self._graph:
            raise UnknownEntityError(root, lambda: closest_ids(root, self._graph.nodes))
        start = since or at

        def live(data: dict) -> bool:
            return data["relation"].overlaps(start, at)

        seen = {root}
        frontier = {root}
        for _ in range(max(hops, 0)):
            nxt: set[str] = set()
            for node in frontier:
                if direction in ("down", "both"):
                    nxt.update(v for _, v, d in self._graph.out_edges(node, data=True) if live(d))
                if direction in ("up", "both"):
                    nxt.update(u for u, _, d in self._graph.in_edges(node, data=True) if live(d))
            frontier = nxt - seen
            seen |= frontier
            if not frontier:
                break
        relations = tuple(
            d["relation"]
            for u, v, d in self._graph.subgraph(seen).edges(data=True)
            if live(d)
        )
        entities = tuple(self._graph.nodes[n]["entity"] for n in sorted(seen))
        return Subgraph(root=root, entities=entities, relations=relations)

    def counts(self) -> tuple[int, int]:
        return self._graph.number_of_nodes(), self._graph.number_of_edges()

    def close(self) -> None:
        self._save()

    # -- persistence ----------------------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.path is None:
            return
        document = {
            "format": _FORMAT_VERSION,
            "entities": [d["entity"].model_dump(mode="json") for _, d in self._graph.nodes(data=True)],
            "relations": [_relation_document(d["relation"]) for _, _, d in self._graph.edges(data=True)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write graph file {self.path}: {exc}") from exc

    def _load(self) -> None:
        assert self.path is not None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            for raw in document["entities"]:
                entity = Entity.model_validate(raw)
                self._graph.add_node(entity.id, entity=entity)
            for raw in document["relations"]:
                relation = Relation.model_validate(raw)
                for end in (relation.src, relation.dst):
                    if end not in self._graph:
                        raise ValueError(f"relation {relation.key} refers to entity {end!r}, which the file lacks")
                self._graph.add_edge(
                    relation.src,
                    relation.dst,
                    key=_version_key(relation.kind.value, relation.valid_from),
                    relation=relation,
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"cannot read graph file {self.path}: {exc}") from exc


__all__ = ["MemoryStore", "parse_time"]
