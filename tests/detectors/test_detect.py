"""Detectors on generated series with known onsets (and on series built to trip them up)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from detectors import Cusum, Event, RobustZScore, SeriesFrame, SeriesKey, detect, frame_from_samples

STEP = 30
T = 240
T0 = 1_700_000_000


def _frame(values: np.ndarray) -> SeriesFrame:
    keys = tuple(SeriesKey(f"app:s{i}", "latency") for i in range(values.shape[0]))
    return SeriesFrame(keys, T0 + STEP * np.arange(values.shape[1], dtype=float), values)


def _at(frame: SeriesFrame) -> datetime:
    return datetime.fromtimestamp(frame.times[-1], tz=timezone.utc)


def generated(seed: int, n: int = 400, shift: float = 5.0) -> tuple[SeriesFrame, np.ndarray]:
    """Half the series get a level shift of ``shift`` sigma at a known onset inside the last hour."""
    rng = np.random.default_rng(seed)
    values = rng.normal(10, 1, (n, T))
    onsets = np.full(n, -1)
    onsets[: n // 2] = rng.integers(130, 225, n // 2)
    for i in range(n // 2):
        values[i, onsets[i]:] += shift
    return _frame(values), onsets


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_finds_shifts_with_their_onsets(seed: int) -> None:
    frame, onsets = generated(seed)
    anomalies = {a.entity: a for a in detect(frame, at=_at(frame), lookback=timedelta(hours=1))}
    faulty = [i for i in range(len(onsets)) if onsets[i] >= 0]
    found = [i for i in faulty if f"app:s{i}" in anomalies]
    assert len(found) / len(faulty) >= 0.9
    errors = [abs(anomalies[f"app:s{i}"].onset.timestamp() - frame.times[onsets[i]]) / STEP for i in found]
    assert np.median(errors) <= 1.0
    assert np.mean(np.array(errors) <= 3) >= 0.9
    assert all(anomalies[f"app:s{i}"].direction == "up" for i in found)


def test_false_positive_rate_on_noise_is_low() -> None:
    rng = np.random.default_rng(42)
    frame = _frame(rng.normal(5, 1, (2000, T)))
    anomalies = detect(frame, at=_at(frame), lookback=timedelta(hours=1))
    assert len(anomalies) / 2000 <= 0.01


def test_downward_shift_direction() -> None:
    values = np.random.default_rng(0).normal(100, 2, (1, T))
    values[0, 200:] -= 40
    (anomaly,) = detect(_frame(values), at=_at(_frame(values)), lookback=timedelta(hours=1))
    assert anomaly.direction == "down" and anomaly.current < anomaly.baseline


def test_nan_safe_and_constant_series() -> None:
    values = np.full((4, T), 3.0)
    values[1, :] = np.nan  # all missing
    values[2, ::3] = np.nan  # sparse with a shift
    values[2, 200:] = 9.0
    values[2, 201::3] = np.nan
    values[3, :] = 0.0  # constant zero, then one count
    values[3, 230:] = 1.0
    with np.errstate(all="raise"):
        anomalies = {a.entity: a for a in detect(_frame(values), at=_at(_frame(values)), lookback=timedelta(hours=1))}
    assert "app:s0" not in anomalies and "app:s1" not in anomalies
    assert "app:s2" in anomalies and "app:s3" in anomalies
    assert all(np.isfinite(a.score) for a in anomalies.values())


def test_empty_inputs() -> None:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert detect(SeriesFrame.empty(), at=at, lookback=timedelta(hours=1)) == []
    assert detect(_frame(np.zeros((3, 2))), at=at, lookback=timedelta(hours=1)) == []


def test_future_samples_are_ignored() -> None:
    values = np.random.default_rng(1).normal(10, 1, (1, T))
    values[0, 230:] += 50  # after the alert time below
    frame = _frame(values)
    at = datetime.fromtimestamp(frame.times[220], tz=timezone.utc)
    assert detect(frame, at=at, lookback=timedelta(hours=1)) == []


def test_events_inside_window_only() -> None:
    at = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
    events = [
        Event(entity="pod:a", reason="OOMKilled", at=at - timedelta(minutes=5)),
        Event(entity="pod:a", reason="OOMKilled", at=at - timedelta(minutes=9)),
        Event(entity="pod:b", reason="OOMKilled", at=at - timedelta(hours=3)),
        Event(entity="pod:c", reason="Killing", at=at - timedelta(minutes=1)),
    ]
    anomalies = detect(SeriesFrame.empty(), events, at=at, lookback=timedelta(hours=1))
    assert [(a.entity, a.onset) for a in anomalies] == [("pod:a", at - timedelta(minutes=9))]


def test_robust_z_ignores_a_baseline_spike() -> None:
    baseline = np.array([[10.0, 10.2, 9.8, 10.1, 9.9, 500.0, 10.0, 10.1]])
    z = RobustZScore().fit(baseline).transform(np.array([[10.0, 13.0]]))
    assert abs(z[0, 0]) < 1 and z[0, 1] > 5


def test_cusum_matches_its_recursive_definition() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1, (50, 100))
    z[:, 60:] += 2
    result = Cusum(drift=0.5, threshold=5.0).detect(z, 1)
    for row in range(50):
        s, alarm = 0.0, -1
        for t in range(100):
            s = max(0.0, s + z[row, t] - 0.5)
            if s > 5.0:
                alarm = t
                break
        assert result.alarm[row] == (alarm >= 0)


def test_frame_resamples_irregular_timestamps() -> None:
    ts = np.array([0, 29, 61, 90, 0, 30])
    frame = frame_from_samples(ts, np.array(["app:a"] * 4 + ["app:b"] * 2), np.array(["m"] * 6), np.array([1, 2, 3, 4, 10, np.nan]))
    assert frame.times.tolist() == [0, 30, 60, 90]
    assert frame.row(SeriesKey("app:a", "m")).tolist() == [1, 2, 3, 4]
    b = frame.row(SeriesKey("app:b", "m"))
    assert b[0] == 10 and np.isnan(b[1:]).all()
