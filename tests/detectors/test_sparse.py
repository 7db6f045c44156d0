"""Rows sampled only around an incident (``short_history`` families) are scored against their own first samples;
other rows without a baseline stay unscored, as before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from detectors.detect import score_series
from detectors.models import SeriesFrame, SeriesKey

T0 = 1_700_000_000.0


def _frame(fine: bool = False) -> SeriesFrame:
    """Two hours of one-minute metrics; trace rows only in the last 20 minutes, the last 5 shifted up."""
    times = T0 + 60.0 * np.arange(120)
    rng = np.random.default_rng(7)
    metric = 1.0 + 0.01 * rng.standard_normal(120)
    trace = np.full(120, np.nan)
    trace[100:] = 0.2 + 0.005 * rng.standard_normal(20)
    trace[115:] += 0.3
    keys = (SeriesKey("app:a", "cpu_usage"), SeriesKey("app:a", "trace_self_p50_s"), SeriesKey("app:a", "latency_p50_s"))
    frame = SeriesFrame(keys, times, np.vstack([metric, trace, trace]))
    if fine:  # the same trace row at 10 s, only for the last 5 minutes before and after the shift
        ft = T0 + 60.0 * 100 + 10.0 * np.arange(120)
        fv = 0.2 + 0.005 * rng.standard_normal(120)
        fv[90:] += 0.3
        frame = SeriesFrame(keys, times, frame.values, fine=SeriesFrame((keys[1],), ft, fv[None, :]))
    return frame


AT = datetime.fromtimestamp(T0 + 60.0 * 119, tz=timezone.utc)


def test_a_short_history_row_takes_its_own_first_samples_as_baseline():
    scores = score_series(_frame(), at=AT, lookback=timedelta(minutes=30))
    trace, plain = 1, 2
    assert scores.sign[trace] == 1 and scores.score[trace] > 10 and scores.onset[trace] == T0 + 60.0 * 115
    # 5 baseline samples against 5 after the onset: the rank test cannot go below 1/252, above alpha = 1e-3; every
    # tail sample beyond every baseline sample is the strongest verdict it can give, so with the size test it counts
    assert scores.pvalue[trace] < 0.01 and scores.significant[trace]
    assert scores.score[plain] == 0.0 and not scores.significant[plain]  # not declared: no baseline, not scored
    assert not scores.significant[0]


def test_the_finer_copy_is_used_when_present():
    scores = score_series(_frame(fine=True), at=AT, lookback=timedelta(minutes=30))
    assert scores.significant[1] and scores.onset[1] == T0 + 60.0 * 100 + 10.0 * 90
    assert scores.pvalue[1] < 1e-6  # 30 samples after the onset against 30 before, not 5 against 5


def test_without_sparse_rescoring_nothing_changes():
    scores = score_series(_frame(), at=AT, lookback=timedelta(minutes=30), sparse=False)
    assert scores.score[1] == 0.0
