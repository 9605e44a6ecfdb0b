"""Tests for the report part ``shadows``: paired tests on crafted cosines, and a tiny run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from shadownets.report.base import Context
from shadownets.report.parts.shadows import RULE, judge, pair_tests, shadows_part


def _write(folder, shifts, n=50, sd=0.02, seed=0):
    """cosines.csv with one pair per shift: per-input differences ~ shift + noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, shift in enumerate(shifts):
        init = rng.uniform(0.3, 0.6, n)
        diff = shift + rng.normal(0.0, sd, n)
        frames.append(pd.DataFrame({"net": "n", "layer": f"l{i}", "input": np.arange(n),
                                    "cos_trained": init + diff, "cos_init": init,
                                    "diff": diff}))
    pd.concat(frames).to_csv(folder / "cosines.csv", index=False)
    return folder


def test_holds(tmp_path):
    j = judge(_write(tmp_path, [0.1, 0.1, 0.12, 0.0]), RULE)
    assert j.verdict == "holds" and j.numbers["closer"] == 3 and j.numbers["farther"] == 0


def test_does_not_hold(tmp_path):
    j = judge(_write(tmp_path, [0.1, 0.1, -0.1, 0.0]), RULE)
    assert j.verdict == "does not hold" and j.numbers["farther"] == 1


def test_no_effect_refutes(tmp_path):
    # training changes nothing: every pair is shown within ±margin, which refutes "more like"
    j = judge(_write(tmp_path, [0.0, 0.0, 0.0, 0.0], n=200, sd=0.02), RULE)
    assert j.verdict == "does not hold" and j.numbers["within"] == 4


def test_undetermined(tmp_path):
    # two pairs decided closer, two sitting on the margin: neither rule is met
    j = judge(_write(tmp_path, [0.02, 0.02, 0.1, 0.1], sd=0.05), RULE)
    assert j.verdict == "undetermined"


def test_pair_tests_match_scipy_and_holm(tmp_path):
    _write(tmp_path, [0.05, 0.03], n=30, sd=0.05)
    cos = pd.read_csv(tmp_path / "cosines.csv")
    pairs = pair_tests(cos, RULE)
    groups = [g["diff"] for _, g in cos.groupby("layer", sort=False)]
    up = [sps.ttest_1samp(g, RULE.margin, alternative="greater").pvalue for g in groups]
    down = [sps.ttest_1samp(g, -RULE.margin, alternative="less").pvalue for g in groups]
    raw = np.array(up + down)  # one Holm family for both directions ("outside" conclusions)
    m = len(raw)
    order = np.argsort(raw)
    holm = np.empty(m)
    holm[order] = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * raw[order]))
    np.testing.assert_allclose(pairs["p_above"], holm[: len(up)], rtol=1e-8)
    np.testing.assert_allclose(pairs["p_below"], holm[len(up):], rtol=1e-8)
    assert (pairs["n"] == 30).all()


@pytest.mark.slow
def test_tiny_run_then_judge(tmp_path):
    shadows_part(Context(tmp_path, scale="tiny"))
    cos = pd.read_csv(tmp_path / "shadows" / "cosines.csv")
    assert list(cos.columns) == ["net", "layer", "input", "cos_trained", "cos_init", "diff"]
    np.testing.assert_allclose(cos["diff"], cos["cos_trained"] - cos["cos_init"])
    assert judge(tmp_path / "shadows", RULE).verdict in ("holds", "does not hold",
                                                         "undetermined")
