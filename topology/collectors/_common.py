"""Helpers shared by the collectors."""

from __future__ import annotations

from collections.abc import Iterable

from ..exceptions import UnknownEntityError
from ..models import Entity
from ..store import GraphStore


def merge_known_attrs(store: GraphStore, entities: Iterable[Entity]) -> list[Entity]:
    """Entities with the attrs the store already holds kept underneath the new ones.

    Why: ``upsert_entities`` replaces attrs whole, and several collectors describe the same entity (Kubernetes gives
    an ``llm:`` workload its namespace, traces give it its provider); neither may erase the other's facts.
    """
    merged = []
    for entity in entities:
        try:
            known = store.get_entity(entity.id)
        except UnknownEntityError:
            merged.append(entity)
            continue
        merged.append(Entity(id=entity.id, kind=entity.kind, attrs={**known.attrs, **entity.attrs}))
    return merged
