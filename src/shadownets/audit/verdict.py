"""The audit's verdicts: the log error ratio tested against the band ``[1/f, f]``, Holm-adjusted.

One audit call is one family of tests: every audited layer × every null kind. For each cell the
log ratio ``log r = log a − mean_j log d_j`` (trained net's mean error ``a``, null net ``j``'s
``d_j``, same inputs; :func:`shadownets.audit.stats.ratio_estimate`) is tested against the
region ``[−log f, log f]`` with :func:`shadownets.stats.region_tests`, with two standard errors
for two questions (``s`` the spread of the ``log d_j`` over the ``n`` null nets, ``t_{n−1}``):

* ``p_inside`` (TOST) asks whether the trained net's error is within a factor ``f`` of the
  **typical** null net's (geometric mean of the null population): the trained net is fixed,
  only the null mean is estimated, ``se = s/√n``
  (:func:`shadownets.audit.stats.typical_ratio_estimate`; it shrinks with more null nets);
* ``p_above`` / ``p_below`` ask whether the trained net lies outside the null population by
  more than the factor — beyond what one more null draw would give — with the **prediction**
  ``se = s·√(1 + 1/n)``. A null net that happens to sit in the tail of a widely spread null
  family is therefore not called worse or better than random.

Both are tests at the stated level; the inside interval is the narrower, so a cell is never
both inside and outside. They are Holm-adjusted per type of conclusion across the family
(:func:`shadownets.stats.decide_regions`): the ``p_inside`` of every cell, and the ``p_above``
and ``p_below`` of every cell together, so that the chance of calling any layer falsely
random-like in one audit call is at most the significance, and so is the chance of calling any
falsely worse or better than random; :func:`shadownets.stats.decide` turns them into

* ``"random-like"`` — shown inside the band;
* ``"worse than random"`` — shown above ``f`` (the trained net's error is larger);
* ``"better than random"`` — shown below ``1/f``;
* ``"undetermined"`` — none of these (or no interval: fewer than two null nets).

A layer's overall verdict (:func:`combine`): random-like if random-like against every null
kind; worse (better) if worse (better) against some kind and better (worse) against none;
undetermined otherwise.

For an undetermined cell, :func:`n_null_to_decide` says how many null nets would decide it and
:func:`n_inputs_to_decide` how many inputs, if the estimate and the spread stayed as observed:
towards "random-like" when ``|log r| < log f``, towards worse/better otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from shadownets.audit.stats import typical_ratio_estimate
from shadownets.stats import Estimate, decide_regions, family_size, region_tests

__all__ = ["AUDIT_VERDICTS", "CORRECTIONS", "combine", "decide_family", "n_inputs_to_decide",
           "n_null_to_decide"]

#: Verdicts of a layer, as in the table's ``verdict`` columns.
AUDIT_VERDICTS: tuple[str, ...] = ("random-like", "worse than random", "better than random",
                                   "undetermined")
#: Multiple-comparison corrections :func:`decide_family` knows.
CORRECTIONS: tuple[str, ...] = ("holm", "none")

_FROM_REGION = {"inside": "random-like", "above": "worse than random",
                "below": "better than random", "undetermined": "undetermined"}
_N_MAX = 10_000  # largest number of null nets :func:`n_null_to_decide` looks at


def combine(verdicts: Sequence[str]) -> str:
    """A layer's verdict from its verdicts against each null kind (see the module docstring)."""
    v = list(verdicts)
    if v and all(x == "random-like" for x in v):
        return "random-like"
    worse, better = "worse than random" in v, "better than random" in v
    if worse and not better:
        return "worse than random"
    if better and not worse:
        return "better than random"
    return "undetermined"


def _margin(est: Estimate, factor: float) -> float:
    """Distance of ``log r`` to the nearest edge of ``[−log f, log f]``."""
    return abs(math.log(factor) - abs(est.mean))


def _quantile(significance: float, family: int) -> float:
    """One-sided level of a test that decides whatever the other cells do: Bonferroni
    ``significance / family`` (the first, strictest step of Holm)."""
    return 1.0 - significance / max(family, 1)


