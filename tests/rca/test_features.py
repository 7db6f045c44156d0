"""Each ranking feature as a small pure function, on hand-made inputs with known answers."""

from __future__ import annotations

from datetime import datetime, timezone

import networkx as nx
import numpy as np
import pytest

from correlators.canary import RolloutFinding
from correlators.models import Change
from rca.features import (
    FEATURES, ChangeSignals, EntitySignals, candidate_features, change_artifacts, change_carriers, change_features,
    correlation_with, entity_signals,
)

T = datetime(2026, 11, 20, 10, tzinfo=timezone.utc).timestamp()


def graph(*edges: tuple[str, str]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_edges_from(edges)
    return g


NO_CHANGES = ChangeSignals(change={}, carrier={}, recent=frozenset(), canary={}, canary_saturation={},
                           silent=frozenset())


def test_correlation_is_absolute_and_nan_safe() -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, np.nan, 1.0, 1.0], [1.0, 5.0, np.nan, 2.0]])
    r = correlation_with(x, np.array([1.0, 2.0, 3.0, 4.0]))
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(1.0)
    assert r[2] == 0.0  # constant where finite: no correlation, not NaN
    assert 0.0 <= r[3] <= 1.0


def test_every_feature_is_computed_for_every_candidate_and_finite() -> None:
    g = graph(("app:web", "app:api"), ("app:api", "db:x"))
    sig = {"db:x": EntitySignals(size=30, peak=40, significant_size=30, role_size={"latency": 30}, onset=T, corr=0.9,
                                 match_size=30, match_significant=True, match_corr=0.9),
           "app:api": EntitySignals(size=20, peak=25, significant_size=20, role_size={"latency": 20}, onset=T + 60,
                                    corr=0.95, match_size=20, match_significant=True, match_corr=0.95)}
    feats = candidate_features(["app:web", "app:api", "db:x"], g, sig, NO_CHANGES, {"db:x": 0.5, "app:api": 0.3},
                               "app:web", 60.0)
    for n, row in feats.items():
        assert list(row) == [f for f in FEATURES if f in row] and set(row) == set(FEATURES)
        assert all(np.isfinite(v) for v in row.values()), n
    assert feats["db:x"]["deepest"] == 1.0 and feats["app:api"]["deepest"] == 0.0
    assert feats["db:x"]["match_deepest"] == 1.0 and feats["app:api"]["match_deepest"] == 0.0
    assert feats["app:api"]["explained"] == 1.0 and feats["db:x"]["explained"] == 0.0
    assert feats["db:x"]["earliest"] == 1.0 and feats["db:x"]["lead"] > 0
    assert feats["app:web"]["is_symptom"] == 1.0 and feats["app:web"]["hops"] == 0.0
    assert feats["db:x"]["hops"] > feats["app:api"]["hops"]
    assert feats["db:x"]["size_rel"] == 1.0 and feats["db:x"]["walk"] == 1.0
    assert feats["app:api"]["below"] > 0 and feats["db:x"]["below"] == 0


def test_change_artifacts_and_carriers() -> None:
    g = graph(("app:api", "pod:api-1"), ("pod:api-1", "image:v2"), ("image:v2", "commit:c2"))
    rollout = Change(entity="app:api", kind="rollout", at=datetime.fromtimestamp(T, tz=timezone.utc), after="image:v2",
                     commit="commit:c2")
    assert change_artifacts(rollout) == {"image:v2", "commit:c2"}
    assert change_carriers(rollout, g) == {"app:api", "pod:api-1"}
    config = Change(entity="app:api", kind="config_change", at=datetime.fromtimestamp(T, tz=timezone.utc))
    assert change_artifacts(config) == {"app:api"}
    legacy = Change(entity="app:api", kind="rollout", at=datetime.fromtimestamp(T, tz=timezone.utc),
                    attrs={"image": "image:v2", "commit": "commit:c2"})
    assert change_artifacts(legacy) == {"image:v2", "commit:c2"}


