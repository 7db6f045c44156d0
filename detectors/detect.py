"""``detect()``: score every series of the subgraph and every event; return the anomalies and every series' score.

Windows are counted in **samples of the data's own interval**, never in seconds chosen for one data set:

* the incident window is ``[at - lookback, at]``; the **baseline** is whatever data precedes it. When less than
  ``min_baseline`` samples precede it (data shorter than the lookback), the first ``short_history_fraction`` of the
  available samples (at least ``min_baseline``) become the baseline and the onset is searched after them;
* a shift must hold for ``max(min_tail, min_tail_duration / interval)`` samples: two samples on 1-min or 5-min data,
  20 samples on 1-s data. Data after ``at`` is ignored: an analysis at time T must not see the future.

Per series, vectorised over all of them:

1. ``TrendSeasonalBaseline`` — expected value (robust level, damped trend, season when there is history for it)
   and a robust noise scale, from the baseline. The scale is inflated to its upper confidence bound for the number
   of baseline samples (``scale_confidence``), so a short baseline gives honestly smaller scores;
2. ``TailShift`` — onset and size (mean standardised residual after the onset) of the shift still present at the
   alert, in both directions;
3. ``RankShiftTest`` — one-sided Mann-Whitney p-value of the tail against the baseline (exact at the extreme). A shift
   is reported only when it is both large (``score >= threshold``) and significant (``p < alpha``, or, for a tail
   too short for the test to ever reach alpha — two 1-min samples at an alert that came two minutes after the fault —
   the most extreme arrangement it can see: every tail sample beyond every baseline sample). The rank test
   handles ties, so counts and zeros need no special case: one blip on an idle error rate followed by zeros is not a
   shift; ten non-zero samples after sixty zeros are;
4. series **constant in the baseline** (idle error rates, idle counters) have no scale to measure a size against: their
   score is the rank test's evidence turned into a normal quantile (``-ndtri(p)``), which grows with how long and
   how consistently the series left its constant — never a fixed number. The exception are metrics the catalogue
   declares fault counters (GPU Xid codes, row-remap failures, restarts): any move of an idle one is a fault
   occurrence, scored like an event (``counter_score``).

Every series keeps its score (``SeriesScores``), significant or not: the ranker reads sizes, not only verdicts.
Each series' role (saturation / errors / latency / traffic / other) and bad direction come from ``MetricRoles``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from scipy.special import chdtri, ndtri

from .baseline import TrendSeasonalBaseline, _nanmedian
from .changepoint import TailShift
from .events import EventDetector
from .models import Anomaly, Event, SeriesFrame, epoch_to_datetime
from .notes import notes_since
from .roles import MetricRoles
from .shift_test import RankShiftTest


@dataclass(frozen=True)
class DetectConfig:
    threshold: float = 3.0
    """Minimum size (mean standardised residual after the onset) to report a shift."""
    alpha: float = 1e-3
    """Maximum one-sided Mann-Whitney p-value of the tail against the baseline."""
    min_baseline: int = 3
    """Fewest baseline samples a series needs to be scored at all (the scale inflation keeps three honest: their
    noise scale counts three times)."""
    short_history_fraction: float = 0.25
    """With less than ``min_baseline`` samples before the window, this share of the data becomes the baseline."""
    min_tail: int = 2
    """A shift needs at least this many samples after its onset …"""
    min_tail_duration_s: float = 20.0
    """… and at least this long: on 1-s data a two-sample move is noise, on 5-min data it is ten minutes. 20 s is
    one or two scrape intervals of a usual Prometheus setup."""
    season_s: float | None = 86400.0
    """Season length; the seasonal term is used only when the baseline holds two of them."""
    scale_confidence: float = 0.9
    """The noise scale is raised to its upper confidence bound at this level for the baseline's sample count."""
    max_score: float = 20.0
    """Anomaly scores (what a reader sees, and the severity of evidence) are clipped here: "> 20 sigma" is all a
    reader needs. The ranker reads the unclipped size from ``SeriesScores``."""
    counter_score: float = 6.0
    """Score of a declared fault counter (``MetricInfo.events``) leaving its idle baseline: the footing of an event."""
    size_cap: float = 1000.0
    """Standardised residuals are clipped here before averaging, so one wild sample cannot make a shift alone
    while sizes of hundreds of sigmas (a latency from 20 ms to 30 s) still rank above sizes of twenty."""