def _spread(est: Estimate) -> float:
    """The null nets' spread ``s`` (from ``se = s·√(1 + 1/n)`` when ``sd`` was not kept)."""
    if np.isfinite(est.sd):
        return float(est.sd)
    if np.isfinite(est.se) and est.n >= 1:
        return float(est.se / math.sqrt(1.0 + 1.0 / est.n))
    return math.nan


def _towards_inside(est: Estimate, factor: float) -> bool:
    """Whether an undecided cell could be decided random-like (``|log r| < log f``)."""
    return abs(est.mean) < math.log(factor)


def n_null_to_decide(est: Estimate, factor: float, significance: float,
                     family: int = 1) -> float:
    """Smallest number of null nets ``n`` whose interval fits inside the margin between
    ``log r`` and the nearest edge of the band, the spread ``s`` staying as observed
    (``m`` = ``family``): towards random-like (``|log r| < log f``) the confidence half-width
    ``t_{n−1, 1−α/m} · s/√n``; towards worse/better the prediction half-width
    ``t_{n−1, 1−α/m} · s · √(1 + 1/n)``.

    Returns
    -------
    float
        ``n`` (as a float); ``inf`` when no number of null nets up to 10 000 suffices (the
        spread itself is too wide for a worse/better call: then only more inputs can help,
        see :func:`n_inputs_to_decide`); NaN when the spread is unknown (fewer than two null
        nets).
    """
    s = _spread(est)
    if not (np.isfinite(est.mean) and np.isfinite(s)):
        return math.nan
    margin = _margin(est, factor)
    n = np.arange(2, _N_MAX + 1)
    scale = 1 / np.sqrt(n) if _towards_inside(est, factor) else np.sqrt(1 + 1 / n)
    half = sps.t.ppf(_quantile(significance, family), n - 1) * s * scale
    ok = np.flatnonzero(half < margin)
    return float(n[ok[0]]) if ok.size else math.inf


def n_inputs_to_decide(est: Estimate, input_var: float, n_inputs: int, factor: float,
                       significance: float, family: int = 1) -> float:
    """Inputs needed to decide, from the split of the spread.

    The observed spread ``s²`` of the null nets' log mean errors is split into an input part
    ``v = input_var`` (the delta-method variance ``Var_i(d_ji) / (N · mean(d_j)²)`` of each
    net's log mean over ``N = n_inputs`` inputs, averaged over nets) and a net-to-net part
    ``τ² = max(s² − v, 0)``. **Assumption:** only ``v`` shrinks with more inputs, like ``1/N``.
    With normal quantile ``z`` at ``1 − α/m`` the interval fits inside the margin ``d`` once
    ``z² (τ² + v N / N') < d²·c``: towards worse/better with many null nets (``c = 1``),
    towards random-like with the ``n`` null nets used (``c = n``: the confidence interval).

    Returns
    -------
    float
        The smallest such ``N'``; ``inf`` when ``z τ ≥ d·√c`` (the null nets themselves spread
        wider than the margin: no amount of data decides this cell at this band); NaN when the
        spread is unknown.
    """
    s = _spread(est)
    if not (np.isfinite(est.mean) and np.isfinite(s) and np.isfinite(input_var)):
        return math.nan
    z = float(sps.norm.ppf(_quantile(significance, family)))
    c = float(est.n) if _towards_inside(est, factor) else 1.0
    room = c * (_margin(est, factor) / z) ** 2 - max(s ** 2 - input_var, 0.0)
    if room <= 0:
        return math.inf
    return float(math.ceil(n_inputs * input_var / room)) if input_var > 0 else float(n_inputs)


