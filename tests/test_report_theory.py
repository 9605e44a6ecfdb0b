"""The theory parts (theorem, bias, depth, sparse, baselines): each verdict from crafted files,
statistics against independent oracles, and one tiny end-to-end run per part."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shadownets.report.base import VERDICTS, Context
from shadownets.report.parts import baselines as baselines_part
from shadownets.report.parts import bias as bias_part
from shadownets.report.parts import depth as depth_part
from shadownets.report.parts import sparse as sparse_part
from shadownets.report.parts import theorem as theorem_part
from shadownets.theory.baselines import BASELINE_SAMPLE_COLUMNS
from shadownets.theory.recovery import RECOVERY_COLUMNS
from shadownets.theory.sweep import SAMPLE_COLUMNS, SWEEP_COLUMNS


def _write(folder, name, df):
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / name, index=False)
    return folder


# ---------------------------------------------------------------- theorem


def _sweep_rows(err_fn, *, ns=(1000, 2000, 4000, 8000), ks=(64, 128), rhos=(0.5, 1.0),
                ms=(1000, 4000), seeds=(0,), rng=None):
    """A results.csv in the sweep's format; err_fn(n, m, k, rho, rng) gives rel_error_sq."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for n in ns:
        for m in ms:
            for k in ks:
                for rho in rhos:
                    for seed in seeds:
                        for rule in ("none", "theory", "calibrated", "oracle"):
                            row = dict.fromkeys(SWEEP_COLUMNS, 0.0)
                            row.update({"n": n, "m": m, "k_top": k, "depth": 1,
                                        "weights": "gaussian", "degree": "", "seed": seed,
                                        "layer": 1, "n_in": n, "width": m, "k": k, "rho": rho,
                                        "bound": k / (rho * n),
                                        "in_regime": k < rho * n < k * k, "bias_rule": rule,
                                        "rel_error_sq": err_fn(n, m, k, rho, rng)})
                            rows.append(row)
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def _judge_theorem(tmp_path, df):
    return theorem_part.judge(_write(tmp_path / "theorem", "results.csv", df))


def test_theorem_holds_with_one_constant(tmp_path):
    df = _sweep_rows(lambda n, m, k, r, g: 0.3 * k * math.log(m) / (r * n)
                     * math.exp(g.normal(0, 0.05)))
    j = _judge_theorem(tmp_path, df)
    assert j.verdict == "holds", j.evidence
    assert j.numbers["slope_lo_log"] <= 1 <= j.numbers["slope_hi_log"]
    assert abs(j.numbers["drift_b"]) < 0.1 and j.flip


def test_theorem_does_not_hold_when_the_constant_grows(tmp_path):
    df = _sweep_rows(lambda n, m, k, r, g: 0.3 * k * math.log(m) / (r * n) * (n / 1000) ** 0.6
                     * math.exp(g.normal(0, 0.05)))
    j = _judge_theorem(tmp_path, df)
    assert j.verdict == "does not hold", j.evidence
    assert j.numbers["drift_lo"] > theorem_part.RULE.drift_tolerance


def test_theorem_does_not_hold_when_the_slope_is_shallow(tmp_path):
    # err ∝ bound^0.3 at every n: the slope is shown below the floor 0.5
    df = _sweep_rows(lambda n, m, k, r, g: 0.3 * (k * math.log(m) / (r * n)) ** 0.3
                     * math.exp(g.normal(0, 0.02)))
    j = _judge_theorem(tmp_path, df)
    assert j.verdict == "does not hold", j.evidence
    assert j.numbers["p_slope_below_floor_holm"] < 0.05


def test_theorem_undetermined_extra_log_factor(tmp_path):
    # slope shown below 1, but the constant's drift (≈ 0.15) within tolerance, noisy
    df = _sweep_rows(lambda n, m, k, r, g: 0.3 * (k * math.log(m) / (r * n)) ** 0.85
                     * math.exp(g.normal(0, 0.02)))
    j = _judge_theorem(tmp_path, df)
    assert j.verdict == "undetermined", j.evidence
    assert j.numbers["slope_hi_log"] < 1 and "extra log factor" in j.flip


def test_theorem_undetermined_with_too_few_points(tmp_path):
    df = _sweep_rows(lambda n, m, k, r, g: 0.01, ns=(1000,), ks=(64,), rhos=(0.5,), ms=(1000,))
    j = _judge_theorem(tmp_path, df)
    assert j.verdict == "undetermined" and "only 1 configurations" in j.evidence


def test_theorem_ignores_configurations_outside_the_regime(tmp_path):
    inside = _sweep_rows(lambda n, m, k, r, g: 0.3 * k * math.log(m) / (r * n)
                         * math.exp(g.normal(0, 0.05)))
    outside = _sweep_rows(lambda n, m, k, r, g: 0.9, ks=(8,))  # ρn > k²: not in the regime
    assert not outside["in_regime"].any()
    j = _judge_theorem(tmp_path, pd.concat([inside, outside]))
    assert j.verdict == "holds" and j.numbers["n_points"] == inside["in_regime"].sum() / 4