@dataclass(frozen=True)
class WindowSplit:
    """Where the baseline ends and the onset search begins, in samples of the frame's grid."""

    n_baseline: int
    n_total: int
    step_s: float
    min_tail: int
    short_history: bool


def window_split(frame: SeriesFrame, at: datetime, lookback: timedelta, config: DetectConfig) -> WindowSplit | None:
    """The baseline/search split for ``frame`` (already cut at ``at``); None when there is too little data."""
    n = len(frame.times)
    step = frame.step_s
    min_tail = max(config.min_tail, int(math.ceil(config.min_tail_duration_s / step - 1e-9)))
    window_start = at.timestamp() - lookback.total_seconds()
    before = int(np.count_nonzero(frame.times < window_start))
    short = before < config.min_baseline
    if short:
        before = max(config.min_baseline, int(round(config.short_history_fraction * n)))
    if before >= n or n - before < config.min_tail:
        return None
    return WindowSplit(n_baseline=before, n_total=n, step_s=step, min_tail=min(min_tail, n - before), short_history=short)


@dataclass(frozen=True)
class SeriesScores:
    """Every series' shift, significant or not; row ``i`` is ``frame.keys[i]`` of the frame that was scored.

    ``score`` is the size in (confidence-inflated) robust sigmas, or for a constant baseline the rank test's evidence
    as a normal quantile; ``sign`` the direction (+1 up); ``onset`` an epoch second (NaN when not scored);
    ``significant`` both large and unlikely under the baseline; ``bad`` the move is in the metric's bad direction.
    """

    frame: SeriesFrame
    split: WindowSplit | None
    score: np.ndarray
    sign: np.ndarray
    onset: np.ndarray
    pvalue: np.ndarray
    significant: np.ndarray
    constant: np.ndarray
    level: np.ndarray
    current: np.ndarray
    roles: tuple[str, ...]
    bad: np.ndarray
    units: tuple[str, ...] = field(default=())
    peak: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Largest standardised residual in the window, either way (N-Sigma's statistic, on a robust scale): a fault
    that was over before the alert still has a peak, though no shift persists to the end."""
    trace: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Standardised residuals over the last ``context`` baseline samples and the window (for shape comparisons)."""
    context: int = 0

    @staticmethod
    def empty(frame: SeriesFrame) -> "SeriesScores":
        n = len(frame.keys)
        zeros = np.zeros(n)
        return SeriesScores(
            frame=frame, split=None, score=zeros, sign=np.ones(n, dtype=int), onset=np.full(n, np.nan),
            pvalue=np.ones(n), significant=np.zeros(n, dtype=bool), constant=np.zeros(n, dtype=bool),
            level=np.full(n, np.nan), current=np.full(n, np.nan), roles=("other",) * n, bad=np.ones(n, dtype=bool),
            units=("",) * n, peak=zeros, trace=np.zeros((n, 0)), context=0,
        )

    def rows_of(self) -> dict[str, list[int]]:
        """Row indices per entity."""
        out: dict[str, list[int]] = {}
        for i, key in enumerate(self.frame.keys):
            out.setdefault(key.entity, []).append(i)
        return out


def _scale_inflation(n_finite: np.ndarray, confidence: float) -> np.ndarray:
    """Upper confidence bound of a scale estimated from ``n`` samples, relative to the estimate:
    ``sqrt((n - 1) / chi2_{1-confidence}(n - 1))`` — 2.4 for 5 samples, 1.1 for 100, 1.05 for 300."""
    df = np.maximum(n_finite - 1, 1).astype(float)
    # chdtri(df, c) is chi2.ppf(1 - c, df) without importing scipy.stats (0.3 s of every command's start-up)
    return np.sqrt(df / chdtri(df, confidence))


def score_series(
    frame: SeriesFrame, *, at: datetime, lookback: timedelta, config: DetectConfig = DetectConfig(),
    roles: MetricRoles | None = None, sparse: bool = True,
) -> SeriesScores:
    """Score every series of ``frame`` (see the module docstring); with ``sparse``, rows sampled only around
    incidents are then scored against their own first samples (``detectors.sparse``)."""
    roles = roles or MetricRoles.default()
    scores = _score_frame(frame.until(at), at=at, lookback=lookback, config=config, roles=roles)
    if sparse:
        from .sparse import rescore_sparse

        scores = rescore_sparse(scores, at=at, lookback=lookback, config=config, roles=roles)
    return scores


def _score_frame(
    frame: SeriesFrame, *, at: datetime, lookback: timedelta, config: DetectConfig, roles: MetricRoles,
) -> SeriesScores:
    if not frame.keys or frame.values.shape[1] < 3:
        return SeriesScores.empty(frame)
    split = window_split(frame, at, lookback, config)
    if split is None:
        return SeriesScores.empty(frame)
    n_base = split.n_baseline
    # float32 halves the memory traffic of every pass; robust z-scores need nowhere near float64 precision
    values = frame.values.astype(np.float32, copy=False)
    base = values[:, :n_base]
    window = values[:, n_base:]
    period = int(round(config.season_s / split.step_s)) if config.season_s else None
    model = TrendSeasonalBaseline(period=period, min_baseline=config.min_baseline).fit(base)
    n_fin = np.isfinite(base).sum(axis=1)
    inflate = _scale_inflation(n_fin, config.scale_confidence)
    z = model.zscore(window, np.arange(n_base, frame.values.shape[1])) / inflate[:, None]

    finite_base = np.where(np.isfinite(base), base, np.nan)
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(finite_base, axis=1, initial=-np.inf) - np.nanmin(finite_base, axis=1, initial=np.inf)
    tol = np.maximum(1e-9 * np.abs(np.nan_to_num(model.level_)), 1e-12)
    constant = (n_fin >= config.min_baseline) & (spread <= tol)

    # the onset and direction come from residuals clipped at max_score: a ramp's early samples (30 sigma) count as
    # much as its later ones (300 sigma), so the onset is where the ramp starts, not where it is steepest
    tail = TailShift(min_points=split.min_tail, clip=config.max_score)
    n = len(frame.keys)
    best = np.full(n, -np.inf)
    onset = np.full(n, -1)
    sign = np.ones(n, dtype=int)
    for s in (1, -1):
        result = tail.score(z, s)
        better = (result.onset >= 0) & np.isfinite(result.score) & (result.score > best)
        best = np.where(better, result.score, best)
        onset = np.where(better, result.onset, onset)
        sign = np.where(better, s, sign)
    scored = np.isfinite(model.intercept_) & (onset >= 0) & np.isfinite(best)
    columns = np.arange(window.shape[1])[None, :]
    # the size is the mean residual after that onset with the much larger size_cap, so 300 sigma outranks 30
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without an onset: all-NaN, handled below
        tail_mean = np.nanmean(np.where(columns >= onset[:, None], np.clip(sign[:, None] * z, -config.size_cap,
                                                                              config.size_cap), np.nan), axis=1)
    size = np.where(scored, np.clip(np.nan_to_num(tail_mean), 0.0, config.size_cap), 0.0)

    pvalue = np.ones(n)
    extreme = np.zeros(n, dtype=bool)
    testable = scored & ((size >= config.threshold) | constant)
    if testable.any():
        rows = np.flatnonzero(testable)
        # residuals, not raw values: a trend or season in the baseline must not read as a shift
        tail_z = np.where(columns >= onset[rows, None], z[rows], np.nan)
        z_base = (base[rows] - model.expected(np.arange(n_base), rows)) / model.scale_[rows, None]
        pvalue[rows], extreme[rows] = RankShiftTest(min_tail=split.min_tail).test(z_base, tail_z, sign[rows])
    evidence_z = np.clip(-ndtri(np.clip(pvalue, 1e-300, 1.0)), 0.0, config.max_score)
    score = np.where(constant, np.where(testable, evidence_z, 0.0), size)
    # with a short tail the rank test cannot reach alpha at all (two samples after 26: p >= 1/378); the most extreme
    # arrangement it can see — every tail sample beyond every baseline sample — is then its strongest verdict, and the
    # size test (robust sigmas on an inflated scale) carries the rest of the burden
    significant = testable & (score >= config.threshold) & ((pvalue < config.alpha) | extreme)

    with np.errstate(invalid="ignore"):
        peak = np.where(np.isfinite(model.intercept_), np.nan_to_num(np.nanmax(np.abs(z), axis=1, initial=0.0)), 0.0)
    context = min(n_base, max(3, window.shape[1] // 2))
    z_context = model.zscore(values[:, n_base - context:n_base], np.arange(n_base - context, n_base)) / inflate[:, None]
    trace = np.concatenate([z_context, z], axis=1)
    # declared fault counters (Xid codes, restarts): an idle counter that moves at all records a fault occurrence
    infos = [roles.info(key.metric) for key in frame.keys]
    counter = constant & np.array([info.events for info in infos], dtype=bool)
    if counter.any():
        with np.errstate(invalid="ignore"):
            departs = np.isfinite(window) & (np.abs(window - np.nan_to_num(model.level_)[:, None]) > tol[:, None])
        fired = counter & departs.any(axis=1)
        first = departs.argmax(axis=1)
        onset = np.where(fired, first, onset)
        sign = np.where(fired, np.where(window[np.arange(n), first] > np.nan_to_num(model.level_), 1, -1), sign)
        score = np.where(fired, np.maximum(score, config.counter_score), score)
        pvalue = np.where(fired, np.minimum(pvalue, config.alpha / 10), pvalue)
        significant = significant | fired
    after = np.where(columns >= onset[:, None], window, np.nan)
    current = _nanmedian(after)
    onset_time = np.where(onset >= 0, frame.times[n_base:][np.maximum(onset, 0)], np.nan)
    bad = np.array([info.bad(int(s)) for info, s in zip(infos, sign)], dtype=bool)
    return SeriesScores(
        frame=frame, split=split, score=score, sign=sign, onset=onset_time, pvalue=pvalue, significant=significant,
        constant=constant, level=model.level_.astype(float), current=current.astype(float),
        roles=tuple(info.role.value for info in infos), bad=bad, units=tuple(info.unit for info in infos),
        peak=np.minimum(peak, config.size_cap), trace=trace, context=context,
    )


DISPLAY_CLIP = DetectConfig.max_score


def anomalies_from_scores(scores: SeriesScores) -> list[Anomaly]:
    """The significant rows of ``scores`` as ``Anomaly`` records (with the trace ids, log template and lines
    behind a telemetry-derived series since its onset)."""
    keys = scores.frame.keys
    notes = scores.frame.notes
    until = float(scores.frame.times[-1]) if len(scores.frame.times) else 0.0
    out = []
    for i in np.flatnonzero(scores.significant):
        note = notes_since(notes.get(keys[i]), float(scores.onset[i]), until) if notes else None
        extra = {} if note is None else {"traces": note.traces, "template": note.template,
                                         "examples": note.examples, "detail": note.detail}
        out.append(Anomaly(
            entity=keys[i].entity, metric=keys[i].metric, onset=epoch_to_datetime(scores.onset[i]),
            score=float(min(scores.score[i], DISPLAY_CLIP)), direction="up" if scores.sign[i] > 0 else "down",
            detector="rank-test" if scores.constant[i] else "robust_z+tail_shift+mwu",
            baseline=float(scores.level[i]), current=float(scores.current[i]), role=scores.roles[i],
            pvalue=float(scores.pvalue[i]), bad_direction=bool(scores.bad[i]), **extra,
        ))
    return out


def detect_series(
    frame: SeriesFrame, *, at: datetime, lookback: timedelta, config: DetectConfig = DetectConfig(),
    roles: MetricRoles | None = None,
) -> list[Anomaly]:
    """Statistical anomalies of every series in ``frame``."""
    return anomalies_from_scores(score_series(frame, at=at, lookback=lookback, config=config, roles=roles))


@dataclass(frozen=True)
class Detection:
    """What the detectors found: anomalies (series and events) plus every series' score."""

    anomalies: tuple[Anomaly, ...]
    scores: SeriesScores


def detect_all(
    frame: SeriesFrame,
    events: Iterable[Event] = (),
    *,
    at: datetime,
    lookback: timedelta,
    config: DetectConfig = DetectConfig(),
    roles: MetricRoles | None = None,
) -> Detection:
    """Series scores and all anomalies in the incident window, strongest first."""
    scores = score_series(frame, at=at, lookback=lookback, config=config, roles=roles)
    anomalies = anomalies_from_scores(scores) + EventDetector().detect(events, at - lookback, at)
    return Detection(tuple(sorted(anomalies, key=lambda a: (-a.score, a.entity, a.metric))), scores)


def detect(
    frame: SeriesFrame,
    events: Iterable[Event] = (),
    *,
    at: datetime,
    lookback: timedelta,
    config: DetectConfig = DetectConfig(),
    roles: MetricRoles | None = None,
) -> list[Anomaly]:
    """All anomalies in the incident window, strongest first."""
    return list(detect_all(frame, events, at=at, lookback=lookback, config=config, roles=roles).anomalies)
