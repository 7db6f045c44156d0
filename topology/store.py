"""The ``GraphStore`` protocol every topology backend implements (networkx in memory, Neo4j).

Versioning rule shared by all backends (the contract tests in ``tests/topology`` hold each backend to it):

* A relation is identified by ``(src, kind, dst)``; the store keeps one *version* per validity interval.
* Upserting a relation whose version with the same ``valid_from`` exists updates that version (its ``valid_to`` and
  attrs) — so re-collecting the same state changes nothing.
* Upserting an open relation (``valid_to=None``) when an open version of the same key already exists is a no-op: the
  older ``valid_from`` stays, because the edge has been there since then.
* ``close_relation`` sets ``valid_to`` on the open version; closed versions are never deleted, so the graph can be
  read as it was at any time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from .models import Entity, Relation, RelationKind, Subgraph

Direction = Literal["down", "up", "both"]
"""``down`` follows relations dependent → dependency (towards causes); ``up`` goes towards dependents (impact)."""


@runtime_checkable
class GraphStore(Protocol):
    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        """Insert or replace entities by id (attrs replaced whole). Returns how many were written."""
        ...

    def upsert_relations(self, relations: Iterable[Relation]) -> int:
        """Insert or update relation versions (see the module rule). Both ends must exist: ``UnknownEntityError``."""
        ...

    def close_relation(self, src: str, kind: RelationKind, dst: str, at: datetime) -> bool:
        """Close the open version of ``(src, kind, dst)`` at ``at``. False when there is no open version."""
        ...

    def get_entity(self, entity_id: str) -> Entity:
        """The entity, or ``UnknownEntityError``."""
        ...

    def open_relations(self, kinds: Iterable[RelationKind] | None = None) -> list[Relation]:
        """Relations with no ``valid_to`` (the current state), optionally of some kinds; collectors diff against it."""
        ...

    def subgraph(
        self,
        root: str,
        *,
        hops: int,
        at: datetime,
        since: datetime | None = None,
        direction: Direction = "down",
    ) -> Subgraph:
        """Entities within ``hops`` of ``root`` and the relations among them, as the graph was.

        A relation counts when it was valid at any moment of ``[since, at]`` (``since=None`` means the instant ``at``),
        so a pod that switched images inside the window shows both its old and its new ``RUNS`` edge.
        Raises ``UnknownEntityError`` for an unknown root.
        """
        ...

    def counts(self) -> tuple[int, int]:
        """(entities, relation versions) held."""
        ...

    def close(self) -> None:
        """Release connections / flush files."""
        ...
