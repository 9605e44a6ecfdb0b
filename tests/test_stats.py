"""shadownets.stats against independent oracles: scipy's t test, hand-worked Holm, Monte Carlo."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from shadownets.stats import (
    Estimate,
    decide,
    decide_regions,
    family_size,
    holm,
    holm_joint,
    interval,
    n_for_power,
    power_difference,
    power_equivalence,
    region_tests,
    t_estimate,
)


def test_t_estimate_matches_scipy_ttest():
    rng = np.random.default_rng(0)
    v = rng.normal(0.3, 1.0, size=12)
    est = t_estimate(v)
    res = sps.ttest_1samp(v, 0.0)
    # two-sided p of H0 mean = 0 from the region tests with low = high = 0
    p = region_tests(est, 0.0, 0.0)
    assert 2 * min(p["p_above"], p["p_below"]) == pytest.approx(res.pvalue, rel=1e-9)
    lo, hi = interval(est, 0.95)
    ci = res.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_t_estimate_drops_nan_and_handles_tiny_samples():
    assert t_estimate([1.0, np.nan, 3.0]).n == 2
    one = t_estimate([2.0])
    assert one.mean == 2.0 and math.isnan(one.se) and not one.finite
    assert math.isnan(t_estimate([]).mean)
    assert all(math.isnan(v) for v in region_tests(one, -1, 1).values())


def test_tost_matches_two_one_sided_scipy_tests():
    rng = np.random.default_rng(1)
    v = rng.normal(0.05, 0.2, size=20)
    est = t_estimate(v)
    p = region_tests(est, -0.2, 0.2)
    p_low = sps.ttest_1samp(v, -0.2, alternative="greater").pvalue
    p_high = sps.ttest_1samp(v, 0.2, alternative="less").pvalue
    assert p["p_inside"] == pytest.approx(max(p_low, p_high), rel=1e-9)
    assert p["p_above"] == pytest.approx(sps.ttest_1samp(v, 0.2, alternative="greater").pvalue)
    assert p["p_below"] == pytest.approx(sps.ttest_1samp(v, -0.2, alternative="less").pvalue)


def test_region_tests_reject_bad_region():
    with pytest.raises(ValueError, match="low must be <= high"):
        region_tests(Estimate(0, 1, 5, 6, 1), 1.0, -1.0)


def test_holm_hand_worked_example():
    # p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005·4 = 0.02, 0.01·3 = 0.03,
    # 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone: 0.02, 0.03, 0.06, 0.06
    adj = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    # NaN stays NaN and is not counted in m
    adj = holm([0.01, np.nan, 0.04])
    np.testing.assert_allclose(adj[[0, 2]], [0.02, 0.04])
    assert math.isnan(adj[1])
    assert holm([]).size == 0


def test_holm_controls_familywise_error_by_simulation():
    rng = np.random.default_rng(2)
    m, reps, alpha = 10, 4000, 0.05
    p = rng.uniform(size=(reps, m))  # all nulls true
    any_reject = np.array([(holm(row) < alpha).any() for row in p])
    assert any_reject.mean() <= alpha + 0.01


def test_decide_order_and_alpha():
    assert decide(0.01, 0.5, 0.5) == "inside"
    assert decide(0.5, 0.01, 0.9) == "above"
    assert decide(0.5, 0.9, 0.01) == "below"
    assert decide(0.5, 0.5, 0.5) == "undetermined"
    assert decide(np.nan, np.nan, np.nan) == "undetermined"
    assert decide(0.04, 1, 1, alpha=0.01) == "undetermined"


def _mc_power(delta, sd, n, alpha, reps=20000, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(delta, sd, size=(reps, n))
    t = x.mean(1) / (x.std(1, ddof=1) / np.sqrt(n))
    return float((np.abs(t) > sps.t.ppf(1 - alpha / 2, n - 1)).mean())


@pytest.mark.parametrize(("delta", "sd", "n"), [(0.01, 0.015, 5), (0.01, 0.01, 10), (0.5, 1, 30)])
def test_power_difference_matches_monte_carlo(delta, sd, n):
    assert power_difference(delta, sd, n, 0.05) == pytest.approx(_mc_power(delta, sd, n, 0.05),
                                                                 abs=0.015)


def test_power_equivalence_matches_monte_carlo():
    rng = np.random.default_rng(4)
    n, sd, margin = 20, 0.01, 0.008
    x = rng.normal(0.0, sd, size=(20000, n))
    se = x.std(1, ddof=1) / np.sqrt(n)
    q = sps.t.ppf(0.95, n - 1)
    shown = (x.mean(1) - q * se > -margin) & (x.mean(1) + q * se < margin)
    assert power_equivalence(margin, sd, n, 0.05) == pytest.approx(shown.mean(), abs=0.01)
    assert power_equivalence(margin, sd, 1) != power_equivalence(margin, sd, 1)  # NaN


def test_power_difference_is_one_not_nan_far_in_the_tail():
    assert power_difference(0.2, 0.01, 10, 0.05) == pytest.approx(1.0)


def test_n_for_power_is_the_smallest_n():
    n = n_for_power(lambda k: power_difference(0.01, 0.02, k, 0.05), 0.8)
    assert power_difference(0.01, 0.02, n, 0.05) >= 0.8 > power_difference(0.01, 0.02, n - 1, 0.05)
    assert n_for_power(lambda k: 0.0, 0.8, n_max=64) is None


def test_decide_regions_controls_each_type_of_false_conclusion_on_the_band_edges():
    """Estimates sitting exactly on the band's edges: every decided verdict is false. Per type
    of conclusion ("inside"; "outside", either side) the rate of any false one in the family is
    at most α (Holm per kind of p-value let the two outside directions through at up to 2α)."""
    rng = np.random.default_rng(5)
    reps, n, log_f = 2000, 5, np.log(1.5)
    truths = np.array([log_f] * 4 + [-log_f] * 4)
    false_in = false_out = 0
    for _ in range(reps):
        x = truths[:, None] + rng.normal(0, 0.3, size=(len(truths), n))
        tests = [region_tests(t_estimate(row), -log_f, log_f) for row in x]
        decisions, _ = decide_regions(tests, 0.05)
        false_in += "inside" in decisions
        false_out += any(d in ("above", "below") for d in decisions)
    assert false_in / reps <= 0.05 + 0.012 and false_out / reps <= 0.05 + 0.012


def test_holm_joint_splits_back_and_decide_regions_options():
    adj = holm_joint({"a": [0.01, 0.02], "b": [0.04]})
    np.testing.assert_allclose(adj["a"], [0.03, 0.04])
    np.testing.assert_allclose(adj["b"], [0.04])
    tests = [{"p_inside": 0.03, "p_above": 0.9, "p_below": 0.9}] * 2
    assert decide_regions(tests, 0.05, "none")[0] == ["inside", "inside"]
    assert decide_regions(tests, 0.05)[0] == ["undetermined", "undetermined"]  # 0.03 · 2
    out = [{"p_inside": 0.9, "p_above": 0.02, "p_below": 0.9}] * 2  # 0.02 · 4 = 0.08
    assert decide_regions(out, 0.05)[0] == ["undetermined", "undetermined"]
    assert decide_regions(out[:1], 0.05)[0] == ["above"]  # 0.02 · 2 = 0.04
    assert family_size(tests) == 4
    with pytest.raises(ValueError, match="correction"):
        decide_regions(tests, 0.05, "bonferroni")
