"""Tests for shadownets.audit.stats: per-input metrics, bootstrap means and the error ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shadownets.audit.stats import (
    bootstrap_mean,
    input_variance,
    per_input_metrics,
    ratio_estimate,
    ratio_interval,
)
from shadownets.stats import interval


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


def test_per_input_metrics_equal_the_float64_recovery_metrics():
    """Oracle: theory.metrics.recovery_metrics on float64 copies (float32 codes, float64 sums
    here), with sparse codes, a dead input and a zero estimate."""
    from shadownets.theory.metrics import recovery_metrics

    g = torch.Generator().manual_seed(0)
    h = torch.relu(torch.randn(6, 3, 20, 20, generator=g))
    h_hat = torch.relu(h + 0.3 * torch.randn(6, 3, 20, 20, generator=g))
    h[2] = 0.0
    h_hat[4] = 0.0
    m = per_input_metrics(h_hat, h)
    ref = recovery_metrics(h_hat.reshape(6, -1).double(), h.reshape(6, -1).double())
    live = np.arange(6) != 2
    np.testing.assert_allclose(m["rel_err"][live], ref["rel_error_sq"].numpy()[live], rtol=1e-5)
    np.testing.assert_allclose(m["cos"][live], ref["cosine"].numpy()[live], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m["f1"], ref["support_f1"].numpy(), rtol=1e-12)
    assert np.isnan(m["rel_err"][2]) and np.isnan(m["cos"][2])


def test_bootstrap_mean_covers_and_is_seeded():
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 1.0, 400)
    est, lo, hi = bootstrap_mean(v, reps=500, level=0.95, seed=1)
    assert lo < est < hi and lo < 2.0 < hi
    assert (est, lo, hi) == bootstrap_mean(v, reps=500, level=0.95, seed=1)
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.2)


def test_ratio_estimate_closed_form():
    a = np.array([1.0, 3.0])  # mean 2
    d = np.array([[1.0, 1.0], [2.0, 6.0], [4.0, 4.0]])  # means 1, 4, 4
    est = ratio_estimate(a, d)
    logs = np.log([1.0, 4.0, 4.0])
    assert est.mean == pytest.approx(np.log(2.0) - logs.mean())
    assert est.sd == pytest.approx(logs.std(ddof=1))
    assert est.se == pytest.approx(logs.std(ddof=1) * np.sqrt(1 + 1 / 3))
    assert (est.df, est.n) == (2.0, 3)
    r, lo, hi = ratio_interval(est, 0.95)
    assert r == pytest.approx(2.0 / np.exp(logs.mean()))
    assert (lo, hi) == pytest.approx(tuple(np.exp(interval(est, 0.95))))


def test_ratio_estimate_one_null_net_has_no_interval():
    est = ratio_estimate(np.ones(5), np.full((1, 5), 2.0))
    assert est.mean == pytest.approx(-np.log(2.0)) and np.isnan(est.se) and est.n == 1
    assert all(np.isnan(v) for v in ratio_interval(est, 0.95)[1:])


def _simulate(rng, reps, n_null, n_in, tau, sigma):
    """Per-input errors of 1 + n_null nets on the same inputs, the 'trained' net (index 0)
    being one more null draw: log e = input effect + net effect (sd tau) + noise (sd sigma)."""
    inputs = rng.normal(0.0, 0.5, (reps, 1, n_in))
    nets = rng.normal(0.0, tau, (reps, 1 + n_null, 1))
    return np.exp(inputs + nets + rng.normal(0.0, sigma, (reps, 1 + n_null, n_in)))


@pytest.mark.parametrize(("tau", "sigma"), [(0.0, 1.0), (0.3, 0.5), (0.2, 0.0)])
def test_ratio_prediction_variance_matches_simulation(tau, sigma):
    """Oracle: across simulated runs, the variance of log r equals the mean of the predicted
    se², and the interval covers the truth (log r = 0 in distribution) at the nominal rate —
    also when all the spread is input noise (tau = 0), which an added input bootstrap
    variance would count twice."""
    rng = np.random.default_rng(0)
    reps, n_null = 3000, 5
    e = _simulate(rng, reps, n_null, 60, tau, sigma)
    ests = [ratio_estimate(e[r, 0], e[r, 1:]) for r in range(reps)]
    logs = np.array([x.mean for x in ests])
    se2 = np.array([x.se ** 2 for x in ests])
    assert logs.mean() == pytest.approx(0.0, abs=4 * logs.std() / np.sqrt(reps))
    assert logs.var() / se2.mean() == pytest.approx(1.0, abs=0.08)
    covered = np.mean([lo <= 1.0 <= hi for _, lo, hi in (ratio_interval(x, 0.95)
                                                          for x in ests)])
    assert covered == pytest.approx(0.95, abs=0.015)


def test_input_variance_delta_method():
    rng = np.random.default_rng(3)
    e = _simulate(rng, 400, 4, 80, 0.0, 0.7)  # no net effect: all of s² is the input part
    v = np.array([input_variance(e[r, 1:]) for r in range(400)])
    empirical = np.log(e[:, 1:].mean(axis=2)).var(axis=1, ddof=1).mean()
    assert v.mean() == pytest.approx(empirical, rel=0.1)
    with_nets = _simulate(rng, 400, 4, 80, 0.5, 0.7)  # a net effect adds to s², not to v
    v2 = np.array([input_variance(with_nets[r, 1:]) for r in range(400)])
    assert v2.mean() == pytest.approx(empirical, rel=0.15)
    assert np.isnan(input_variance(np.ones((1, 5))))


def test_errors():
    with pytest.raises(ValueError, match="h_hat and h must have the same shape"):
        per_input_metrics(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"numer must have shape \(inputs,\) = \(3,\)"):
        ratio_estimate(np.ones(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"values must have shape \(inputs,\) or \(nets, inputs\)"):
        bootstrap_mean(np.ones((2, 2, 2)), reps=10, level=0.9, seed=0)
