"""Step detector for series that are constant in the baseline: counters (restarts, GPU Xid errors) and flags.

Why a separate detector: a constant baseline has no spread, so a z-score is either infinite or rests on an arbitrary
floor, and a single Xid error (one non-zero sample, back to zero the next minute) is a real signal a persistent-shift
test averages away. Here any departure from the constant is an anomaly with a fixed score, onset at the first
departing sample — the same footing as an event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepResult:
    constant: np.ndarray  # bool (N,): the baseline is constant (and has enough samples)
    hit: np.ndarray  # bool (N,): constant baseline and the window departs from it
    onset: np.ndarray  # int (N,): first departing column, -1 without a hit
    up: np.ndarray  # bool (N,): the first departure is upwards


class StepDetector:
    """Parameters
    ----------
    min_baseline:
        Finite baseline samples needed to call a series constant.
    tolerance:
        Relative tolerance for "equal" (1e-9 of the level, at least 1e-12).
    """

    def __init__(self, *, min_baseline: int = 5, tolerance: float = 1e-9) -> None:
        self.min_baseline = min_baseline
        self.tolerance = tolerance

    def detect(self, baseline: np.ndarray, window: np.ndarray) -> StepResult:
        finite = np.isfinite(baseline)
        enough = finite.sum(axis=1) >= self.min_baseline
        lo = np.min(np.where(finite, baseline, np.inf), axis=1, initial=np.inf)
        hi = np.max(np.where(finite, baseline, -np.inf), axis=1, initial=-np.inf)
        level = np.where(enough, lo, 0.0)
        tol = np.maximum(self.tolerance * np.abs(level), 1e-12)
        constant = enough & (hi - lo <= tol)
        departs = np.isfinite(window) & (np.abs(window - level[:, None]) > tol[:, None]) & constant[:, None]
        hit = departs.any(axis=1)
        onset = np.where(hit, departs.argmax(axis=1), -1)
        first = window[np.arange(window.shape[0]), np.maximum(onset, 0)] if window.shape[1] else np.zeros(len(hit))
        return StepResult(constant=constant, hit=hit, onset=onset, up=np.where(hit, first > level, True))
