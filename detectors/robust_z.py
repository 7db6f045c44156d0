"""Robust z-score: median/MAD baseline, so one spike in the baseline does not hide a real shift.

Scale floor: a constant baseline has MAD 0; dividing by it would turn any change into infinity and any noise into
NaN. The scale is therefore at least ``rel_floor`` of the baseline level and ``abs_floor`` of the series' range.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np

MAD_TO_SIGMA = 1.4826
Z_CLIP = 100.0


def nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN; all-NaN rows give NaN without a warning."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=1)


class RobustZScore:
    """Standardise series against a baseline window.

    Parameters
    ----------
    rel_floor:
        Minimum scale as a fraction of ``|baseline median|``.
    abs_floor:
        Minimum scale as a fraction of the largest ``|value|`` of the series (so a counter going 0 → 1 scores high
        but finitely).
    min_baseline:
        Fewer finite baseline samples than this and the series is not scored (NaN).
    """

    def __init__(self, *, rel_floor: float = 0.05, abs_floor: float = 1e-3, min_baseline: int = 5) -> None:
        self.rel_floor = rel_floor
        self.abs_floor = abs_floor
        self.min_baseline = min_baseline

    def fit(self, baseline: np.ndarray) -> Self:
        """Learn per-row median and scale from ``baseline`` (rows = series, columns = samples)."""
        median = nanmedian_rows(baseline)
        mad = nanmedian_rows(np.abs(baseline - median[:, None])) * MAD_TO_SIGMA
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            peak = np.nanmax(np.abs(baseline), axis=1) if baseline.shape[1] else np.full(baseline.shape[0], np.nan)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        floor = np.maximum(self.rel_floor * np.abs(np.nan_to_num(median)), self.abs_floor * np.maximum(peak, 1.0))
        scale = np.maximum(np.nan_to_num(mad), floor)
        enough = np.sum(np.isfinite(baseline), axis=1) >= self.min_baseline
        self.median_ = np.where(enough, median, np.nan)
        self.scale_ = scale
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """z-scores, clipped to ±Z_CLIP; NaN where the sample or the baseline is missing."""
        z = (values - self.median_[:, None]) / self.scale_[:, None]
        return np.clip(z, -Z_CLIP, Z_CLIP)