def decide_family(estimates: Sequence[Mapping[str, Estimate]], *, factor: float,
                  significance: float, correction: str = "holm",
                  input_var: Sequence[Mapping[str, float]] | None = None,
                  n_inputs: int | None = None) -> pd.DataFrame:
    """Verdicts of one audit: every layer × null kind is one family.

    Parameters
    ----------
    estimates : sequence of mappings, length n_layers
        ``estimates[i][kind]``: layer ``i``'s log ratio against null kind ``kind``, with the
        prediction standard error of :func:`shadownets.audit.stats.ratio_estimate` (every
        layer has the same kinds, in the same order).
    factor : float
        The band ``[1/factor, factor]`` of the ratio (``[−log f, log f]`` of the log ratio).
    significance : float
        Family-wise error rate (``correction="holm"``) or per-test level (``"none"``).
    correction : {"holm", "none"}
        How each kind of p-value (inside / above / below) is adjusted across the family.
    input_var : sequence of mappings, optional
        ``input_var[i][kind]``: the input part of the null nets' spread (see
        :func:`n_inputs_to_decide`); without it ``inputs_to_decide`` is NaN.
    n_inputs : int, optional
        Inputs the estimates rest on (needed with ``input_var``).

    Returns
    -------
    pandas.DataFrame
        One row per layer: for each kind ``k`` — ``log_ratio_k``, ``log_ratio_se_k``,
        ``log_ratio_df_k``, the adjusted ``p_inside_k``, ``p_above_k``, ``p_below_k`` and
        ``verdict_k``; then ``verdict``, ``random_like`` (bool), ``to_decide`` (null nets
        per kind that would decide the layer's undetermined kinds, the largest over them; NaN
        when decided or unknown, inf when no number does) and ``inputs_to_decide`` (inputs
        that would; same conventions) and, with ``input_var``, ``input_var_k`` per kind.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    kinds = list(estimates[0]) if estimates else []
    cells = [(i, k) for i in range(len(estimates)) for k in kinds]
    log_f = math.log(factor)
    tests = []
    for i, k in cells:  # inside: the typical null net (confidence); outside: prediction
        outside = region_tests(estimates[i][k], -log_f, log_f)
        inside = region_tests(typical_ratio_estimate(estimates[i][k]), -log_f, log_f)
        tests.append(outside | {"p_inside": inside["p_inside"]})
    # Holm per type of conclusion over every (layer, kind) cell: random-like (p_inside), and
    # worse/better (p_above and p_below together); each type's false-call rate <= significance
    decisions, adj = decide_regions(tests, significance, correction)
    m = family_size(tests) if correction == "holm" else 1
    rows: list[dict[str, object]] = [{} for _ in estimates]
    need_null: list[list[float]] = [[] for _ in estimates]
    need_in: list[list[float]] = [[] for _ in estimates]
    for c, (i, k) in enumerate(cells):
        est = estimates[i][k]
        v = _FROM_REGION[decisions[c]]
        rows[i] |= {f"log_ratio_{k}": est.mean, f"log_ratio_se_{k}": est.se,
                    f"log_ratio_df_{k}": est.df, f"p_inside_{k}": float(adj["p_inside"][c]),
                    f"p_above_{k}": float(adj["p_above"][c]),
                    f"p_below_{k}": float(adj["p_below"][c]), f"verdict_{k}": v}
        if v == "undetermined":
            need_null[i].append(n_null_to_decide(est, factor, significance, m))
            if input_var is not None and n_inputs is not None:
                need_in[i].append(n_inputs_to_decide(est, float(input_var[i][k]), n_inputs,
                                                     factor, significance, m))
    for i, row in enumerate(rows):
        row["verdict"] = combine([row[f"verdict_{k}"] for k in kinds])
        row["random_like"] = row["verdict"] == "random-like"
        undecided = row["verdict"] == "undetermined"
        row["to_decide"] = _worst(need_null[i]) if undecided else math.nan
        row["inputs_to_decide"] = _worst(need_in[i]) if undecided else math.nan
        if input_var is not None:
            row |= {f"input_var_{k}": float(input_var[i][k]) for k in kinds}
    return pd.DataFrame.from_records(rows)


def _worst(values: list[float]) -> float:
    """The largest of ``values`` (NaN if any is NaN or there are none)."""
    if not values or any(not np.isfinite(v) and not np.isinf(v) for v in values):
        return math.nan
    return float(max(values))
