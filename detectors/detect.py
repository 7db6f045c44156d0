"""``detect()``: score every series of the subgraph and every event, return the anomalies.

Window rule: the incident window is ``[at - lookback, at]``. The baseline is the data before the window when there
are at least ``min_baseline`` samples of it, else the first ``baseline_fraction`` of the window; onsets are searched
after the baseline. Data after ``at`` is ignored — an analysis at time T must not see the future.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from .cusum import Cusum
from .events import EventDetector
from .models import Anomaly, Event, SeriesFrame, epoch_to_datetime
from .robust_z import RobustZScore, nanmedian_rows


@dataclass(frozen=True)
class DetectConfig:
    threshold: float = 3.0
    """Minimum robust z (median after onset) to report an anomaly."""
    baseline_fraction: float = 0.5
    min_baseline: int = 8
    min_points_after_onset: int = 2
    cusum_drift: float = 0.5
    cusum_threshold: float = 5.0


def _score_direction(z: np.ndarray, onset: np.ndarray, sign: int) -> np.ndarray:
    columns = np.arange(z.shape[1])[None, :]
    after = np.where((columns >= onset[:, None]) & (onset[:, None] >= 0), sign * z, np.nan)
    enough = np.sum(np.isfinite(after), axis=1)
    return np.where(enough > 0, nanmedian_rows(after), np.nan), enough


def detect_series(frame: SeriesFrame, *, at: datetime, lookback: timedelta, config: DetectConfig = DetectConfig()) -> list[Anomaly]:
    """Statistical anomalies of every series in ``frame``."""
    frame = frame.until(at)
    if not frame.keys or frame.values.shape[1] < 3:
        return []
    t_at = at.timestamp()
    window_start = t_at - lookback.total_seconds()
    before_window = frame.times < window_start
    if np.count_nonzero(before_window) >= config.min_baseline:
        split = window_start
    else:
        split = window_start + config.baseline_fraction * lookback.total_seconds()
    baseline_cols = frame.times < split
    search_cols = ~baseline_cols
    if not baseline_cols.any() or not search_cols.any():
        return []
    zscore = RobustZScore(min_baseline=config.min_baseline).fit(frame.values[:, baseline_cols])
    search = frame.values[:, search_cols]
    z = zscore.transform(search)
    cusum = Cusum(drift=config.cusum_drift, threshold=config.cusum_threshold)
    best_score = np.full(len(frame.keys), -np.inf)
    best_onset = np.full(len(frame.keys), -1)
    best_sign = np.ones(len(frame.keys), dtype=int)
    for sign in (1, -1):
        result = cusum.detect(z, sign)
        score, enough = _score_direction(z, result.onset, sign)
        # Second pass: the allowance that makes CUSUM's onset the maximum-likelihood change point is half the
        # shift; with the small first-pass allowance, noise before the shift drags the onset early.
        shift = np.where(np.isfinite(score), np.maximum(score, 2 * config.cusum_drift), 2 * config.cusum_drift)
        refined = cusum.detect(z, sign, drift=shift / 2)
        use = result.alarm & refined.alarm
        onset = np.where(use, refined.onset, result.onset)
        result = type(result)(alarm=result.alarm, onset=onset, peak=result.peak)
        score, enough = _score_direction(z, result.onset, sign)
        valid = result.alarm & (enough >= config.min_points_after_onset) & np.isfinite(score)
        better = valid & (score > best_score)
        best_score = np.where(better, score, best_score)
        best_onset = np.where(better, result.onset, best_onset)
        best_sign = np.where(better, sign, best_sign)
    hits = np.flatnonzero((best_score >= config.threshold) & np.isfinite(zscore.median_))
    if hits.size == 0:
        return []
    search_times = frame.times[search_cols]
    columns = np.arange(search.shape[1])[None, :]
    after = np.where(columns >= best_onset[:, None], search, np.nan)
    current = nanmedian_rows(after[hits])
    return [
        Anomaly(
            entity=frame.keys[i].entity,
            metric=frame.keys[i].metric,
            onset=epoch_to_datetime(search_times[best_onset[i]]),
            score=float(best_score[i]),
            direction="up" if best_sign[i] > 0 else "down",
            detector="robust_z+cusum",
            baseline=float(zscore.median_[i]),
            current=float(cur),
        )
        for i, cur in zip(hits, current)
    ]


def detect(
    frame: SeriesFrame,
    events: Iterable[Event] = (),
    *,
    at: datetime,
    lookback: timedelta,
    config: DetectConfig = DetectConfig(),
) -> list[Anomaly]:
    """All anomalies in the incident window, strongest first."""
    anomalies = detect_series(frame, at=at, lookback=lookback, config=config)
    anomalies += EventDetector().detect(events, at - lookback, at)
    return sorted(anomalies, key=lambda a: (-a.score, a.entity, a.metric))
