"""Tests for shadownets.audit.verdict: the band test, Holm across the family, what decides."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from shadownets.audit.stats import ratio_estimate
from shadownets.audit.verdict import (
    combine,
    decide_family,
    n_inputs_to_decide,
    n_null_to_decide,
)
from shadownets.stats import Estimate, holm

F, A = 1.5, 0.05


def _est(ratio: float, lo: float, hi: float, n: int = 5) -> Estimate:
    """The log-ratio estimate whose 95% t_{n-1} interval is [lo, hi] (geometric centre)."""
    q = sps.t.ppf(0.975, n - 1)
    se = (math.log(hi) - math.log(lo)) / (2 * q)
    return Estimate(math.log(ratio), se, n - 1, n, se / math.sqrt(1 + 1 / n))


def test_intervals_that_merely_meet_the_band_are_undetermined():
    # the reviewer's two layers: 3.80 [1.34, 10.8] and 0.54 [0.0004, 821]
    rows = decide_family([{"gaussian": _est(3.80, 1.34, 10.8)},
                          {"gaussian": _est(0.54, 0.0004, 821)}], factor=F, significance=A)
    assert list(rows["verdict"]) == ["undetermined", "undetermined"]
    assert not rows["random_like"].any()


def test_inside_above_below():
    rows = decide_family([{"g": _est(1.0, 0.9, 1.1)}, {"g": _est(4.0, 3.0, 5.3)},
                          {"g": _est(0.2, 0.15, 0.27)}], factor=F, significance=A)
    assert list(rows["verdict_g"]) == ["random-like", "worse than random",
                                       "better than random"]
    assert list(rows["verdict"]) == list(rows["verdict_g"])
    assert rows["to_decide"].isna().all()


def test_holm_is_across_layers_and_kinds():
    ests = [{"g": _est(1.0, 0.75, 1.33), "s": _est(1.05, 0.8, 1.38)},
            {"g": _est(1.1, 0.8, 1.5), "s": _est(2.6, 1.55, 4.4)}]
    rows = decide_family(ests, factor=F, significance=A)
    raw = []
    for e in ests:
        for k in ("g", "s"):  # inside: the confidence se s/sqrt(n) = se_pred/sqrt(n + 1)
            se, m, d = e[k].se / math.sqrt(e[k].n + 1), e[k].mean, sps.t(e[k].df)
            raw.append(max(d.sf((m + math.log(F)) / se), d.cdf((m - math.log(F)) / se)))
    expected = holm(raw)
    got = [rows[f"p_inside_{k}"][i] for i in range(2) for k in ("g", "s")]
    np.testing.assert_allclose(got, expected)
    unadjusted = decide_family(ests, factor=F, significance=A, correction="none")
    np.testing.assert_allclose([unadjusted[f"p_inside_{k}"][i] for i in range(2)
                                for k in ("g", "s")], raw)
    with pytest.raises(ValueError, match=r"correction must be one of \['holm', 'none'\]"):
        decide_family(ests, factor=F, significance=A, correction="bonferroni")


def test_combine_rule():
    assert combine(["random-like", "random-like"]) == "random-like"
    assert combine(["random-like", "undetermined"]) == "undetermined"
    assert combine(["worse than random", "random-like"]) == "worse than random"
    assert combine(["worse than random", "undetermined"]) == "worse than random"
    assert combine(["better than random", "random-like"]) == "better than random"
    assert combine(["worse than random", "better than random"]) == "undetermined"


def test_n_null_to_decide_is_the_smallest_that_fits():
    # towards random-like (|log r| < log f): the confidence half-width t * s / sqrt(n)
    est = _est(1.05, 0.5, 2.2)
    n = n_null_to_decide(est, F, A, family=4)
    margin = math.log(F) - math.log(1.05)

    def half(k, scale):
        return sps.t.ppf(1 - A / 4, k - 1) * est.sd * scale(k)

    def ci(k):
        return 1 / math.sqrt(k)

    assert np.isfinite(n) and half(int(n), ci) < margin <= half(int(n) - 1, ci)
    # towards worse (|log r| > log f): the prediction half-width t * s * sqrt(1 + 1/n)
    out = _est(2.5, 1.6, 3.9)
    n_out = n_null_to_decide(out, F, A, family=4)
    m_out = math.log(2.5) - math.log(F)

    def pred(k):
        return sps.t.ppf(1 - A / 4, k - 1) * out.sd * math.sqrt(1 + 1 / k)

    assert np.isfinite(n_out) and pred(int(n_out)) < m_out <= pred(int(n_out) - 1)
    wide = _est(2.0, 0.2, 20.0)  # the null nets spread more than the margin: no n decides
    assert n_null_to_decide(wide, F, A) == math.inf
    # inside the band any spread is decided by enough null nets (the mean gets known)
    assert np.isfinite(n_null_to_decide(_est(1.3, 0.2, 8.0), F, A))
    assert math.isnan(n_null_to_decide(Estimate(0.1, math.nan, math.nan, 1, math.nan), F, A))


def test_n_inputs_to_decide():
    z = sps.norm.ppf(1 - A)
    # towards worse: all of the spread is input noise: N' = N s² / (d/z)²
    est = Estimate(math.log(2.2), 0.3, 4.0, 5, 0.3)
    d = math.log(2.2) - math.log(F)
    n = n_inputs_to_decide(est, 0.09, 100, F, A)
    assert n == pytest.approx(math.ceil(100 * 0.09 / (d / z) ** 2))
    # all of it is net-to-net spread wider than the margin: no amount of data decides
    assert n_inputs_to_decide(est, 0.0, 100, F, A) == math.inf
    # towards random-like with the n = 5 null nets used: N' = N s² / (n (d/z)²)
    near = Estimate(math.log(1.1), 0.9, 4.0, 5, 0.9)
    d = math.log(F) - math.log(1.1)
    assert n_inputs_to_decide(near, 0.81, 100, F, A) == pytest.approx(
        math.ceil(100 * 0.81 / (5 * (d / z) ** 2)))
    assert n_inputs_to_decide(near, 0.0, 100, F, A) == math.inf


def test_wide_intervals_from_crafted_per_input_errors_are_undetermined():
    """A small trained CNN's layer: null nets spread by a factor of ~3 from one redraw to the
    next; the trained net's error is 3.8× their centre. Old rule: random-like (the interval
    meets the band). New: undetermined, and nothing but a wider band would decide it."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.5, 40)
    nulls = base * np.exp(rng.normal(0.0, 1.0, (3, 1)))
    trained = 3.8 * base * np.exp(np.log(nulls.mean(1)).mean())
    est = ratio_estimate(trained, nulls)
    rows = decide_family([{"gaussian": est}], factor=F, significance=A, n_inputs=40,
                         input_var=[{"gaussian": 0.0}])
    assert rows["verdict"][0] == "undetermined"
    assert rows["inputs_to_decide"][0] == math.inf