def test_drift_matches_linregress_with_one_covariate():
    """Only n varies: b and its se are the simple regression's slope and stderr (scipy)."""
    rng = np.random.default_rng(3)
    df = _sweep_rows(lambda n, m, k, r, g: 0.02 * (n / 1000) ** 0.2 * math.exp(g.normal(0, .1)),
                     ks=(128,), rhos=(0.5,), ms=(1000,), seeds=(0, 1, 2), rng=rng)
    sel = theorem_part._selection(df, theorem_part.RULE)
    got = theorem_part._drift(sel)
    ref = stats.linregress(np.log(sel["n"]), np.log(sel["ratio"]))
    assert got["covariates"] == 0 and got["df"] == len(sel) - 2
    assert got["b"] == pytest.approx(ref.slope) and got["se"] == pytest.approx(ref.stderr)


def test_constants_table_is_the_max_per_n():
    df = _sweep_rows(lambda n, m, k, r, g: g.uniform(0.01, 0.1))
    table = theorem_part.constants_table(df)
    sel = df[(df["bias_rule"] == "calibrated") & df["in_regime"]]
    ratio = sel["rel_error_sq"] / (sel["bound"] * np.log(sel["m"]))
    assert list(table.columns) == list(theorem_part.CONSTANT_COLUMNS)
    np.testing.assert_allclose(table["c_max"], ratio.groupby(sel["n"]).max().to_numpy())
    assert table["n_configs"].tolist() == sel.groupby("n").size().tolist()


# ---------------------------------------------------------------- bias


def _paired_bias(calibrated, theory, n_pairs=30, seed=0):
    rng = np.random.default_rng(seed)
    oracle = rng.uniform(0.01, 0.2, n_pairs)
    df = pd.DataFrame({"n": np.arange(n_pairs) + 1000, "m": 1000, "k_top": 16, "rho": 0.5,
                       "weights": "gaussian", "seed": 0, "oracle": oracle,
                       "calibrated": oracle * np.exp(rng.normal(*calibrated, n_pairs)),
                       "theory": oracle * np.exp(rng.normal(*theory, n_pairs))})
    df["m_over_rho_n"] = df["m"] / (df["rho"] * df["n"])
    df["none"] = df["m_over_rho_n"] * 1.01
    return df[list(bias_part.PAIRED_COLUMNS)]


@pytest.mark.parametrize("calibrated, theory, n_pairs, verdict", [
    ((0.01, 0.02), (0.9, 0.1), 30, "holds"),  # near-oracle, theory ×2.5 worse
    ((0.0, 0.02), (0.02, 0.02), 30, "holds"),  # both near-oracle
    ((0.7, 0.05), (0.9, 0.1), 30, "does not hold"),  # calibrated ×2 worse than the oracle
    ((0.15, 0.3), (0.2, 0.3), 6, "undetermined"),  # too noisy to tell
])
def test_bias_verdicts(tmp_path, calibrated, theory, n_pairs, verdict):
    folder = _write(tmp_path / "bias", "paired.csv", _paired_bias(calibrated, theory, n_pairs))
    j = bias_part.judge(folder)
    assert j.verdict == verdict, j.evidence
    assert j.numbers["none_over_m_rho_n"] == pytest.approx(1.01)


def test_bias_comparison_interval_is_a_paired_t_interval():
    df = _paired_bias((0.05, 0.1), (0.5, 0.2), 12)
    row = bias_part.comparison_table(df).set_index("comparison").loc["calibrated/oracle"]
    v = np.log(df["calibrated"] / df["oracle"])
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert row["lo"] == pytest.approx(lo) and row["hi"] == pytest.approx(hi)
    # TOST p before Holm is the larger of the two one-sided t tests; Holm over 3 multiplies
    margin = math.log(1.25)
    p_low = stats.ttest_1samp(v, -margin, alternative="greater").pvalue
    p_high = stats.ttest_1samp(v, margin, alternative="less").pvalue
    assert row["p_inside"] >= max(p_low, p_high) - 1e-12


# ---------------------------------------------------------------- depth


