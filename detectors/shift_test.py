"""Distribution shift between the baseline and the incident tail: a vectorised Mann-Whitney U test.

Why a rank test next to the robust z: the z-score says *how far* the tail moved in sigmas, the rank test says
*whether* the tail's values are drawn from a different distribution than the baseline's — robust to heavy-tailed
noise, and it needs no scale. Requiring both keeps the false-positive rate low on noisy metrics.

Vectorisation: every row's baseline is sorted once; ``searchsorted`` on the flattened rows (each row offset into its
own band) counts, for every tail sample, how many baseline samples lie below it — all rows in one call.
The p-value uses the normal approximation with tie correction omitted (continuous metrics), one-sided, except at
the extreme (every tail sample beyond every baseline sample), where the exact permutation p-value is used.

References
----------
H. B. Mann, D. R. Whitney, "On a Test of Whether one of Two Random Variables is Stochastically Larger than the
Other", Ann. Math. Statist. 18 (1947).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, ndtr


class RankShiftTest:
    """One-sided Mann-Whitney U p-values, one per row.

    Parameters
    ----------
    min_tail:
        Rows whose tail has fewer finite samples get p = 1.
    """

    def __init__(self, *, min_tail: int = 2) -> None:
        self.min_tail = min_tail

    def pvalues(self, baseline: np.ndarray, tail: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """P(tail not shifted in direction ``sign``); ``tail`` holds NaN outside each row's tail segment."""
        return self.test(baseline, tail, sign)[0]

    def test(self, baseline: np.ndarray, tail: np.ndarray, sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(p-values, extreme): ``extreme`` marks rows whose every tail sample lies beyond every baseline sample in
        direction ``sign`` — the strongest verdict the test can give for those sample counts, whatever alpha is."""
        n_rows = baseline.shape[0]
        if n_rows == 0:
            return np.zeros(0), np.zeros(0, dtype=bool)
        b = np.where(np.isfinite(baseline), baseline, np.inf)
        b.sort(axis=1)
        n1 = np.isfinite(baseline).sum(axis=1)
        t_fin = np.isfinite(tail)
        n2 = t_fin.sum(axis=1)
        # map every value into a disjoint band per row: row r occupies [r * span, (r + 1) * span)
        b_fin = np.isfinite(b)
        lo = np.minimum(np.min(np.where(b_fin, b, np.inf), axis=1), np.min(np.where(t_fin, tail, np.inf), axis=1))
        hi = np.maximum(np.max(np.where(b_fin, b, -np.inf), axis=1), np.max(np.where(t_fin, tail, -np.inf), axis=1))
        lo = np.where(np.isfinite(lo), lo, 0.0)
        width = np.where(np.isfinite(hi - lo) & (hi > lo), hi - lo, 1.0)
        span = 4.0
        offset = np.arange(n_rows, dtype=float) * span
        bn = np.where(np.isfinite(b), (b - lo[:, None]) / width[:, None] + offset[:, None], offset[:, None] + 3.0)
        tn = np.where(t_fin, (tail - lo[:, None]) / width[:, None] + offset[:, None], np.nan)
        flat = bn.ravel()
        below = np.searchsorted(flat, tn[t_fin], side="left")
        equal = np.searchsorted(flat, tn[t_fin], side="right") - below
        row_start = np.searchsorted(flat, offset, side="left")
        rows = np.nonzero(t_fin)[0]
        counts = (below - row_start[rows]) + 0.5 * equal
        u = np.bincount(rows, weights=counts, minlength=n_rows)  # U of the tail sample
        mean = n1 * n2 / 2.0
        sd = np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
        zu = np.where(sd > 0, (u - mean) / np.where(sd > 0, sd, 1.0), 0.0)
        p = 1.0 - ndtr(sign * zu)
        # the normal approximation is far too pessimistic at the extreme: when every tail sample lies beyond every
        # baseline sample (U at its maximum), the exact permutation p-value is 1 / C(n1 + n2, n2) — with two tail
        # samples against 288 baseline ones 2.4e-5, not the 0.007 the approximation gives
        u_dir = np.where(sign > 0, u, n1 * n2 - u)
        extreme = (u_dir >= n1 * n2) & (n2 > 0)
        exact = np.exp(gammaln(n1 + 1.0) + gammaln(n2 + 1.0) - gammaln(n1 + n2 + 1.0))
        p = np.where(extreme, np.minimum(p, exact), p)
        tested = (n2 >= self.min_tail) & (n1 >= 2)
        return np.where(tested, p, 1.0), extreme & tested


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks with ties averaged, and the size of every tie group."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    average = starts + (sizes + 1) / 2.0  # mean of the 1-based positions start+1 … start+size
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, sizes)
    return ranks, sizes


def _exact_u_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null without ties: the coefficients of the Gaussian binomial [n1 + n2, n1]_q, the
    number of arrangements with each U, built as prod_i (1 - q^(n2 + i)) / (1 - q^i)."""
    small, large = min(n1, n2), max(n1, n2)
    size = small * large + 1
    counts = np.zeros(size)
    counts[0] = 1.0
    for i in range(1, small + 1):
        shifted = np.zeros(size)
        shifted[large + i:] = counts[: size - large - i]
        counts = counts - shifted  # × (1 - q^(large + i))
        for start in range(i):  # ÷ (1 - q^i): a running sum with stride i
            counts[start::i] = np.cumsum(counts[start::i])
    return float(counts[u:].sum() / counts.sum()) if u < size else 0.0


def mann_whitney_p(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """One-sided Mann-Whitney U p-value of ``x`` against ``y`` (``alternative`` "greater": x tends to be larger;
    "less": smaller), as ``scipy.stats.mannwhitneyu`` computes it by default — exact when a sample has at most 8
    values and nothing is tied, else the normal approximation with tie and continuity corrections — without
    importing ``scipy.stats`` (a third of a second at every command's start)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_p needs at least one value in each sample")
    ranks, ties = _average_ranks(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    u = u1 if alternative == "greater" else n1 * n2 - u1
    if (n1 <= 8 or n2 <= 8) and not np.any(ties > 1):
        return min(max(_exact_u_sf(int(round(u)), n1, n2), 0.0), 1.0)
    n = n1 + n2
    tie_term = float(np.sum(ties.astype(float) ** 3 - ties))
    s = np.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if s == 0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / s
    return float(min(max(ndtr(-z), 0.0), 1.0))
