"""Trend- and season-aware robust baseline: what each series *should* read during the incident window.

Why: a plain median baseline flags every series that follows the daily traffic cycle — three hours of morning
ramp-up look like a level shift. We fit, per series and vectorised over all of them,

* a robust linear trend on the baseline (least squares, then a refit without points beyond 3 robust sigma), kept only
  when it is visible against the noise and extrapolated *damped* into the window (a trend learnt over two hours is
  a guess about the next one);
* a seasonal profile when the baseline holds at least two periods: statsmodels' STL for a few hundred series (the
  reference method), a vectorised fold-median of the detrended baseline above that (same idea, no per-series loop);
* a robust scale: the larger of the residuals' MAD and mean absolute deviation (``_spread``), floored so a constant
  series does not divide by zero.

References
----------
R. B. Cleveland et al., "STL: A Seasonal-Trend Decomposition Procedure Based on Loess", J. Official Statistics 1990.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation of a normal is sigma * sqrt(2 / pi)
Z_CLIP = 1000.0


def _nanmedian(values: np.ndarray, axis: int = 1) -> np.ndarray:
    if values.shape[axis] == 0:
        return np.full(values.shape[1 - axis], np.nan)
    if not np.isnan(values).any():  # fast path: np.median partitions without NaN bookkeeping
        return np.median(values, axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def _spread(dev: np.ndarray) -> np.ndarray:
    """Noise scale from absolute deviations: the larger of MAD and mean absolute deviation, both as sigma.

    Why both: on Gaussian noise they agree, but a quantised or mostly idle series (a CPU gauge in whole millicores,
    an error rate that is zero 95 % of the time) has a MAD of zero while it clearly does move; the mean absolute
    deviation sees those moves, so a routine blip is not scored as dozens of sigmas.
    """
    mad = _nanmedian(dev) * MAD_TO_SIGMA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ad = np.nanmean(dev, axis=1) * MEAN_AD_TO_SIGMA if dev.shape[1] else np.full(dev.shape[0], np.nan)
    return np.nan_to_num(np.fmax(mad, mean_ad))


def _row_lstsq(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares line per row against the sample index: ``y ≈ a + b t``.

    ``w`` is 0 for missing or rejected points. The sums are matrix-vector products (BLAS), so fitting 100,000
    rows costs a few passes over the data.
    """
    t = np.arange(y.shape[1], dtype=y.dtype)
    wy = np.where(w > 0, y, 0.0) * w
    sw = w.sum(axis=1)
    st = w @ t
    stt = w @ (t * t)
    sy = wy.sum(axis=1)
    sty = wy @ t
    den = sw * stt - st * st
    ok = den > 0
    b = np.where(ok, (sw * sty - st * sy) / np.where(ok, den, 1.0), 0.0)
    a = np.where(sw > 0, (sy - b * st) / np.where(sw > 0, sw, 1.0), 0.0)
    return a, b