def _depth_samples(means, sd=0.05, n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d, mean in enumerate(means, start=1):
        for layer in range(1, d + 1):
            err = np.clip(rng.normal(mean if layer == d else 0.9, sd, n), 0, None)
            rows.append(pd.DataFrame({"n": 1000, "m": 250, "k_top": 8, "depth": d,
                                      "weights": "gaussian", "degree": "", "seed": 0,
                                      "bias_rule": "calibrated", "layer": layer,
                                      "sample": np.arange(n), "rel_error_sq": err,
                                      "support_f1": 0.5}))
    return pd.concat(rows)[list(SAMPLE_COLUMNS)]


@pytest.mark.parametrize("means, sd, n, verdict", [
    ((0.1, 0.2, 0.3), 0.05, 40, "holds"),
    ((0.1, 0.2, 0.8), 0.05, 40, "does not hold"),
    ((0.1, 0.2, 0.5), 0.2, 10, "undetermined"),
])
def test_depth_verdicts(tmp_path, means, sd, n, verdict):
    folder = _write(tmp_path / "depth", "samples.csv", _depth_samples(means, sd, n))
    j = depth_part.judge(folder)
    assert j.verdict == verdict, j.evidence
    # lower layers (error 0.9 here) are not the judged top layer
    assert j.numbers["top_error_depth_1"] == pytest.approx(means[0], abs=0.1)


def test_depth_table_oracles():
    df = _depth_samples((0.1, 0.3), sd=0.1, n=25, seed=2)
    table = depth_part.depth_table(df).set_index("depth")
    top = [df[(df["depth"] == d) & (df["layer"] == d)]["rel_error_sq"] for d in (1, 2)]
    welch = stats.ttest_ind(top[1], top[0], equal_var=False)
    lo, hi = welch.confidence_interval(0.95)
    assert table.loc[2, "diff_lo"] == pytest.approx(lo) and table.loc[2, "diff_hi"] == \
        pytest.approx(hi)
    one_sided = [stats.ttest_1samp(t, 0.5, alternative="less").pvalue for t in top]
    np.testing.assert_allclose(sorted(table["p_below_level"]),
                               sorted(np.minimum(1, np.maximum.accumulate(
                                   np.sort(one_sided) * [2, 1]))))


# ---------------------------------------------------------------- sparse


def _sparse_paired(effects, n_pairs=8, sd=0.05, seed=0, k=16, m=1000):
    rng = np.random.default_rng(seed)
    rows = []
    for degree, effect in effects.items():
        dense = rng.uniform(0.02, 0.1, n_pairs)
        sp = dense * np.exp(rng.normal(effect, sd, n_pairs))
        rows.append(pd.DataFrame({"n": 1000 * (np.arange(n_pairs) + 1), "m": m, "k_top": k,
                                  "rho": 0.5, "seed": 0, "degree": degree,
                                  "rel_error_sq_sparse": sp, "rel_error_sq_dense": dense,
                                  "log_ratio": np.log(sp / dense),
                                  "d_k_over_m": degree * k / m}))
    return pd.concat(rows)[list(sparse_part.PAIRED_COLUMNS)]


@pytest.mark.parametrize("effects, n_pairs, sd, verdict", [
    ({16: 1.0, 256: 0.02}, 8, 0.05, "holds"),  # d=16 is off (d·k/m = 0.26) but not covered
    ({16: 0.0, 256: math.log(3)}, 8, 0.05, "does not hold"),
    ({16: 0.0, 256: 0.3}, 4, 0.3, "undetermined"),
    ({16: 0.0, 64: 0.0}, 8, 0.05, "undetermined"),  # no degree with d·k/m ≥ 2
])
def test_sparse_verdicts(tmp_path, effects, n_pairs, sd, verdict):
    folder = _write(tmp_path / "sparse", "paired.csv", _sparse_paired(effects, n_pairs, sd))
    j = sparse_part.judge(folder)
    assert j.verdict == verdict, j.evidence


def test_sparse_degree_table_interval_and_holm():
    df = _sparse_paired({64: 0.1, 256: 0.05}, n_pairs=6, sd=0.2, seed=4)
    table = sparse_part.degree_table(df).set_index("degree")
    raw = {}
    for d in (64, 256):
        v = df[df["degree"] == d]["log_ratio"]
        lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        assert table.loc[d, "lo"] == pytest.approx(lo) and table.loc[d, "hi"] == \
            pytest.approx(hi)
        raw[d] = stats.ttest_1samp(v, math.log(1.5), alternative="greater").pvalue
    order = sorted(raw, key=raw.get)  # Holm with 2 tests: 2·p_min, then max with p_max
    assert table.loc[order[0], "p_above"] == pytest.approx(min(1, 2 * raw[order[0]]))
    assert table.loc[order[1], "p_above"] == pytest.approx(
        min(1, max(2 * raw[order[0]], raw[order[1]])))


# ---------------------------------------------------------------- baselines


def _baseline_samples(*, ff_err=0.2, ff_sec=1e-5, solver_sec=1e-2, matched_err=1.0,
                      matched_iters=0, n=16, seed=0, settings=((1000, 500, 10),)):
    rng = np.random.default_rng(seed)
    rows = []

    def block(setting, method, budget, iters, err, sec):
        return pd.DataFrame({"n": setting[0], "m": setting[1], "k": setting[2],
                             "method": method, "budget": budget, "iterations": iters,
                             "sample": np.arange(n), "rel_error_sq": np.clip(err, 0, None),
                             "support_f1": 0.5, "seconds": sec})

    for setting in settings:
        ff = ff_err + rng.normal(0, 0.03, n)
        rows.append(block(setting, "feedforward", "full", -1, ff, ff_sec))
        for method in ("nnls", "lasso", "omp"):
            rows.append(block(setting, method, "full", -1, np.full(n, 1e-12), solver_sec))
            err = (np.full(n, 1.0) if matched_iters == 0
                   else matched_err + rng.normal(0, 0.03, n))
            rows.append(block(setting, method, "matched", matched_iters, err,
                              0.0 if matched_iters == 0 else ff_sec))
    return pd.concat(rows)[["n", "m", "k", *BASELINE_SAMPLE_COLUMNS]]


@pytest.mark.parametrize("kwargs, verdict", [
    ({}, "holds"),  # 1000× faster; solvers have only ĥ = 0 at matched time
    ({"matched_iters": 2, "matched_err": 0.05}, "does not hold"),  # a solver beats it
    ({"solver_sec": 5e-5}, "does not hold"),  # only 5× faster
    ({"solver_sec": 5e-4}, "undetermined"),  # 50×: fast, not ≥ 100×
    ({"matched_iters": 2, "matched_err": 0.21, "n": 6}, "undetermined"),  # a tie at matched
])
def test_baselines_verdicts(tmp_path, kwargs, verdict):
    folder = _write(tmp_path / "baselines", "samples.csv", _baseline_samples(**kwargs))
    j = baselines_part.judge(folder)
    assert j.verdict == verdict, j.evidence


def test_baselines_matched_difference_is_paired():
    df = _baseline_samples(matched_iters=3, matched_err=0.25, n=10, seed=5)
    table = baselines_part.matched_table(df)
    ff = df[df["method"] == "feedforward"]["rel_error_sq"].to_numpy()
    omp = df[(df["method"] == "omp") & (df["budget"] == "matched")]["rel_error_sq"].to_numpy()
    row = table.set_index("method").loc["omp"]
    assert row["mean_diff"] == pytest.approx((omp - ff).mean())
    # exact Holm over the family of both directions of every (setting, solver) comparison
    up, down = [], []
    for method in table["method"]:
        sol = df[(df["method"] == method) & (df["budget"] == "matched")]["rel_error_sq"]
        up.append(stats.ttest_rel(sol.to_numpy(), ff, alternative="greater").pvalue)
        down.append(stats.ttest_rel(sol.to_numpy(), ff, alternative="less").pvalue)
    raw = np.array(up + down)
    order = np.argsort(raw)
    adj = np.empty(len(raw))
    adj[order] = np.minimum(1, np.maximum.accumulate((len(raw) - np.arange(len(raw)))
                                                     * raw[order]))
    np.testing.assert_allclose(table["p_ff_better"], adj[: len(up)], rtol=1e-8)
    np.testing.assert_allclose(table["p_solver_better"], adj[len(up):], rtol=1e-8)


# ---------------------------------------------------------------- end to end (tiny scale)


@pytest.mark.parametrize("part", [theorem_part, depth_part, sparse_part, baselines_part])
def test_tiny_end_to_end(tmp_path, part):
    name = part.__name__.rsplit(".", 1)[-1]
    fn = getattr(part, name)
    output = fn(Context(tmp_path, scale="tiny"))
    for item in output.tables + output.figures:
        assert (tmp_path / name / item["path"]).stat().st_size > 0
    j = part.judge(tmp_path / name, part.RULE)
    assert j.verdict in VERDICTS and j.evidence and j.flip
    assert part.RULE.text()


def test_tiny_bias_end_to_end(tmp_path):
    ctx = Context(tmp_path, scale="tiny")
    theorem_part.theorem(ctx)
    output = bias_part.bias(ctx)
    for item in output.tables:
        assert (tmp_path / "bias" / item["path"]).stat().st_size > 0
    j = bias_part.judge(tmp_path / "bias", bias_part.RULE)
    assert j.verdict in VERDICTS and j.numbers["n_pairs"] == 18


def test_theorem_csv_columns_match_the_fixtures(tmp_path):
    """The fixtures above use the columns the run writes."""
    theorem_part.theorem(Context(tmp_path, scale="tiny"))
    df = pd.read_csv(tmp_path / "theorem" / "results.csv")
    assert list(df.columns) == list(SWEEP_COLUMNS)
    assert set(RECOVERY_COLUMNS) <= set(df.columns)
    consts = pd.read_csv(tmp_path / "theorem" / "constants.csv")
    assert list(consts.columns) == list(theorem_part.CONSTANT_COLUMNS)
