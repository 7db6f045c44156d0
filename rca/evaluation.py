"""Accuracy metrics of RCA benchmarks: AC@k and Avg@k over ranked answers.

AC@k is the share of cases whose true root cause is among the top k candidates; Avg@k is the mean of AC@1..AC@k.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def solved_at(ranked: Sequence[str], accepted: Iterable[str]) -> int | None:
    """1-based rank of the first accepted id in ``ranked`` (None when absent)."""
    accepted = set(accepted)
    for position, entity in enumerate(ranked, start=1):
        if entity in accepted:
            return position
    return None


def ac_at_k(ranks: Sequence[int | None], k: int) -> float:
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def avg_at_k(ranks: Sequence[int | None], k: int = 5) -> float:
    return sum(ac_at_k(ranks, i) for i in range(1, k + 1)) / k
