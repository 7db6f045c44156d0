"""Traces → topology: ``user CALLS app``, ``app CALLS app``, ``app CALLS llm``, ``app QUERIES vectordb``.

Relations open at the first call seen and stay open: a quiet hour in the traces does not mean a dependency was
removed, so this collector never closes what it opened. All relations carry ``attrs.source = "traces"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..genai import Call
from ..models import Entity, Relation, RelationKind, entity_kind
from ..store import GraphStore
from ._common import merge_known_attrs

log = logging.getLogger(__name__)

SOURCE = "traces"


@dataclass(frozen=True)
class TraceCollection:
    calls: int
    entities: int
    relations: int


def _at(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos / 1e9, tz=timezone.utc)


def trace_topology(calls: Sequence[Call]) -> tuple[list[Entity], list[Relation]]:
    """Entities and relations the calls imply; each relation valid from its first call."""
    attrs: dict[str, dict[str, object]] = {}
    first: dict[tuple[str, RelationKind, str], int] = {}

    def note(entity: str, **values: object) -> None:
        bag = attrs.setdefault(entity, {})
        bag.update({k: v for k, v in values.items() if v is not None})

    def edge(src: str, kind: RelationKind, dst: str, at: int) -> None:
        key = (src, kind, dst)
        first[key] = min(first.get(key, at), at)

    for call in calls:
        if call.kind == "llm":
            note(call.target, model=call.model, provider=call.provider)
        elif call.kind == "vectordb":
            note(call.target, system=call.system)
        else:
            note(call.target)
        if call.caller:
            note(call.caller)
            kind = RelationKind.QUERIES if call.kind == "vectordb" else RelationKind.CALLS
            edge(call.caller, kind, call.target, call.start_ns)
        if call.user and call.kind == "service":
            note(call.user)
            edge(call.user, RelationKind.CALLS, call.target, call.start_ns)
    entities = [Entity(id=e, kind=entity_kind(e), attrs=a) for e, a in sorted(attrs.items())]
    relations = [
        Relation(src=s, kind=k, dst=d, valid_from=_at(at), attrs={"source": SOURCE})
        for (s, k, d), at in sorted(first.items(), key=lambda item: item[1])
    ]
    return entities, relations


def collect_traces(calls: Sequence[Call], store: GraphStore) -> TraceCollection:
    entities, relations = trace_topology(calls)
    store.upsert_entities(merge_known_attrs(store, entities))
    store.upsert_relations(relations)
    log.info("traces: %d calls -> %d entities, %d relations", len(calls), len(entities), len(relations))
    return TraceCollection(calls=len(calls), entities=len(entities), relations=len(relations))
