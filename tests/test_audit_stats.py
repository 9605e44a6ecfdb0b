"""Tests for shadownets.audit.stats: per-input metrics and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shadownets.audit.stats import bootstrap_mean, bootstrap_ratio, per_input_metrics


def test_per_input_metrics_known_values():
    h = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    h_hat = torch.tensor([[1.0, 1.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m = per_input_metrics(h_hat, h)
    np.testing.assert_allclose(m["rel_err"], [1 / 5, np.nan, 1.0])
    np.testing.assert_allclose(m["cos"], [5 / np.sqrt(5 * 6), np.nan, 0.0])
    np.testing.assert_allclose(m["f1"], [2 * 2 / (3 + 2), 0.0, 0.0])


def test_per_input_metrics_image_codes():
    h = torch.rand(4, 2, 3, 3)
    m = per_input_metrics(h, h)
    np.testing.assert_allclose(m["rel_err"], 0.0)
    np.testing.assert_allclose(m["cos"], 1.0)


def test_bootstrap_mean_covers_and_is_seeded():
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 1.0, 400)
    est, lo, hi = bootstrap_mean(v, reps=500, level=0.95, seed=1)
    assert lo < est < hi and lo < 2.0 < hi
    assert (est, lo, hi) == bootstrap_mean(v, reps=500, level=0.95, seed=1)
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.2)


def test_bootstrap_ratio_prediction_interval_widens_with_net_spread():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 0.1, 300)
    same = rng.normal(1.0, 0.1, (5, 300))
    spread = same * np.array([0.6, 0.8, 1.0, 1.25, 1.6])[:, None]
    est, lo, hi = bootstrap_ratio(a, same, reps=300, level=0.95, seed=0)
    _, lo2, hi2 = bootstrap_ratio(a, spread, reps=300, level=0.95, seed=0)
    assert lo < 1.0 < hi and est == pytest.approx(1.0, abs=0.03)
    assert hi2 - lo2 > 3 * (hi - lo)
    nan = bootstrap_ratio(a, same, reps=0, level=0.95, seed=0)
    assert np.isnan(nan[1]) and np.isnan(nan[2])


def test_errors():
    with pytest.raises(ValueError, match="h_hat and h must have the same shape"):
        per_input_metrics(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"numer must have shape \(inputs,\) = \(3,\)"):
        bootstrap_ratio(np.ones(2), np.ones((2, 3)), reps=10, level=0.9, seed=0)
    with pytest.raises(ValueError, match=r"values must have shape \(inputs,\) or \(nets, inputs\)"):
        bootstrap_mean(np.ones((2, 2, 2)), reps=10, level=0.9, seed=0)
