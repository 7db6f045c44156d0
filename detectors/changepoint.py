"""Tail change point: where did the shift that is still present at the alert time begin?

An incident window ends at the alert, so the change that matters is one that *persists to the end*. For each series
(vectorised) and each candidate onset τ we take the CUSUM of the standardised residuals from τ to the end,
``R(τ) = Σ_{t≥τ} z_t``; the likelihood-ratio statistic of a mean shift starting at τ (known pre-change mean 0,
unit variance) is ``R(τ)² / n(τ)``, so the onset is ``argmax R(τ)/√n(τ)`` and the anomaly score is the mean residual
after it, ``R(τ)/n(τ)`` — in robust sigmas, so scores compare across metrics of any scale.

Why not a forward CUSUM alarm: over a 60-minute window with a slow daily drift, a forward CUSUM alarms early on the
drift and places the onset long before the real fault; the tail statistic is not fooled by that because the
drift's small residuals dilute the mean.

References
----------
E. S. Page, "Continuous Inspection Schemes", Biometrika 41 (1954); D. V. Hinkley, "Inference about the change-point
in a sequence of random variables", Biometrika 57 (1970).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TailShiftResult:
    onset: np.ndarray  # int (N,), column index of the onset; -1 when the row has too few points
    score: np.ndarray  # float (N,), mean residual after the onset, in the tested direction (>= 0 is a shift that way)
    points: np.ndarray  # int (N,), finite samples after the onset


class TailShift:
    """Most likely onset of a shift persisting to the end of the window, per row and direction.

    Parameters
    ----------
    min_points:
        A shift needs at least this many finite samples after its onset.
    clip:
        Residuals are clipped to ``[-clip, clip]`` first, so one wild sample cannot make a shift alone.
    """

    def __init__(self, *, min_points: int = 2, clip: float = 20.0) -> None:
        self.min_points = min_points
        self.clip = clip

    def score(self, z: np.ndarray, sign: int) -> TailShiftResult:
        finite = np.isfinite(z)
        y = np.where(finite, np.clip(sign * z, -self.clip, self.clip), 0.0)
        tail_sum = np.cumsum(y[:, ::-1], axis=1)[:, ::-1]
        tail_n = np.cumsum(finite[:, ::-1], axis=1)[:, ::-1]
        ok = tail_n >= self.min_points
        stat = np.where(ok, tail_sum / np.sqrt(np.maximum(tail_n, 1)), -np.inf)
        onset = stat.argmax(axis=1)
        rows = np.arange(z.shape[0])
        has = ok[rows, onset]
        points = np.where(has, tail_n[rows, onset], 0)
        mean = np.where(has, tail_sum[rows, onset] / np.maximum(points, 1), np.nan)
        # move the onset to the first finite sample at or after the argmax (a NaN there carries no evidence)
        first_finite = np.where(finite, np.arange(z.shape[1])[None, :], z.shape[1])
        after = np.where(np.arange(z.shape[1])[None, :] >= onset[:, None], first_finite, z.shape[1]).min(axis=1)
        onset = np.where(has, np.minimum(after, z.shape[1] - 1), -1)
        return TailShiftResult(onset=onset, score=mean, points=points)
