"""Build a ``SeriesFrame`` from long-format samples (one row a sample), vectorised with numpy.

Why a regular grid: detectors compare windows by position, and real sources (Prometheus ``query_range``, CSV
exports) rarely agree on exact timestamps. Samples are averaged into the nearest grid slot; slots with no sample are
NaN and detectors are NaN-safe.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import DetectorError
from .models import SeriesFrame, SeriesKey

MAX_GRID_POINTS = 200_000
MAX_GRID_CELLS = 20_000_000
"""Series x grid slots: the dense matrix (and its bincount temporaries, ~4 arrays of 8 bytes a cell) must fit in
memory; a hostile file of a million one-sample series spread over a year would otherwise ask for terabytes."""
NICE_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)


def snap_step(step_s: float) -> float:
    """Jittery scrape timestamps give steps like 29.4 s; snap to the usual interval when within 10 %."""
    nearest = min(NICE_STEPS_S, key=lambda nice: abs(nice - step_s))
    return float(nearest) if abs(nearest - step_s) <= 0.1 * nearest else step_s


def frame_from_samples(
    timestamps: np.ndarray,
    entities: np.ndarray,
    metrics: np.ndarray,
    values: np.ndarray,
    step_s: float | None = None,
) -> SeriesFrame:
    """Resample samples onto one grid. ``timestamps`` are epoch seconds; NaN values are missing samples."""
    timestamps = np.asarray(timestamps, dtype=float)
    values = np.asarray(values, dtype=float)
    if timestamps.size == 0:
        return SeriesFrame.empty()
    entity_codes, entity_names = pd.factorize(np.asarray(entities, dtype=object))
    metric_codes, metric_names = pd.factorize(np.asarray(metrics, dtype=object))
    pair = entity_codes.astype(np.int64) * len(metric_names) + metric_codes
    pairs, codes = np.unique(pair, return_inverse=True)
    keys = tuple(
        SeriesKey(str(entity_names[p // len(metric_names)]), str(metric_names[p % len(metric_names)])) for p in pairs
    )
    distinct = np.unique(timestamps)
    if step_s is None:
        order = np.lexsort((timestamps, codes))
        same_series = codes[order][1:] == codes[order][:-1]
        diffs = np.diff(timestamps[order])[same_series]
        diffs = diffs[diffs > 0]
        step_s = snap_step(float(np.median(diffs))) if diffs.size else 60.0
    if not step_s > 0:
        step_s = 60.0
    start = float(distinct[0])
    n_times = int(np.rint((distinct[-1] - start) / step_s)) + 1
    if n_times > MAX_GRID_POINTS:
        raise DetectorError(
            f"series span {distinct[-1] - start:.0f} s at a {step_s:g} s step needs {n_times} samples "
            f"(limit {MAX_GRID_POINTS}): timestamps are probably mixed units or far apart"
        )
    if len(keys) * n_times > MAX_GRID_CELLS:
        raise DetectorError(
            f"{len(keys)} series x {n_times} time slots is more than {MAX_GRID_CELLS} cells: "
            "too many distinct series over too long a span for one analysis"
        )
    slot = np.rint((timestamps - start) / step_s).astype(np.int64)
    present = np.isfinite(values)
    flat = codes[present].astype(np.int64) * n_times + slot[present]
    size = len(keys) * n_times
    sums = np.bincount(flat, weights=values[present], minlength=size)
    counts = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    times = start + step_s * np.arange(n_times)
    return SeriesFrame(keys, times, grid.reshape(len(keys), n_times))