class TrendSeasonalBaseline:
    """Robust expected value and scale per series, fitted on the baseline part of a ``SeriesFrame``.

    Parameters
    ----------
    trend:
        Fit and extrapolate a linear trend when it is visible (``|slope| * span > trend_min_sigma * scale``).
    damp:
        Fraction of the fitted slope carried into the incident window.
    trend_min_sigma:
        How many robust sigmas the trend must move over the baseline span to be used.
    period:
        Season length in samples (e.g. 1440 for a daily cycle at one sample a minute); ``None`` = no seasonal term.
    stl_max_series:
        Up to this many series use statsmodels STL for the seasonal term, above it the vectorised fold-median.
    rel_floor, abs_floor:
        Scale floors: a fraction of ``|level|`` and of the baseline's largest ``|value|`` (at least 1).
    min_baseline:
        Series with fewer finite baseline samples are not scored (NaN).
    """

    def __init__(
        self,
        *,
        trend: bool = True,
        damp: float = 0.8,
        trend_min_sigma: float = 3.0,
        period: int | None = None,
        stl_max_series: int = 200,
        rel_floor: float = 0.02,
        abs_floor: float = 1e-3,
        min_baseline: int = 5,
    ) -> None:
        self.trend = trend
        self.damp = damp
        self.trend_min_sigma = trend_min_sigma
        self.period = period
        self.stl_max_series = stl_max_series
        self.rel_floor = rel_floor
        self.abs_floor = abs_floor
        self.min_baseline = min_baseline

    def fit(self, baseline: np.ndarray) -> Self:
        """Learn level, slope, season and scale from ``baseline`` (rows = series, columns = samples in time order)."""
        n_rows, n = baseline.shape
        finite = np.isfinite(baseline)
        level = _nanmedian(baseline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            peak = np.nanmax(np.abs(baseline), axis=1) if n else np.full(n_rows, np.nan)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        floor = np.maximum(self.rel_floor * np.abs(np.nan_to_num(level)), self.abs_floor * np.maximum(peak, 1.0))
        t = np.arange(n, dtype=float)
        if self.trend and n >= 10:
            w = finite.astype(float)
            a, b = _row_lstsq(baseline, w)
            r = baseline - (a[:, None] + b[:, None] * t)
            med = _nanmedian(r)
            dev = np.abs(r - med[:, None])
            scale = np.maximum(_spread(dev), floor)
            with np.errstate(invalid="ignore"):
                keep = finite & (dev <= 3 * scale[:, None])
            a, b = _row_lstsq(baseline, keep.astype(float))  # refit without outliers (spikes in the baseline)
            visible = np.abs(b) * n > self.trend_min_sigma * scale
            intercept = np.where(visible, a, np.nan_to_num(level))
            slope = np.where(visible, b, 0.0)
        else:
            scale = np.maximum(_spread(np.abs(baseline - level[:, None])), floor)
            intercept, slope = np.nan_to_num(level), np.zeros(n_rows)
        season = np.zeros((n_rows, 0))
        if self.period and n >= 2 * self.period:
            fitted = intercept[:, None] + slope[:, None] * t
            season = self._season(baseline - fitted)
            resid = baseline - fitted - self._season_at(season, np.arange(n))
            scale = np.maximum(_spread(np.abs(resid - _nanmedian(resid)[:, None])), floor)
        enough = finite.sum(axis=1) >= self.min_baseline
        self.n_baseline_ = n
        self.intercept_ = np.where(enough, intercept, np.nan)
        self.slope_ = slope
        self.season_ = season
        self.scale_ = scale
        self.level_ = np.where(enough, level, np.nan)
        return self

    def _season(self, detrended: np.ndarray) -> np.ndarray:
        period = int(self.period or 0)
        n = detrended.shape[1]
        if detrended.shape[0] <= self.stl_max_series and not np.isnan(detrended).any():
            from statsmodels.tsa.seasonal import STL

            rows = []
            for row in detrended:
                fit = STL(row, period=period, robust=True).fit()
                rows.append(fit.seasonal[n - period :])
            profile = np.array(rows)
            # the last period of STL's seasonal component, indexed by phase
            return np.roll(profile, (n - period) % period, axis=1)
        full = (n // period) * period
        folded = detrended[:, n - full :].reshape(detrended.shape[0], -1, period)
        profile = _nanmedian(folded.transpose(0, 2, 1).reshape(-1, folded.shape[1]), axis=1).reshape(-1, period)
        profile = profile - _nanmedian(profile)[:, None]
        return np.roll(np.nan_to_num(profile), (n - full) % period, axis=1)

    def _season_at(self, season: np.ndarray, idx: np.ndarray) -> np.ndarray:
        if season.shape[1] == 0:
            return 0.0
        return season[:, idx % season.shape[1]]

    def expected(self, offsets: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Expected values at sample offsets counted from the baseline's first sample (may lie beyond it);
        ``rows`` limits the answer to some series."""
        sel = slice(None) if rows is None else rows
        end = self.n_baseline_ - 1
        inside = np.minimum(offsets, end).astype(float)
        beyond = np.maximum(offsets - end, 0).astype(float)
        trend = self.intercept_[sel, None] + self.slope_[sel, None] * (inside + self.damp * beyond)[None, :]
        season = self.season_[sel] if self.season_.shape[1] else self.season_
        return trend + self._season_at(season, offsets)

    def zscore(self, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Standardised residuals, clipped to ±Z_CLIP; NaN where the sample or the baseline is missing."""
        z = (values - self.expected(offsets)) / self.scale_[:, None]
        return np.clip(z, -Z_CLIP, Z_CLIP)
