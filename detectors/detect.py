"""``detect()``: score every series of the subgraph and every event, return the anomalies.

Window rule: the incident window is ``[at - lookback, at]``. The baseline is the data before the window when there
are at least ``min_baseline`` samples of it, else the first ``baseline_fraction`` of the window; onsets are searched
after the baseline. Data after ``at`` is ignored — an analysis at time T must not see the future.

Per series, vectorised over all of them:

1. ``TrendSeasonalBaseline`` — expected value (robust level, damped trend, season when there is history for it)
   and robust scale, from the baseline;
2. ``TailShift`` — onset and size (mean robust z after the onset) of the shift still present at the alert, in both
   directions;
3. ``RankShiftTest`` — Mann-Whitney p-value of the tail against the baseline residuals: a shift is reported only when
   it is both large (``score >= threshold``) and significant (``p < alpha``);
4. ``StepDetector`` — series constant in the baseline (counters such as restarts and Xid errors) are anomalous at
   their first departure, whatever happens after;
5. ``EventDetector`` — OOMKilled, BackOff, Xid … events in the window.

Scores are in robust sigmas (steps and events have fixed scores on the same scale), so they compare across metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from .baseline import TrendSeasonalBaseline, _nanmedian
from .changepoint import TailShift
from .events import EventDetector
from .models import Anomaly, Event, SeriesFrame, epoch_to_datetime
from .shift_test import RankShiftTest
from .steps import StepDetector


@dataclass(frozen=True)
class DetectConfig:
    threshold: float = 3.0
    """Minimum mean robust z after the onset to report a shift."""
    alpha: float = 1e-3
    """Maximum one-sided Mann-Whitney p-value of the tail against the baseline."""
    baseline_fraction: float = 0.5
    min_baseline: int = 8
    min_points_after_onset: int = 2
    season_s: float | None = 86400.0
    """Season length; the seasonal term is used only when the baseline holds two of them."""
    step_score: float = 10.0
    """Score of a departure from a constant baseline (a counter that moved)."""


def _window_split(frame: SeriesFrame, at: datetime, lookback: timedelta, config: DetectConfig) -> np.ndarray:
    window_start = at.timestamp() - lookback.total_seconds()
    if np.count_nonzero(frame.times < window_start) >= config.min_baseline:
        split = window_start
    else:
        split = window_start + config.baseline_fraction * lookback.total_seconds()
    return frame.times < split


def detect_series(frame: SeriesFrame, *, at: datetime, lookback: timedelta, config: DetectConfig = DetectConfig()) -> list[Anomaly]:
    """Statistical anomalies of every series in ``frame``."""
    frame = frame.until(at)
    if not frame.keys or frame.values.shape[1] < 3:
        return []
    baseline_cols = _window_split(frame, at, lookback, config)
    if not baseline_cols.any() or baseline_cols.all():
        return []
    n_base = int(baseline_cols.sum())
    # float32 halves the memory traffic of every pass; robust z-scores need nowhere near float64 precision
    values = frame.values.astype(np.float32, copy=False)
    base = values[:, :n_base]
    window = values[:, n_base:]
    period = int(round(config.season_s / frame.step_s)) if config.season_s else None
    model = TrendSeasonalBaseline(period=period, min_baseline=config.min_baseline).fit(base)
    z = model.zscore(window, np.arange(n_base, frame.values.shape[1]))

    tail = TailShift(min_points=config.min_points_after_onset)
    best_score = np.full(len(frame.keys), -np.inf)
    best_onset = np.full(len(frame.keys), -1)
    best_sign = np.ones(len(frame.keys), dtype=int)
    for sign in (1, -1):
        result = tail.score(z, sign)
        better = (result.onset >= 0) & np.isfinite(result.score) & (result.score > best_score)
        best_score = np.where(better, result.score, best_score)
        best_onset = np.where(better, result.onset, best_onset)
        best_sign = np.where(better, sign, best_sign)
    columns = np.arange(window.shape[1])[None, :]
    candidate = (best_score >= config.threshold) & np.isfinite(model.intercept_)
    pvalue = np.ones(len(frame.keys))
    if candidate.any():
        rows = np.flatnonzero(candidate)
        tail_z = np.where(columns >= best_onset[rows, None], z[rows], np.nan)
        z_base = (base[rows] - model.expected(np.arange(n_base), rows)) / model.scale_[rows, None]
        pvalue[rows] = RankShiftTest(min_tail=config.min_points_after_onset).pvalues(z_base, tail_z, best_sign[rows])
    shifted = candidate & (pvalue < config.alpha)

    steps = StepDetector(min_baseline=config.min_baseline).detect(base, window)
    # a constant-baseline series is judged by the step rule alone (its z-score rests on an arbitrary floor)
    shifted &= ~steps.constant
    score = np.where(steps.hit, config.step_score, best_score)
    onset = np.where(steps.hit, steps.onset, best_onset)
    sign = np.where(steps.hit, np.where(steps.up, 1, -1), best_sign)
    hits = np.flatnonzero(shifted | steps.hit)
    if hits.size == 0:
        return []
    search_times = frame.times[n_base:]
    after = np.where(columns >= onset[hits, None], window[hits], np.nan)
    current = _nanmedian(after)
    return [
        Anomaly(
            entity=frame.keys[i].entity,
            metric=frame.keys[i].metric,
            onset=epoch_to_datetime(search_times[onset[i]]),
            score=float(score[i]),
            direction="up" if sign[i] > 0 else "down",
            detector="step" if steps.hit[i] else "robust_z+tail_shift+mwu",
            baseline=float(model.level_[i]),
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
