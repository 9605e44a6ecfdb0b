"""Tests for shadownets.train.compare: selection, tests, Holm, power, verdicts, the grid runner."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shadownets.stats import power_equivalence, t_estimate
from shadownets.train.compare import (
    CELL_COLUMNS,
    DIFF_COLUMNS,
    RUN_COLUMNS,
    RUNS_FILE_COLUMNS,
    CompareConfig,
    compare,
    family_verdicts,
    paired_interval,
    summarise,
)
from shadownets.train.config import TrainConfig


def test_paired_interval_closed_form():
    mean, low, high = paired_interval([1.0, 2.0, 3.0], 0.95)
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2} · sd / sqrt(n), sd = 1
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))
    m1, l1, h1 = paired_interval([0.5])
    assert m1 == 0.5 and math.isnan(l1) and math.isnan(h1)


def _runs(diffs: dict[str, list[float]]) -> pd.DataFrame:
    """Runs of plain (two candidates), dropout and shadow per budget; shadow's test error is
    plain candidate 0's plus ``diffs[budget][seed]``. Plain candidate 1 is better on TEST only
    (validation must decide); dropout is worse than plain on validation (plain = best other)."""
    rows = []
    for budget, d in diffs.items():
        for seed, delta in enumerate(d):
            b = 0.20 + 0.03 * math.sin(seed)  # seed-to-seed variation shared by the methods
            rows.append(dict(budget=budget, method="plain", candidate=0, val_error=0.1,
                             test_error=b, seed=seed))
            rows.append(dict(budget=budget, method="plain", candidate=1, val_error=0.3,
                             test_error=b - 0.15, seed=seed))
            rows.append(dict(budget=budget, method="dropout", candidate=0, val_error=0.4,
                             test_error=b + 0.1 + 0.001 * seed, seed=seed))
            rows.append(dict(budget=budget, method="shadow", candidate=0, val_error=0.2,
                             test_error=b + delta, seed=seed))
    df = pd.DataFrame(rows)
    df["dataset"], df["n_labels"] = "toy", df.budget.astype(int)
    df["params"] = df.candidate.map(lambda c: json.dumps({"c": c}))
    for col in ("val_loss", "test_loss", "train_loss"):
        df[col] = 0.0
    return df[RUN_COLUMNS]


#: Per-seed differences shadow − plain giving each verdict (margin 0.01, α 0.05, Holm over 4).
CASES = {
    "10": [-0.05, -0.052, -0.048, -0.051, -0.049, -0.05, -0.047, -0.053, -0.05, -0.05],  # win
    "20": [0.05, 0.052, 0.048, 0.051, 0.049, 0.05, 0.047, 0.053, 0.05, 0.05],  # loss
    "30": [0.001, -0.001, 0.0005, -0.0005, 0.0, 0.001, -0.001, 0.0, 0.0002, -0.0002],  # tie
    "40": [0.03, -0.03, 0.02, -0.025, 0.0, 0.01, -0.01, 0.04, -0.04, 0.005],  # undetermined
}


def test_summarise_selects_on_validation_and_gives_each_verdict():
    cells, diffs, summary = summarise(_runs(CASES))
    assert list(cells.columns) == CELL_COLUMNS and list(diffs.columns) == DIFF_COLUMNS
    plain = cells[cells.method == "plain"]
    assert (plain.candidate == 0).all()  # validation decides, not the better test error
    best = diffs[diffs.family == "best_other"]
    assert list(best.budget) == ["10", "20", "30", "40"] and (best.other == "plain").all()
    verdicts = {v["budget"]: v["verdict"] for v in summary["verdicts"]}
    assert verdicts == {"10": "win", "20": "loss", "30": "tie", "40": "undetermined"}
    assert (summary["margin"], summary["alpha"], summary["correction"]) == (0.01, 0.05, "holm")
    win = best.iloc[0]
    assert win.diff_mean == pytest.approx(np.mean(CASES["10"]))
    assert win.ci_high < 0 and win.n_pairs == 10 and bool(win.best_other)
    assert win.family_size == 4
    # the each_other family holds every other method (plain again, and dropout)
    each = diffs[diffs.family == "each_other"]
    assert len(each) == 8 and set(each.other) == {"plain", "dropout"}
    assert (each.family_size == 8).all()
    assert (each[each.other == "dropout"].verdict == "win").all()
    # the tie is shown inside ±margin; the undetermined one has too little power
    tie, undet = best.iloc[2], best.iloc[3]
    assert tie.p_equiv_adj < 0.05 and tie.p_diff_adj >= 0.05
    assert undet.p_equiv_adj >= 0.05 and undet.p_diff_adj >= 0.05 and undet.power_diff < 0.8
    assert undet.seeds_needed > 10


def test_summarise_independent_p_values():
    _, diffs, _ = summarise(_runs(CASES))
    row = diffs[(diffs.family == "best_other") & (diffs.budget == "40")].iloc[0]
    d = np.asarray(CASES["40"])
    ttest = stats.ttest_1samp(d, 0.0)
    assert row.p_diff == pytest.approx(ttest.pvalue, rel=1e-9)
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert row.se == pytest.approx(se) and row.df == d.size - 1
    tost = max(stats.t.sf((d.mean() + 0.01) / se, d.size - 1),
               stats.t.cdf((d.mean() - 0.01) / se, d.size - 1))
    assert row.p_equiv == pytest.approx(tost, rel=1e-9)
    # Holm over 4: the adjusted value is at least the raw one, at most 4 times it
    assert row.p_diff <= row.p_diff_adj <= min(1.0, 4 * row.p_diff) + 1e-12


def test_holm_changes_a_decision():
    """A family where one unadjusted p < 0.05 is not significant after Holm's adjustment."""
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 8)
    shown = 0.02 + 0.018 * (base - base.mean()) / base.std(ddof=1)  # p ≈ 0.015
    null = [0.02 * (rng.normal(0, 1, 8)) for _ in range(3)]
    null = [v - v.mean() + 0.002 for v in null]  # p large, not equivalent either
    ests = [t_estimate(shown), *map(t_estimate, null)]
    raw = family_verdicts(ests, correction="none")
    adj = family_verdicts(ests, correction="holm")
    assert 0.01 < raw.p_diff.iloc[0] < 0.05 and raw.verdict.iloc[0] == "loss"
    assert adj.p_diff_adj.iloc[0] >= 0.05 and adj.verdict.iloc[0] == "undetermined"
    assert (adj.family_size == 4).all()
    # Holm's power level is α/m: lower power than unadjusted
    assert adj.power_diff.iloc[0] < raw.power_diff.iloc[0]


