"""Random walk with restart over the dependency subgraph.

The walker starts at the symptom and steps *down* dependency edges (towards causes) with a probability proportional
to the target's evidence, *up* with a small probability (so it can leave dead ends), and stays put in proportion to how
much more anomalous the current entity is than anything beneath it — the idea of MicroRank / CloudRanger's
self-transition: a walker that finds nothing worse below stays at the culprit. Visit mass ranks candidates.

References
----------
.. [1] J. Lin, P. Chen, Z. Zheng, "Microscope: Pinpoint Performance Issues with Causal Graphs in Micro-service
   Environments", ICSOC 2018.
.. [2] P. Wang et al., "CloudRanger: Root Cause Identification for Cloud Native Systems", CCGrid 2018.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .exceptions import WalkDidNotConverge


@dataclass(frozen=True)
class WalkConfig:
    restart: float = 0.15
    backward: float = 0.2
    floor: float = 0.02
    """Minimum step weight, so an edge to an entity with no evidence can still be walked."""
    max_iter: int = 500
    tol: float = 1e-10


def transition_matrix(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], evidence: Mapping[str, float], config: WalkConfig
) -> sp.csr_matrix:
    """Row-stochastic matrix of the walk; ``edges`` run dependent → dependency."""
    index = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    a = np.array([evidence.get(node, 0.0) for node in nodes])
    src = np.array([index[u] for u, v in edges], dtype=np.int64)
    dst = np.array([index[v] for u, v in edges], dtype=np.int64)
    forward = config.floor + a[dst]
    backward = config.backward * (config.floor + a[src])
    worst_below = np.zeros(n)
    if len(edges):
        np.maximum.at(worst_below, src, a[dst])
    self_loop = np.maximum(a - worst_below, 0.0)
    rows = np.concatenate([src, dst, np.arange(n)])
    cols = np.concatenate([dst, src, np.arange(n)])
    weights = np.concatenate([forward, backward, self_loop])
    matrix = sp.csr_matrix((weights, (rows, cols)), shape=(n, n))
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    dangling = totals == 0
    totals[dangling] = 1.0
    matrix = sp.diags(1.0 / totals) @ matrix
    if dangling.any():  # an isolated node keeps its mass
        matrix = matrix + sp.diags(dangling.astype(float))
    return matrix.tocsr()


def random_walk_with_restart(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    evidence: Mapping[str, float],
    start: str,
    config: WalkConfig = WalkConfig(),
) -> dict[str, float]:
    """Stationary visit distribution of the walk restarting at ``start`` (power iteration).

    Examples
    --------
    >>> mass = random_walk_with_restart(["app", "db"], [("app", "db")], {"db": 0.9}, "app")
    >>> mass["db"] > mass["app"]
    True
    """
    if not nodes:
        return {}
    matrix = transition_matrix(nodes, edges, evidence, config)
    n = len(nodes)
    restart = np.zeros(n)
    restart[list(nodes).index(start)] = 1.0
    pi = restart.copy()
    transposed = matrix.T.tocsr()
    residual = np.inf
    for _ in range(config.max_iter):
        nxt = config.restart * restart + (1 - config.restart) * (transposed @ pi)
        residual = float(np.abs(nxt - pi).sum())
        pi = nxt
        if residual < config.tol:
            return dict(zip(nodes, pi.tolist()))
    raise WalkDidNotConverge(config.max_iter, residual)


def random_walk_reference(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], evidence: Mapping[str, float], start: str,
    config: WalkConfig = WalkConfig(),
) -> dict[str, float]:
    """Readable dense version (solves the linear system exactly) for tests: pi = r (I - (1-c) P)^-1 c."""
    matrix = transition_matrix(nodes, edges, evidence, config).toarray()
    n = len(nodes)
    restart = np.zeros(n)
    restart[list(nodes).index(start)] = 1.0
    pi = config.restart * np.linalg.solve((np.eye(n) - (1 - config.restart) * matrix).T, restart)
    return dict(zip(nodes, pi.tolist()))
