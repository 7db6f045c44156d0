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
        n_rows = baseline.shape[0]
        if n_rows == 0:
            return np.zeros(0)
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
        return np.where((n2 >= self.min_tail) & (n1 >= 2), p, 1.0)
