"""Decision statistics shared by every verdict: intervals, interval tests, Holm, power.

A claim is judged three-valued against a region declared before the run:

* the estimate's interval lies **inside** the region (equivalence, a TOST test) → one verdict;
* it lies **outside**, above or below (one-sided tests against the region's edges) → another;
* otherwise the run cannot tell → *undetermined*.

:func:`region_tests` gives the three one-sided/TOST p-values of an estimate with a t (or
normal) sampling distribution; :func:`holm` adjusts a family of p-values (Holm's step-down
method, which controls the family-wise error rate) and :func:`holm_joint` all kinds of a family
at once; :func:`decide` turns adjusted p-values into ``"inside" / "above" / "below" /
"undetermined"`` and :func:`decide_regions` does both for a family of region tests, so that
the chance of any false "inside" conclusion in the family is at most α, and so is the chance of
any false "outside" one. :func:`power_difference`,
:func:`power_equivalence` and :func:`n_for_power` say whether a run could have seen an effect of
the declared size, and how many replicates would.

All functions are pure NumPy/SciPy; nothing here knows about nets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "Estimate",
    "t_estimate",
    "region_tests",
    "holm",
    "holm_joint",
    "decide",
    "decide_regions",
    "family_size",
    "interval",
    "power_difference",
    "power_equivalence",
    "n_for_power",
    "DECISIONS",
]

#: Outcomes of :func:`decide`.
DECISIONS: tuple[str, ...] = ("inside", "above", "below", "undetermined")


@dataclass(frozen=True)
class Estimate:
    """An estimate with a t sampling distribution: ``(θ̂ − θ)/se ~ t_df`` (``df = inf``: normal).

    ``n`` is the number of replicates it rests on, ``sd`` their standard deviation (so that
    power can be computed for other ``n``).
    """

    mean: float
    se: float
    df: float
    n: int
    sd: float

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.mean) and np.isfinite(self.se) and self.se >= 0
                    and self.df > 0)


def t_estimate(values: Sequence[float]) -> Estimate:
    """Mean of ``values`` (NaN dropped) with the standard error of a one-sample t test.

    Parameters
    ----------
    values : sequence of float, length n
        Replicates (e.g. per-seed paired differences).

    Returns
    -------
    Estimate
        ``se`` and ``sd`` are NaN when fewer than two finite values are given.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, math.nan)
    if n == 1:
        return Estimate(float(v[0]), math.nan, math.nan, 1, math.nan)
    sd = float(v.std(ddof=1))
    return Estimate(float(v.mean()), sd / math.sqrt(n), float(n - 1), n, sd)


def _dist(df: float):
    return stats.norm if not np.isfinite(df) else stats.t(df)


