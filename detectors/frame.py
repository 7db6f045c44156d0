"""Build a ``SeriesFrame`` from long-format samples (one row a sample), vectorised with numpy.

Why a regular grid: detectors compare windows by position, and real sources (Prometheus ``query_range``, CSV
exports) rarely agree on exact timestamps. Samples are averaged into the nearest grid slot; slots with no sample are
NaN and detectors are NaN-safe.

Two doors, one result: ``frame_from_samples`` takes names per row (what metric sources produce);
``frame_from_codes`` takes integer codes per row plus the names once (what the columnar case readers produce, with
no Python object per row). The grid — start, step, length — is always computed from *every* sample, and
``entities`` only chooses which series are materialised, so a frame built for a symptom's neighbourhood is exactly
the full frame's ``for_entities(...)`` of those entities.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from .exceptions import DetectorError
from .models import SeriesFrame, SeriesKey

MAX_GRID_POINTS = 200_000
MAX_GRID_CELLS = 20_000_000
"""Series x grid slots: the dense matrix (and its bincount temporaries, ~4 arrays of 8 bytes a cell) must fit in
memory; a hostile file of a million one-sample series spread over a year would otherwise ask for terabytes."""
NICE_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)
_DENSE_PAIRS = 1 << 22
"""Up to this many (entity, metric) combinations, series are numbered with a lookup table instead of a sort."""


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
    import pandas as pd  # only the name-per-row door needs it; the case readers hand codes to frame_from_codes

    timestamps = np.asarray(timestamps, dtype=float)
    if timestamps.size == 0:
        return SeriesFrame.empty()
    entity_codes, entity_names = pd.factorize(np.asarray(entities, dtype=object))
    metric_codes, metric_names = pd.factorize(np.asarray(metrics, dtype=object))
    return frame_from_codes(
        timestamps, entity_codes, [str(n) for n in entity_names], metric_codes, [str(n) for n in metric_names],
        values, step_s=step_s,
    )


def first_appearance_codes(codes: np.ndarray, n_names: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber ``codes`` so that code order is the order in which values first appear (as ``pandas.factorize``).

    Returns ``(new_codes, order)`` where ``order[new] = old`` for every name that occurs (names that never occur are
    dropped): series keys come out in the same order whichever reader built the codes.
    """
    if codes.size and codes[0] == 0:
        # already in order (what readers that code names as they meet them produce): each code is at most one more
        # than every code before it; one running maximum proves it without a scatter over all rows
        seen = np.maximum.accumulate(codes)
        if np.all(codes[1:] <= seen[:-1] + 1):
            used = int(seen[-1]) + 1
            return codes, np.arange(used)
    first = np.full(n_names, codes.size, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(codes.size, dtype=np.int64))
    order = np.argsort(first, kind="stable")
    rank = np.empty(n_names, dtype=np.int64)
    rank[order] = np.arange(n_names, dtype=np.int64)
    return rank[codes], order[: int(np.count_nonzero(first < codes.size))]


def frame_from_codes(
    timestamps: np.ndarray,
    entity_codes: np.ndarray,
    entity_names: Sequence[str],
    metric_codes: np.ndarray,
    metric_names: Sequence[str],
    values: np.ndarray,
    *,
    step_s: float | None = None,
    entities: Collection[str] | None = None,
) -> SeriesFrame:
    """Resample coded samples onto one grid; only the series of ``entities`` (all when None) are materialised.

    Codes must number names in order of first appearance (``first_appearance_codes``); series keys are then ordered
    by (entity, metric) first appearance, as ``frame_from_samples`` orders them.
    """
    timestamps = np.asarray(timestamps, dtype=float)
    values = np.asarray(values, dtype=float)
    if timestamps.size == 0:
        return SeriesFrame.empty()
    n_metrics = len(metric_names)
    pair = np.asarray(entity_codes, dtype=np.int64) * n_metrics + np.asarray(metric_codes, dtype=np.int64)
    pairs, series = _number_series(pair, len(entity_names) * n_metrics)
    if step_s is None:
        step_s = _median_step(timestamps, series, len(pairs))
    if not step_s > 0:
        step_s = 60.0
    start, stop = float(timestamps.min()), float(timestamps.max())
    n_times = int(np.rint((stop - start) / step_s)) + 1
    if n_times > MAX_GRID_POINTS:
        raise DetectorError(
            f"series span {stop - start:.0f} s at a {step_s:g} s step needs {n_times} samples "
            f"(limit {MAX_GRID_POINTS}): timestamps are probably mixed units or far apart"
        )
    if entities is not None:
        wanted = entities if isinstance(entities, (set, frozenset, dict)) else set(entities)
        keep_entity = np.fromiter((name in wanted for name in entity_names), dtype=bool, count=len(entity_names))
        keep_pair = keep_entity[pairs // n_metrics]
        rows = keep_pair[series]
        renumber = np.cumsum(keep_pair) - 1
        pairs, series = pairs[keep_pair], renumber[series[rows]]
        timestamps, values = timestamps[rows], values[rows]
    keys = tuple(SeriesKey(str(entity_names[p // n_metrics]), str(metric_names[p % n_metrics])) for p in pairs.tolist())
    if len(keys) * n_times > MAX_GRID_CELLS:
        raise DetectorError(
            f"{len(keys)} series x {n_times} time slots is more than {MAX_GRID_CELLS} cells: "
            "too many distinct series over too long a span for one analysis"
        )
    times = start + step_s * np.arange(n_times)
    if not keys:
        return SeriesFrame((), times, np.zeros((0, n_times)))
    slot = np.rint((timestamps - start) / step_s).astype(np.int64)
    present = np.isfinite(values)
    flat = series[present].astype(np.int64) * n_times + slot[present]
    size = len(keys) * n_times
    sums = np.bincount(flat, weights=values[present], minlength=size)
    counts = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return SeriesFrame(keys, times, grid.reshape(len(keys), n_times))


def _number_series(pair: np.ndarray, n_combinations: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct pair codes and each row's index among them (``np.unique(..., return_inverse=True)``)."""
    if n_combinations <= _DENSE_PAIRS:
        present = np.zeros(n_combinations, dtype=bool)
        present[pair] = True
        index = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present), index[pair]
    pairs, series = np.unique(pair, return_inverse=True)
    return pairs, series.reshape(-1)


def _median_step(timestamps: np.ndarray, series: np.ndarray, n_series: int) -> float:
    """Median positive gap between consecutive samples of one series, snapped to a usual interval.

    Equal to sorting all rows by (series, time) and diffing, but the sort is skipped when the rows already come
    grouped by series in time order (how exporters write), and is a linear radix sort when each series is in time
    order but the series are interleaved (time-major exports): a full two-key sort of a million rows costs more
    than reading them.
    """
    if timestamps.size < 2:
        return 60.0
    same = series[1:] == series[:-1]
    gaps = np.diff(timestamps)
    diffs = gaps[same]
    grouped = timestamps.size - diffs.size == n_series
    if not grouped or np.any(diffs < 0):
        narrow = series.astype(np.uint16 if n_series <= 1 << 16 else np.uint32)
        order = np.argsort(narrow, kind="stable")
        ordered = series[order]
        same = ordered[1:] == ordered[:-1]
        diffs = np.diff(timestamps[order])[same]
        if np.any(diffs < 0):
            order = np.lexsort((timestamps, series))
            same = series[order][1:] == series[order][:-1]
            diffs = np.diff(timestamps[order])[same]
    diffs = diffs[diffs > 0]
    return snap_step(float(np.median(diffs))) if diffs.size else 60.0
