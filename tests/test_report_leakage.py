"""Tests for the report part ``leakage``: both claims' rules on crafted files (each verdict),
their statistics against independent computations, and one tiny real run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from shadownets.report.base import Context
from shadownets.report.parts._leakage_run import split_points
from shadownets.report.parts.leakage import (
    COMPARISON_COLUMNS,
    INVERSE_COLUMNS,
    RULE,
    SPLITS,
    WARM_COLUMNS,
    WARM_STEP_COLUMNS,
    LeakageRule,
    inverse_tests,
    judge,
    leakage_part,
    warm_steps,
    warm_tests,
)

STEPS, EVERY = 300, 10
LAYERS = dict(zip(SPLITS, ("net.0", "net.4", "net.8"), strict=True))


def _write(folder, *, gap=0.0, sd=0.01, n=40, speedup=1000.0, reach=None, nets=("n1",),
           seed=0):
    """per_image.csv and curves.csv of a crafted run.

    At conv1 the per-image SSIM difference shadow − rMLE is ``-gap`` + N(0, sd); rMLE takes
    1 s per image and the shadow 1/speedup. ``reach(image) -> step or None``: the true step at
    which warm's PSNR reaches the cold start's final PSNR (20 dB), at every split."""
    rng = np.random.default_rng(seed)
    reach = reach or (lambda i: 0.1 * STEPS)
    rows, curves = [], []
    grid = np.arange(0, STEPS + 1, EVERY)
    for net in nets:
        for split, layer in LAYERS.items():
            base = rng.uniform(0.6, 0.9, n)
            diff = -gap + rng.normal(0.0, sd, n)
            for method, switches, ssim, secs, steps in (
                    ("shadow", "none" if split == "conv1" else "known", base + diff,
                     1.0 / speedup, 0),
                    ("optimize", "n/a", base, 1.0, STEPS),
                    ("warm", "none" if split == "conv1" else "known", base, 1.0, STEPS)):
                for i in range(n):
                    rows.append({"net": net, "dataset": "digits", "split": split,
                                 "layer": layer, "method": method, "switches": switches,
                                 "image": i, "psnr": 15.0, "ssim": ssim[i],
                                 "feature_error": 0.1, "correct": 1.0, "seconds": secs,
                                 "setup_seconds": 0.0, "steps": steps})
            for i in range(n):
                cold = 10.0 + 10.0 * grid / STEPS  # ends at 20 dB
                at = reach(i)
                warm = np.full(grid.shape, 19.0) if at is None else 20.0 + 0.01 * (grid - at)
                for method, psnr in (("optimize", cold), ("warm", warm)):
                    curves.append(pd.DataFrame({
                        "net": net, "dataset": "digits", "split": split, "layer": layer,
                        "method": method, "switches": "n/a", "image": i, "step": grid,
                        "seconds": grid * 1e-3, "objective": 1.0, "psnr": psnr}))
    pd.DataFrame(rows).to_csv(folder / "per_image.csv", index=False)
    pd.concat(curves).to_csv(folder / "curves.csv", index=False)
    return folder


def _claims(j):
    return j.numbers["inverse"]["verdict"], j.numbers["warm"]["verdict"]


# ---------------------------------------------------------------- claim (a)
def test_inverse_holds_when_the_shadow_matches_rmle_much_faster(tmp_path):
    j = judge(_write(tmp_path, gap=0.0), RULE)
    assert _claims(j) == ("holds", "holds") and j.verdict == "holds"
    assert "(a) the transposed net is a correct inverse: holds" in j.evidence


def test_inverse_does_not_hold_when_the_ssim_gap_is_shown_beyond_the_margin(tmp_path):
    j = judge(_write(tmp_path, gap=0.3), RULE)
    assert _claims(j) == ("does not hold", "holds") and j.verdict == "does not hold"
    assert "(b) warm start helps: holds" in j.evidence  # the other claim is still stated


def test_inverse_does_not_hold_when_the_shadow_is_not_fast_enough(tmp_path):
    j = judge(_write(tmp_path, gap=0.0, speedup=50.0), RULE)
    assert _claims(j)[0] == "does not hold" and "speed-up" in j.flip


def test_inverse_undetermined_when_the_interval_straddles_the_margin(tmp_path):
    j = judge(_write(tmp_path, gap=RULE.ssim_margin, sd=0.05), RULE)
    assert _claims(j) == ("undetermined", "holds") and j.verdict == "undetermined"


def test_a_shadow_better_than_rmle_counts_as_within_the_margin(tmp_path):
    assert _claims(judge(_write(tmp_path, gap=-0.2), RULE))[0] == "holds"


def test_inverse_interval_matches_scipy_paired_t_with_bonferroni(tmp_path):
    _write(tmp_path, gap=0.03, sd=0.04, nets=("n1", "n2"))
    per_image = pd.read_csv(tmp_path / "per_image.csv", keep_default_na=False)
    tests = inverse_tests(per_image, RULE)
    assert list(tests.columns) == INVERSE_COLUMNS and list(tests["net"]) == ["n1", "n2"]
    for r in tests.itertuples():
        g = per_image[(per_image.net == r.net) & (per_image.split == "conv1")]
        s = g[g.method == "shadow"].sort_values("image")["ssim"].to_numpy()
        o = g[g.method == "optimize"].sort_values("image")["ssim"].to_numpy()
        ci = sps.ttest_rel(s, o).confidence_interval(confidence_level=1 - RULE.alpha / 2)
        assert r.level == pytest.approx(1 - RULE.alpha / 2)
        assert (r.diff_lo, r.diff_hi) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert r.speedup == pytest.approx(1000.0)


# ---------------------------------------------------------------- claim (b)
def test_warm_does_not_hold_when_warm_needs_most_of_the_steps(tmp_path):
    j = judge(_write(tmp_path, reach=lambda i: 0.8 * STEPS), RULE)
    assert _claims(j) == ("holds", "does not hold") and j.verdict == "does not hold"


def test_warm_undetermined_with_too_few_images(tmp_path):
    # all 6 images reach the target at once, but 6 cannot show a share above 1/2 at 1 − α/3
    j = judge(_write(tmp_path, n=6, reach=lambda i: 0.0), RULE)
    assert _claims(j)[1] == "undetermined" and j.verdict == "undetermined"


def test_images_that_never_reach_the_target_count_against_the_claim(tmp_path):
    # 30 of 40 reach it at 10% of the steps, 10 never: share 0.75, still shown above 1/2
    j = judge(_write(tmp_path, reach=lambda i: 0.1 * STEPS if i < 30 else None), RULE)
    tests = pd.DataFrame(j.numbers["warm"]["tests"])
    assert (tests["reached"] == 30).all() and (tests["never"] == 10).all()
    assert _claims(j)[1] == "holds"
    # 10 of 40: shown below 1/2
    j = judge(_write(tmp_path, reach=lambda i: 0.1 * STEPS if i < 10 else None), RULE)
    assert _claims(j)[1] == "does not hold"


def test_warm_steps_are_the_first_grid_step_reaching_the_target(tmp_path):
    true = {i: 7.0 * i for i in range(40)}  # 0, 7, 14, ... (not on the 10-step grid)
    true[39] = None
    _write(tmp_path, reach=true.get)
    per_image = pd.read_csv(tmp_path / "per_image.csv", keep_default_na=False)
    curves = pd.read_csv(tmp_path / "curves.csv", keep_default_na=False)
    steps = warm_steps(per_image, curves)
    assert list(steps.columns) == WARM_STEP_COLUMNS and len(steps) == 3 * 40
    got = steps[steps.split == "conv1"].set_index("image")["steps_needed"]
    for i, at in true.items():
        if at is None or at > STEPS:
            assert math.isnan(got[i])
        else:
            assert got[i] == math.ceil(at / EVERY) * EVERY
    np.testing.assert_allclose(steps["target_psnr"], 20.0)


def test_warm_share_interval_is_clopper_pearson(tmp_path):
    _write(tmp_path, n=25, reach=lambda i: 0.1 * STEPS if i < 17 else 0.9 * STEPS)
    per_image = pd.read_csv(tmp_path / "per_image.csv", keep_default_na=False)
    curves = pd.read_csv(tmp_path / "curves.csv", keep_default_na=False)
    tests = warm_tests(warm_steps(per_image, curves), RULE)
    assert list(tests.columns) == WARM_COLUMNS
    level = 1 - RULE.alpha / 3
    k, n, a = 17, 25, 1 - level  # the beta-quantile form of the exact interval
    lo, hi = sps.beta.ppf(a / 2, k, n - k + 1), sps.beta.ppf(1 - a / 2, k + 1, n - k)
    for r in tests.itertuples():
        assert (r.reached, r.n) == (k, n) and r.level == pytest.approx(level)
        assert (r.share_lo, r.share_hi) == pytest.approx((lo, hi), rel=1e-7)


def test_the_rule_sets_the_thresholds(tmp_path):
    _write(tmp_path, gap=0.1, reach=lambda i: 0.5 * STEPS)
    assert _claims(judge(tmp_path, RULE)) == ("does not hold", "does not hold")
    loose = LeakageRule(ssim_margin=0.2, step_fraction=0.6)
    assert _claims(judge(tmp_path, loose)) == ("holds", "holds")


def test_a_file_without_a_needed_column_is_refused(tmp_path):
    _write(tmp_path)
    pd.read_csv(tmp_path / "curves.csv").drop(columns="psnr").to_csv(tmp_path / "curves.csv",
                                                                     index=False)
    with pytest.raises(ValueError, match=r"curves.csv: missing column\(s\) \['psnr'\]"):
        judge(tmp_path, RULE)


def test_split_points_of_a_net_that_is_not_lenet_style_are_refused():
    import torch

    from shadownets.train import create_model

    lenet = create_model("lenet", (1, 8, 8), 10).eval()
    assert split_points(lenet, torch.zeros(1, 1, 8, 8)) == LAYERS
    mlp = create_model("mlp", (1, 8, 8), 10).eval()
    with pytest.raises(ValueError, match="not a LeNet-style net"):
        split_points(mlp, torch.zeros(1, 1, 8, 8))


# ---------------------------------------------------------------- a real run
def test_tiny_run_then_judge(tmp_path):
    out = leakage_part(Context(tmp_path, scale="tiny"))
    folder = tmp_path / "leakage"
    for item in out.tables + out.figures:
        assert (folder / item["path"]).is_file(), item
    per_image = pd.read_csv(folder / "per_image.csv", keep_default_na=False)
    digits = per_image[per_image.net == "digits-lenet"]
    assert set(digits["split"]) == set(SPLITS)
    assert set(digits["method"]) == {"shadow", "optimize", "warm", "learned"}
    # warm starts exactly at the shadow it is given (known switches / none), image by image
    steps = pd.read_csv(folder / "warm_steps.csv")
    shadow = digits[(digits.method == "shadow") & digits.switches.isin(["none", "known"])]
    both = steps[steps.net == "digits-lenet"].merge(shadow, on=["split", "image"])
    np.testing.assert_allclose(both["warm_start_psnr"], both["psnr"], rtol=1e-9)
    assert list(pd.read_csv(folder / "comparison.csv").columns) == COMPARISON_COLUMNS
    j = judge(folder, RULE)
    assert j.verdict in ("holds", "does not hold", "undetermined")
    assert j.numbers["inverse"]["tests"][0]["layer"] == "net.0"