def test_fewer_than_two_seeds_is_undetermined_not_a_tie():
    out = family_verdicts([t_estimate([0.0]), t_estimate([])])
    assert list(out.verdict) == ["undetermined", "undetermined"]
    assert out.power_diff.isna().all() and out.seeds_needed.isna().all()


def _mc_t_test_power(delta: float, sd: float, n: int, level: float, reps: int,
                     rng: np.random.Generator) -> float:
    x = rng.normal(delta, sd, (reps, n))
    t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    return float(np.mean(np.abs(t) > stats.t.ppf(1 - level / 2, n - 1)))


def _mc_tost_power(margin: float, sd: float, n: int, level: float, reps: int,
                   rng: np.random.Generator) -> float:
    x = rng.normal(0.0, sd, (reps, n))
    m, se = x.mean(1), x.std(1, ddof=1) / math.sqrt(n)
    q = stats.t.ppf(1 - level, n - 1)
    return float(np.mean((m - q * se > -margin) & (m + q * se < margin)))


@pytest.mark.parametrize("sd, n, m", [(0.01, 10, 4), (0.006, 6, 1), (0.02, 20, 8)])
def test_power_against_monte_carlo(sd, n, m):
    """power_diff and power_equiv at level α/m, against a Monte Carlo of the t test / TOST."""
    rng = np.random.default_rng(0)
    # an estimate with exactly the observed sd: standardised values
    z = rng.normal(0, 1, n)
    values = 0.003 + sd * (z - z.mean()) / z.std(ddof=1)
    ests = [t_estimate(values)] * m
    out = family_verdicts(ests, margin=0.01, alpha=0.05)
    level = 0.05 / m
    reps = 40_000  # MC standard error ≤ 0.0025
    assert out.power_diff.iloc[0] == pytest.approx(
        _mc_t_test_power(0.01, sd, n, level, reps, rng), abs=0.012)
    assert out.power_equiv.iloc[0] == pytest.approx(
        _mc_tost_power(0.01, sd, n, level, reps, rng), abs=0.012)
    # seeds_needed: the smallest n with ≥ 80% power (checked by Monte Carlo around it)
    need = int(out.seeds_needed.iloc[0])
    assert _mc_t_test_power(0.01, sd, need, level, reps, rng) >= 0.8 - 0.012
    if need > 2:
        assert _mc_t_test_power(0.01, sd, need - 1, level, reps, rng) < 0.8 + 0.012


def test_power_of_a_very_precise_comparison_is_one_not_nan():
    # SciPy's non-central t CDF underflows to NaN here; power (and seeds needed) must not
    out = family_verdicts([t_estimate([0.001, -0.001, 0.0005, -0.0005, 0.0, 0.001, -0.001, 0.0,
                                       0.0002, -0.0002])] * 4)
    assert out.power_diff.iloc[0] == pytest.approx(1.0) and out.verdict.iloc[0] == "tie"
    assert out.seeds_needed.iloc[0] <= 4


