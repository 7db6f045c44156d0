"""The entity topology: model, time-versioned graph stores, case-file reading and collectors."""

from typing import TYPE_CHECKING

from .case_files import load_topology, parse_topology
from .exceptions import CaseFormatError, StoreError, StoreUnavailableError, TopologyError, UnknownEntityError
from .models import Entity, Relation, RelationKind, Subgraph, entity_kind
from .store import GraphStore
from .timeutil import parse_duration, parse_time

__all__ = [
    "CaseFormatError", "Entity", "GraphStore", "MemoryStore", "Relation", "RelationKind", "StoreError",
    "StoreUnavailableError", "Subgraph", "TopologyError", "UnknownEntityError", "entity_kind", "load_topology",
    "parse_duration", "parse_time", "parse_topology",
]
__all__ += ["StoreSettings", "open_store"]

_LAZY = {"MemoryStore": ".memory_store", "StoreSettings": ".config", "open_store": ".config"}
"""Loaded on first use: networkx and pydantic-settings cost a tenth of a second that reading a case never needs.
Neo4jStore itself lives in topology.neo4j_store (it imports the driver)."""

if TYPE_CHECKING:
    from .config import StoreSettings, open_store
    from .memory_store import MemoryStore


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
