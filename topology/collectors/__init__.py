"""Collectors that build the topology from real sources: Kubernetes, git, OpenTelemetry traces.

Each writes through the ``GraphStore`` protocol only, so it works with the in-memory store and Neo4j alike, and each
reports what it could not read as ``SourceProblem`` records instead of failing the whole collection.
"""

from .git import CommitInfo, GitCollection, GitRepository, collect_git, resolve_revisions
from .kubernetes import (
    KubernetesCollection,
    WorkloadMapping,
    build_topology,
    collect_kubernetes,
    image_hints,
    workloads,
)
from .traces import TraceCollection, collect_traces, trace_topology

__all__ = [
    "CommitInfo", "GitCollection", "GitRepository", "KubernetesCollection", "TraceCollection", "WorkloadMapping",
    "build_topology", "collect_git", "collect_kubernetes", "collect_traces", "image_hints", "resolve_revisions",
    "trace_topology", "workloads",
]
