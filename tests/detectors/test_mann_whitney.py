"""``mann_whitney_p`` gives scipy's default Mann-Whitney p-values without importing scipy.stats at start-up."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from detectors.shift_test import mann_whitney_p


@pytest.mark.parametrize("seed", range(4))
def test_matches_scipy_exact_asymptotic_and_tied(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n1, n2 = int(rng.integers(1, 15)), int(rng.integers(1, 40))
        if rng.random() < 0.5:  # continuous: exact below 9 values on a side
            x, y = rng.normal(rng.normal(), 1, n1), rng.normal(0, 1, n2)
        else:  # counts: ties, so the normal approximation with tie correction
            x, y = rng.integers(0, 5, n1).astype(float), rng.integers(0, 5, n2).astype(float)
        for alternative in ("greater", "less"):
            expected = float(mannwhitneyu(x, y, alternative=alternative).pvalue)
            if np.isfinite(expected):
                assert mann_whitney_p(x, y, alternative) == pytest.approx(expected, abs=1e-12)


def test_the_extremes_and_bad_input() -> None:
    assert mann_whitney_p(np.array([10.0, 11, 12]), np.array([1.0, 2, 3, 4]), "greater") == pytest.approx(1 / 35)
    assert mann_whitney_p(np.array([10.0, 11, 12]), np.array([1.0, 2, 3, 4]), "less") == pytest.approx(1.0)
    assert mann_whitney_p(np.ones(12), np.ones(12), "greater") == 1.0  # all tied: no evidence, not NaN
    with pytest.raises(ValueError):
        mann_whitney_p(np.array([]), np.array([1.0]), "greater")
