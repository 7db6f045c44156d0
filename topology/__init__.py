"""The entity topology: model, time-versioned graph stores, case-file reading and collectors."""

from .case_files import load_topology, parse_topology
from .config import StoreSettings, open_store  # Neo4jStore itself: topology.neo4j_store (imports the driver)
from .exceptions import CaseFormatError, StoreError, StoreUnavailableError, TopologyError, UnknownEntityError
from .memory_store import MemoryStore
from .models import Entity, Relation, RelationKind, Subgraph, entity_kind
from .store import GraphStore
from .timeutil import parse_duration, parse_time

__all__ = [
    "CaseFormatError", "Entity", "GraphStore", "MemoryStore", "Relation", "RelationKind", "StoreError",
    "StoreUnavailableError", "Subgraph", "TopologyError", "UnknownEntityError", "entity_kind", "load_topology",
    "parse_duration", "parse_time", "parse_topology",
]
__all__ += ["StoreSettings", "open_store"]
