"""The detector defects found on real data (issue 14), each as a test that fails on the old behaviour."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from detectors.detect import DetectConfig, detect_series, score_series, window_split
from detectors.exceptions import DetectorError
from detectors.models import SeriesFrame, SeriesKey, epoch_to_datetime
from detectors.roles import Catalogue, MetricRoles, Role, default_catalogue, parse_metrics_meta

T0 = 1_795_132_800.0


def frame(series: dict[tuple[str, str], np.ndarray], step: float = 60.0) -> SeriesFrame:
    keys = tuple(SeriesKey(e, m) for e, m in series)
    n = len(next(iter(series.values())))
    return SeriesFrame(keys, T0 + step * np.arange(n), np.array(list(series.values()), dtype=float))


def end_of(f: SeriesFrame):
    return epoch_to_datetime(f.times[-1])


def test_data_shorter_than_the_lookback_still_finds_a_cpu_jump() -> None:
    """20 one-minute samples, a 60-minute lookback: the old split put the baseline before the first sample."""
    rng = np.random.default_rng(1)
    cpu = 1.0 + 0.1 * rng.standard_normal(20)
    cpu[12:] = 100.0 + rng.standard_normal(8)
    f = frame({("pod:p", "cpu_usage"): cpu})
    split = window_split(f, end_of(f), timedelta(minutes=60), DetectConfig())
    assert split is not None and split.short_history and split.n_baseline >= DetectConfig().min_baseline
    found = detect_series(f, at=end_of(f), lookback=timedelta(minutes=60))
    assert [(a.entity, a.direction) for a in found] == [("pod:p", "up")]
    assert found[0].onset == epoch_to_datetime(f.times[12])


def test_a_few_baseline_samples_give_honestly_smaller_scores() -> None:
    rng = np.random.default_rng(2)
    long = np.concatenate([10 + rng.standard_normal(200), 16 + rng.standard_normal(10)])
    short = long[-16:]
    s_long = score_series(frame({("a:x", "m"): long}), at=epoch_to_datetime(T0 + 60 * 209), lookback=timedelta(minutes=10))
    f_short = frame({("a:x", "m"): short})
    s_short = score_series(f_short, at=end_of(f_short), lookback=timedelta(minutes=10))
    assert s_short.score[0] < s_long.score[0]


def test_one_blip_on_an_idle_series_is_not_a_shift_but_a_persistent_move_is() -> None:
    idle = np.zeros(120)
    blip = idle.copy()
    blip[100] = 0.05  # one sample, then zeros again
    persistent = idle.copy()
    persistent[110:] = 0.05
    longer = idle.copy()
    longer[104:] = 0.05
    f = frame({("app:a", "error_rate"): blip, ("app:b", "error_rate"): persistent, ("app:c", "error_rate"): longer})
    scores = score_series(f, at=end_of(f), lookback=timedelta(minutes=30))
    assert not scores.significant[0]
    assert scores.significant[1] and scores.significant[2]
    # the score is the evidence of the move, not a constant: sixteen samples beat ten
    assert scores.score[2] > scores.score[1] > DetectConfig().threshold
    assert scores.score[0] < DetectConfig().threshold


def test_a_two_sample_move_is_noise_on_one_second_data_but_a_shift_on_five_minute_data() -> None:
    rng = np.random.default_rng(3)
    base = 5 + 0.2 * rng.standard_normal(400)
    moved = base.copy()
    moved[-2:] += 5
    one_s = frame({("app:a", "latency_p95_s"): moved}, step=1.0)
    five_min = frame({("app:a", "latency_p95_s"): moved[-60:]}, step=300.0)
    assert detect_series(one_s, at=end_of(one_s), lookback=timedelta(seconds=100)) == []
    assert [a.entity for a in detect_series(five_min, at=end_of(five_min), lookback=timedelta(minutes=60))] == ["app:a"]


def test_a_fault_over_before_the_alert_keeps_its_peak() -> None:
    rng = np.random.default_rng(4)
    v = 1 + 0.05 * rng.standard_normal(100)
    v[90:94] = 3.0
    f = frame({("app:a", "latency_p95_s"): v})
    scores = score_series(f, at=end_of(f), lookback=timedelta(minutes=15))
    assert scores.peak[0] > 20


@pytest.mark.parametrize(
    ("name", "role", "direction"),
    [
        ("container_memory_working_set_bytes", Role.SATURATION, "up"),
        ("node_cpu_seconds_total", Role.SATURATION, "up"),
        ("DCGM_FI_DEV_XID_ERRORS", Role.ERRORS, "up"),
        ("DCGM_FI_DEV_FB_FREE", Role.SATURATION, "both"),
        ("vllm:num_requests_waiting", Role.SATURATION, "up"),
        ("vllm_num_requests_waiting", Role.SATURATION, "up"),
        ("vllm:time_to_first_token_seconds_bucket", Role.LATENCY, "up"),
        ("vllm:gpu_cache_usage_perc", Role.SATURATION, "up"),
        ("kube_pod_container_status_restarts_total", Role.ERRORS, "up"),
        ("container_cpu_cfs_throttled_periods_total", Role.SATURATION, "up"),
        ("node_memory_MemAvailable_bytes", Role.SATURATION, "down"),
        ("http_server_request_duration_seconds_bucket", Role.LATENCY, "up"),
        ("latency_p95_s", Role.LATENCY, "up"),
        ("availability_average", Role.ERRORS, "down"),
        ("error_rate", Role.ERRORS, "up"),
        ("rps", Role.TRAFFIC, "both"),
        ("out_latency_p50_s[cartservice]", Role.LATENCY, "up"),
        ("frobnication_index", Role.OTHER, "both"),
    ],
)
def test_roles_of_real_metric_names(name: str, role: Role, direction: str) -> None:
    info = default_catalogue().lookup(name)
    assert (info.role, info.direction) == (role, direction)


def test_metrics_meta_wins_over_the_catalogue_and_bad_meta_is_a_clear_error() -> None:
    roles = MetricRoles.default(parse_metrics_meta({"latency_p95_s": {"role": "traffic"}}))
    assert roles.info("latency_p95_s").role is Role.TRAFFIC
    assert roles.info("error_rate").role is Role.ERRORS
    with pytest.raises(DetectorError, match="unknown role"):
        parse_metrics_meta({"x": {"role": "speed"}})
    with pytest.raises(DetectorError, match="direction"):
        parse_metrics_meta({"x": {"role": "latency", "direction": "sideways"}})


def test_a_catalogue_without_families_is_refused() -> None:
    with pytest.raises(DetectorError, match="families"):
        Catalogue.from_document({"rules": []}, "mine.json")


def test_a_two_sample_tail_on_one_minute_data_can_be_significant() -> None:
    """Nezha's alerts come one or two samples after the fault: 26 baseline samples against 2 cannot give a rank-test
    p below 1/378, so with alpha = 1e-3 nothing was ever significant. The most extreme arrangement now counts, with
    the size test; a two-sample move of the same size inside the baseline's range does not."""
    rng = np.random.default_rng(5)
    base = 5.0 + rng.standard_normal(28)
    jump = base.copy()
    jump[-2:] = [95.0, 96.0]
    inside = base.copy()
    inside[-2:] = [base[:-2].max() - 0.01, base[:-2].max() - 0.02]  # within the baseline's range: not extreme
    f = frame({("pod:a", "cpu_usage"): jump, ("pod:b", "cpu_usage"): inside})
    scores = score_series(f, at=end_of(f), lookback=timedelta(minutes=2))
    assert scores.onset[0] == f.times[-2]  # a tail of two samples
    assert scores.pvalue[0] > DetectConfig().alpha  # the test's floor, 1/378 …
    assert scores.significant[0]  # … is its strongest verdict, and the size agrees
    assert not scores.significant[1]
