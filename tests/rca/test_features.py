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
    correlation_with,
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