def interval(est: Estimate, level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval ``mean ± q·se`` at ``level`` (NaN when the estimate is not finite)."""
    if not est.finite:
        return math.nan, math.nan
    q = float(_dist(est.df).ppf(0.5 + level / 2))
    return est.mean - q * est.se, est.mean + q * est.se


def region_tests(est: Estimate, low: float, high: float) -> dict[str, float]:
    """p-values of an estimate against the region ``[low, high]`` (``low <= high``).

    Returns
    -------
    dict
        ``p_inside`` — two one-sided tests (TOST) of H0: θ ≤ low or θ ≥ high (small: θ is
        inside; with ``low == high`` it is 1); ``p_above`` — H0: θ ≤ high (small: θ is above
        the region); ``p_below`` — H0: θ ≥ low (small: θ is below). All NaN when the estimate
        is not finite; with ``se == 0`` they are 0 or 1.
    """
    if low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    if not est.finite:
        return {"p_inside": math.nan, "p_above": math.nan, "p_below": math.nan}
    if est.se == 0:
        above, below = float(est.mean > high), float(est.mean < low)
        return {"p_inside": 0.0 if low < est.mean < high else 1.0,
                "p_above": 1.0 - above, "p_below": 1.0 - below}
    d = _dist(est.df)
    p_above = float(d.sf((est.mean - high) / est.se))
    p_below = float(d.cdf((est.mean - low) / est.se))
    # TOST: inside needs both "θ > low" (p = sf((mean-low)/se)) and "θ < high"
    p_low = float(d.sf((est.mean - low) / est.se))
    p_high = float(d.cdf((est.mean - high) / est.se))
    p_inside = 1.0 if low == high else max(p_low, p_high)
    return {"p_inside": p_inside, "p_above": p_above, "p_below": p_below}


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count).

    Rejecting every hypothesis whose adjusted p-value is below α controls the probability of
    any false rejection in the family at α.

    Parameters
    ----------
    pvalues : sequence of float, length m

    Returns
    -------
    numpy.ndarray of shape (m,)
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def holm_joint(pvalues: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Holm over every p-value of several kinds at once (e.g. ``p_inside``, ``p_above`` and
    ``p_below`` of each estimate of a family), so that the probability of ANY false decision of
    any kind in the family is at most α — not α per kind.

    Parameters
    ----------
    pvalues : mapping of str to sequence of float
        The family's p-values by kind (sequences of any lengths).

    Returns
    -------
    dict of str to numpy.ndarray
        The adjusted p-values, same keys and lengths.
    """
    keys = list(pvalues)
    arrays = [np.asarray(pvalues[k], dtype=np.float64).ravel() for k in keys]
    adj = holm(np.concatenate(arrays)) if arrays else np.empty(0)
    out, start = {}, 0
    for key, arr in zip(keys, arrays, strict=True):
        out[key] = adj[start:start + arr.size]
        start += arr.size
    return out


def decide_regions(tests: Sequence[Mapping[str, float]], alpha: float = 0.05,
                   correction: str = "holm") -> tuple[list[str], dict[str, np.ndarray]]:
    """:func:`decide` for each of a family of :func:`region_tests` results, Holm-adjusted per
    type of conclusion (``correction="none"``: unadjusted).

    Two Holm families: the ``p_inside`` of every test (conclusions "inside"), and the
    ``p_above`` and ``p_below`` of every test together (conclusions "outside", either side).
    So the chance of any false "inside" conclusion in the family is at most ``alpha``, and so is
    the chance of any false "outside" one (of any error at all, at most ``2·alpha``).

    Returns
    -------
    decisions : list of str
        One of :data:`DECISIONS` per test.
    adjusted : dict of str to numpy.ndarray
        ``p_inside``, ``p_above``, ``p_below`` as adjusted.
    """
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none', got {correction!r}")
    raw = {k: np.asarray([t[k] for t in tests], dtype=np.float64)
           for k in ("p_inside", "p_above", "p_below")}
    if correction == "holm":
        adj = {"p_inside": holm(raw["p_inside"]),
               **holm_joint({"p_above": raw["p_above"], "p_below": raw["p_below"]})}
    else:
        adj = raw
    decisions = [decide(adj["p_inside"][i], adj["p_above"][i], adj["p_below"][i], alpha)
                 for i in range(len(tests))]
    return decisions, adj


def family_size(tests: Sequence[Mapping[str, float]]) -> int:
    """The size of :func:`decide_regions`' larger Holm family: the finite ``p_above`` and
    ``p_below`` values (two per test), so ``alpha / family_size`` is the level of its first
    step for any conclusion."""
    return int(sum(np.isfinite(t[k]) for t in tests for k in ("p_above", "p_below")))


def decide(p_inside: float, p_above: float, p_below: float, alpha: float = 0.05) -> str:
    """``"inside"``, ``"above"``, ``"below"`` or ``"undetermined"`` from (adjusted) p-values.

    "inside" is checked first: an estimate shown to lie within the region is equivalent to it
    even when it also differs from the region's centre.
    """
    if np.isfinite(p_inside) and p_inside < alpha:
        return "inside"
    if np.isfinite(p_above) and p_above < alpha:
        return "above"
    if np.isfinite(p_below) and p_below < alpha:
        return "below"
    return "undetermined"


def power_difference(delta: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided one-sample t test at level ``alpha`` to detect a true mean of
    ``delta`` (replicate standard deviation ``sd``, ``n`` replicates). NaN when undefined.

    Where SciPy's non-central t tail underflows to NaN (large non-centrality, power ≈ 1), the
    far tail is taken as 0 and the near one as 1.
    """
    if n < 2 or not (np.isfinite(sd) and sd > 0 and np.isfinite(delta)):
        return math.nan
    df = n - 1
    nc = abs(delta) / (sd / math.sqrt(n))
    q = float(stats.t.ppf(1 - alpha / 2, df))
    upper, lower = float(stats.nct.sf(q, df, nc)), float(stats.nct.cdf(-q, df, nc))
    if nc > q:  # P(T' < -q) ≈ 0 and P(T' > q) ≈ 1 where SciPy answers NaN
        upper, lower = float(np.nan_to_num(upper, nan=1.0)), float(np.nan_to_num(lower, nan=0.0))
    value = upper + lower
    return value if np.isnan(value) else min(1.0, value)


def power_equivalence(margin: float, sd: float, n: int, alpha: float = 0.05,
                      true_mean: float = 0.0) -> float:
    """Exact power of TOST (one-sample t, level ``alpha`` each side) to show ``|θ| < margin``
    when θ = ``true_mean``: the normal probability of the mean falling inside
    ``±(margin − q·s/√n)``, integrated over the χ² distribution of the sample variance
    (Gauss–Legendre quadrature). NaN when undefined."""
    if n < 2 or not (np.isfinite(sd) and sd > 0 and margin > 0 and np.isfinite(true_mean)):
        return math.nan
    df = n - 1
    q = float(stats.t.ppf(1 - alpha, df))
    se = sd / math.sqrt(n)
    v_max = df * (margin / (q * se)) ** 2  # s = margin·√n/q: beyond it the interval is empty
    u_max = float(stats.chi2.cdf(v_max, df))
    if u_max <= 0:
        return 0.0
    nodes, weights = np.polynomial.legendre.leggauss(96)
    u = 0.5 * u_max * (nodes + 1.0)  # χ² quantiles in (0, u_max): a smooth bounded integrand
    half = np.maximum(margin - q * se * np.sqrt(stats.chi2.ppf(u, df) / df), 0.0)
    inside = stats.norm.cdf((half - true_mean) / se) - stats.norm.cdf((-half - true_mean) / se)
    value = 0.5 * u_max * float(np.dot(weights, np.where(half > 0, inside, 0.0)))
    return float(min(1.0, max(0.0, value)))


def n_for_power(power_fn, target: float = 0.8, n_max: int = 10_000) -> int | None:
    """Smallest ``n >= 2`` with ``power_fn(n) >= target`` (None if none up to ``n_max``)."""
    lo, hi = 2, 2
    while hi <= n_max:
        p = power_fn(hi)
        if np.isfinite(p) and p >= target:
            break
        lo, hi = hi, hi * 2
    else:
        p = power_fn(n_max)
        if not (np.isfinite(p) and p >= target):
            return None
        hi = n_max
    while lo < hi:  # power is monotone in n for these tests
        mid = (lo + hi) // 2
        p = power_fn(mid)
        if np.isfinite(p) and p >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo
