"""Tests for shadownets.train.tables (markdown tables of a comparison)."""

from __future__ import annotations

import pandas as pd

from shadownets.train.compare import CELL_COLUMNS, DIFF_COLUMNS, RUN_COLUMNS
from shadownets.train.tables import candidates_table, markdown_tables


def test_markdown_tables_content():
    cells = pd.DataFrame([
        ["toy", "100", 100, "plain", 0, "{}", 5, 0.2, 0.21, 0.01],
        ["toy", "100", 100, "shadow", 1, '{"shadow_rho": 0.3}', 5, 0.18, 0.19, 0.02],
        ["toy", "all", 900, "plain", 0, "{}", 5, 0.05, 0.06, 0.005],
        ["toy", "all", 900, "shadow", 0, '{"shadow_rho": 0.5}', 5, 0.05, 0.07, 0.004],
    ], columns=CELL_COLUMNS)
    common = dict(dataset="toy", reference="shadow", other="plain", best_other=True,
                  n_pairs=5, se=0.004, df=4.0, p_diff=0.01, p_equiv=0.9, p_equiv_adj=1.0,
                  family_size=2, power_equiv=0.1, seeds_needed_equiv=40.0)
    diffs = pd.DataFrame([
        dict(common, budget="100", n_labels=100, family="best_other", diff_mean=-0.02,
             ci_low=-0.03, ci_high=-0.01, p_diff_adj=0.02, power_diff=0.31, seeds_needed=12.0,
             verdict="win"),
        dict(common, budget="all", n_labels=900, family="best_other", diff_mean=0.01,
             ci_low=0.005, ci_high=0.015, p_diff_adj=0.02, power_diff=float("nan"),
             seeds_needed=float("nan"), verdict="loss"),
        dict(common, budget="100", n_labels=100, family="each_other", diff_mean=-0.02,
             ci_low=-0.03, ci_high=-0.01, p_diff_adj=0.3, power_diff=0.2, seeds_needed=15.0,
             verdict="undetermined"),
    ])[DIFF_COLUMNS]
    text = markdown_tables(cells, diffs)
    assert "| budget | labels | plain | shadow |" in text
    assert "| 100 | 100 | 0.210 ± 0.010 | 0.190 ± 0.020 |" in text
    assert "| 100 | shadow | shadow_rho=0.3 | 5 | 0.180 |" in text
    assert ("| 100 | plain | 5 | -0.020 | [-0.030, -0.010] | 0.020 | 1.000 | 0.31 | 12 | "
            "**win** |") in text
    assert "| all | plain | 5 | +0.010 | [+0.005, +0.015] | 0.020 | 1.000 | — | — | **loss** |" \
        in text
    assert text.index("| 100 | plain | 5") < text.index("| all | plain | 5")
    assert "shadow − best other method (p-values adjusted over the family's 2 comparisons" in text
    assert ("| 100 | plain (best other) | 5 | -0.020 | [-0.030, -0.010] | 0.300 | 1.000 | 0.20 "
            "| 15 | **undetermined** |") in text


def test_candidates_table_sorted_by_mean_validation_error():
    rows = []
    for seed in (0, 1):
        for budget, base in (("50", 0.3), ("all", 0.1)):
            rows.append(["toy", budget, 10, "plain", 0, "{}", seed, base + 0.02, 0.0, 0, 0, 0])
            rows.append(["toy", budget, 10, "shadow", 0, '{"shadow_rho": 0.3}', seed,
                         base - 0.01 * seed, 0.9, 0, 0, 0])
    text = candidates_table(pd.DataFrame(rows, columns=RUN_COLUMNS))
    assert "mean validation error of every candidate (2 seeds)" in text
    assert "| method | hyper-parameters | 50 | all | mean |" in text
    assert text.index("| shadow | shadow_rho=0.3 | 0.295 | 0.095 | 0.195 |") < text.index(
        "| plain | — | 0.320 | 0.120 | 0.220 |")
    assert "0.900" not in text  # test errors are not shown