def test_a_change_followed_by_trouble_on_its_carrier_is_confirmed_a_harmless_one_is_not() -> None:
    g = graph(("app:web", "app:api"), ("app:api", "pod:api-1"), ("pod:api-1", "image:v2"), ("app:web", "app:cart"),
              ("app:cart", "pod:cart-1"), ("pod:cart-1", "image:c2"))
    at = datetime.fromtimestamp(T, tz=timezone.utc)
    bad = Change(entity="app:api", kind="rollout", at=at, after="image:v2")
    harmless = Change(entity="app:cart", kind="rollout", at=datetime.fromtimestamp(T + 120, tz=timezone.utc),
                      after="image:c2")
    sig = {"app:api": EntitySignals(size=20, significant_size=20, onset=T + 60),
           "app:web": EntitySignals(size=15, significant_size=15, onset=T + 120)}
    out = change_features(g, [bad, harmless], sig, [], T + 120, 60.0, "app:web")
    assert out.change["image:v2"] > 0.5
    assert out.change.get("image:c2", 0.0) == 0.0
    assert out.carrier["app:api"] > 0.5
    assert "image:c2" in out.recent and "image:v2" not in out.recent  # the latest change is the harmless one


def test_canary_verdicts_reach_every_entity_of_the_rollout() -> None:
    at = datetime.fromtimestamp(T, tz=timezone.utc)
    finding = RolloutFinding(change=Change(entity="app:api", kind="rollout", at=at, after="image:v2", commit="commit:c"),
                             new_pods=("pod:api-2",), reference_pods=("pod:api-1",), verdict=0.8, silent=True)
    out = change_features(graph(("app:api", "pod:api-2")), [], {}, [finding], T, 60.0, "app:web")
    assert out.canary == {"app:api": 0.8, "image:v2": 0.8, "commit:c": 0.8}
    assert out.silent == frozenset(out.canary)


def test_a_shift_over_before_the_alert_has_ended_one_still_there_has_not() -> None:
    g = graph(("app:web", "pod:old"), ("app:web", "pod:new"))
    sig = {"pod:old": EntitySignals(size=40, peak=80, significant_size=40, onset=T - 600, now=0.5),
           "pod:new": EntitySignals(size=20, peak=20, significant_size=20, onset=T, now=20),
           "app:web": EntitySignals(size=10, peak=10, significant_size=10, onset=T, now=10)}
    feats = candidate_features(["app:web", "pod:old", "pod:new"], g, sig, NO_CHANGES, {}, "app:web", 60.0)
    assert feats["pod:old"]["ended"] == 1.0 and feats["pod:new"]["ended"] == 0.0
    assert feats["pod:new"]["now_rel"] == 1.0 and feats["pod:old"]["now_rel"] < 0.2


def test_now_is_the_shift_left_in_the_last_samples() -> None:
    """Through the detector: a CPU burst that recovered five minutes before the alert against one still on."""
    from datetime import timedelta

    from correlators.models import Incident
    from detectors.detect import score_series
    from detectors.models import SeriesFrame, SeriesKey, epoch_to_datetime

    rng = np.random.default_rng(3)
    n = 60
    over = 1.0 + 0.1 * rng.standard_normal(n)
    over[40:50] += 50.0
    on = 1.0 + 0.1 * rng.standard_normal(n)
    on[55:] += 30.0
    sym = 1.0 + 0.1 * rng.standard_normal(n)
    sym[55:] += 5.0
    keys = (SeriesKey("pod:over", "cpu_usage"), SeriesKey("pod:on", "cpu_usage"), SeriesKey("app:web", "latency_p50_s"))
    f = SeriesFrame(keys, T + 60.0 * np.arange(n), np.vstack([over, on, sym]))
    at = epoch_to_datetime(f.times[-1])
    scores = score_series(f, at=at, lookback=timedelta(minutes=30))
    incident = Incident(symptom="app:web", at=at, lookback=timedelta(minutes=30))
    sig = entity_signals(scores, [], incident)
    assert sig["pod:over"].size > 3 and sig["pod:over"].now < 3
    assert sig["pod:on"].now > 10
