"""Two-sided CUSUM change-point detection on standardised series, fully vectorised.

The reset form ``S_t = max(0, S_{t-1} + y_t)`` equals ``C_t - min(0, min_{s<=t} C_s)`` with ``C`` the cumulative sum
of ``y``, so the whole recursion is one ``cumsum`` and one ``minimum.accumulate`` over the matrix: no Python loop
over samples. The onset is the sample after the last reset before the first alarm.

References
----------
E. S. Page, "Continuous Inspection Schemes", Biometrika 41 (1954).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CusumResult:
    alarm: np.ndarray  # bool (N,)
    onset: np.ndarray  # int (N,), index into the scored columns; -1 without alarm
    peak: np.ndarray  # float (N,), max of S


class Cusum:
    """One-sided CUSUM (call once per direction).

    Parameters
    ----------
    drift:
        Allowance ``k`` subtracted each step, in standard deviations: shifts smaller than this are ignored.
    threshold:
        Decision interval ``h``: an alarm when the cumulative excess passes it.
    """

    def __init__(self, *, drift: float = 0.5, threshold: float = 5.0) -> None:
        self.drift = drift
        self.threshold = threshold

    def detect(self, z: np.ndarray, sign: int, drift: np.ndarray | None = None) -> CusumResult:
        """``drift`` overrides the configured allowance per row (shape ``(N,)``), e.g. half the estimated shift."""
        k = self.drift if drift is None else np.asarray(drift, dtype=float)[:, None]
        y = np.where(np.isfinite(z), sign * z - k, 0.0)
        cumulative = np.cumsum(y, axis=1)
        running_min = np.minimum.accumulate(np.minimum(cumulative, 0.0), axis=1)
        s = cumulative - running_min
        over = s > self.threshold
        alarm = over.any(axis=1)
        first = np.where(alarm, over.argmax(axis=1), z.shape[1])
        columns = np.arange(z.shape[1])[None, :]
        reset = (s <= 0.0) & (columns < first[:, None])
        last_reset = np.where(reset, columns, -1).max(axis=1, initial=-1)
        onset = np.where(alarm, last_reset + 1, -1)
        peak = s.max(axis=1, initial=0.0)
        return CusumResult(alarm=alarm, onset=onset, peak=peak)