def test_power_tost_closed_form_limits():
    # n large: TOST power → P(|N(0, se)| < margin − z·se) (normal)
    sd, n, a = 0.01, 400, 0.05
    se = sd / math.sqrt(n)
    z = stats.norm.ppf(1 - a)
    normal = 2 * stats.norm.cdf((0.01 - z * se) / se) - 1
    assert power_equivalence(0.01, sd, n, a) == pytest.approx(normal, abs=2e-3)
    assert math.isnan(power_equivalence(0.01, 0.0, 10))
    assert math.isnan(power_equivalence(0.01, 0.01, 1))


def test_tiny_comparison_writes_the_schema_and_resumes(tmp_path):
    from shadownets.data import load_dataset

    splits = {"digits": load_dataset("digits")}
    base = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=16,
                       model_kwargs={"widths": [16]})
    config = CompareConfig(datasets=("digits",), budgets=(30, None),
                           methods=("plain", "input-noise"), seeds=(0, 1), base=base,
                           grids={"input-noise": [{"noise_std": 0.3}, {"noise_std": 1.0}]},
                           reference="input-noise", margin=0.02, alpha=0.1)
    seen = []
    result = compare(config, out_dir=tmp_path, splits=splits, on_run=seen.append)
    assert len(seen) == len(result.runs) == 2 * (1 + 2) * 2
    assert list(result.runs.columns) == RUNS_FILE_COLUMNS
    assert not result.runs.diverged.any() and result.runs.fingerprint.str.len().eq(16).all()
    assert set(result.runs.budget) == {"30", "all"}
    assert result.runs.test_error.between(0, 1).all()
    assert len(result.cells) == 4 and len(result.diffs) == 4  # 2 budgets × 2 families
    assert {v["verdict"] for v in result.summary["verdicts"]} <= {"win", "tie", "loss",
                                                                   "undetermined"}
    assert (result.summary["margin"], result.summary["alpha"]) == (0.02, 0.1)
    for name in ("runs.csv", "cells.csv", "diffs.csv", "summary.json", "tables.md",
                 "error_vs_labels.png"):
        assert (tmp_path / name).stat().st_size > 0
    on_disk = pd.read_csv(tmp_path / "diffs.csv")
    assert list(on_disk.columns) == DIFF_COLUMNS
    seen.clear()
    again = compare(config, out_dir=tmp_path, splits=splits, resume=True, on_run=seen.append)
    assert seen == []  # every run was already there
    pd.testing.assert_frame_equal(again.cells, result.cells, check_dtype=False)
    changed = CompareConfig(datasets=("digits",), budgets=(30, None),
                            methods=("plain", "input-noise"), seeds=(0, 1), base=base,
                            grids={"input-noise": [{"noise_std": 0.5}]}, reference="input-noise")
    seen.clear()
    third = compare(changed, out_dir=tmp_path, splits=splits, resume=True, on_run=seen.append)
    assert len(seen) == 4  # only the new candidate ran; plain runs were reused
    assert set(third.runs.params) == {"{}", '{"noise_std": 0.5}'}  # stale candidates dropped


@pytest.mark.parametrize("kwargs, match", [
    ({"methods": ("plain", "magic")}, r"methods \['magic'\] unknown"),
    ({"methods": ("plain",)}, r"reference 'shadow' must be one of methods \['plain'\]"),
    ({"budgets": (0,)}, r"budgets must be positive ints or None \(all\); got 0"),
    ({"seeds": (1, 1)}, r"seeds must be distinct non-negative ints"),
    ({"datasets": ()}, r"datasets must be a non-empty tuple"),
    ({"confidence": 1.5}, r"confidence must be in \(0, 1\)"),
    ({"alpha": 0.0}, r"alpha must be in \(0, 1\); got 0.0"),
    ({"power": 1.0}, r"power must be in \(0, 1\)"),
    ({"margin": -0.01}, r"margin must be a positive float"),
    ({"correction": "bonferroni"}, r"correction must be one of holm, none; got 'bonferroni'"),
    ({"grids": {"shadow": [{"seed": 3}]}}, r"grids\['shadow'\] may not set \['seed'\]"),
    ({"grids": {"shadow": [{"shadow_rho": 3.0}]}}, r"rho must be a float in \(0, 1\]"),
    ({"grids": {"dropout": {"dropout": 0.1}}}, r"grids\['dropout'\] must be a list of dicts"),
    ({"grids": [1]}, r"grids must be a dict of method -> list of dicts; got \[1\]"),
])
def test_bad_compare_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CompareConfig(**kwargs)


def test_compare_needs_a_config():
    with pytest.raises(ValueError, match="config must be a CompareConfig; got dict"):
        compare({})
