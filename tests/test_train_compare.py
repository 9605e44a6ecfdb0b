"""Tests for shadownets.train.compare (and its figure in shadownets.train.plots)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from shadownets.train.compare import (
    CELL_COLUMNS,
    DIFF_COLUMNS,
    RUN_COLUMNS,
    CompareConfig,
    compare,
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


def _runs(shift: dict[str, float], noise: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    base = [0.20, 0.25, 0.22, 0.30, 0.27]
    for budget in shift:
        for seed, b in enumerate(base):
            # plain candidate 0: better on validation, candidate 1: better on TEST only
            rows.append(dict(budget=budget, method="plain", candidate=0, val_error=0.1,
                             test_error=b, seed=seed))
            rows.append(dict(budget=budget, method="plain", candidate=1, val_error=0.3,
                             test_error=b - 0.15, seed=seed))
            rows.append(dict(budget=budget, method="shadow", candidate=0, val_error=0.2,
                             test_error=b + shift[budget] + noise[budget][seed], seed=seed))
    df = pd.DataFrame(rows)
    df["dataset"], df["n_labels"] = "toy", df.budget.astype(int)
    df["params"] = df.candidate.map(lambda c: json.dumps({"c": c}))
    for col in ("val_loss", "test_loss", "train_loss"):
        df[col] = 0.0
    return df[RUN_COLUMNS]


def test_summarise_selects_on_validation_and_gives_verdicts():
    noise = {"10": [0.0, 0.01, -0.01, 0.0, 0.005], "20": [0.0, 0.01, -0.01, 0.0, 0.005],
             "30": [0.05, -0.05, 0.04, -0.04, 0.0]}
    cells, diffs, summary = summarise(_runs({"10": -0.1, "20": 0.1, "30": 0.0}, noise))
    assert list(cells.columns) == CELL_COLUMNS and list(diffs.columns) == DIFF_COLUMNS
    plain = cells[cells.method == "plain"]
    assert (plain.candidate == 0).all()  # validation decides, not the better test error
    verdicts = {v["budget"]: v["verdict"] for v in summary["verdicts"]}
    assert verdicts == {"10": "win", "20": "loss", "30": "tie"}
    win = diffs[diffs.budget == "10"].iloc[0]
    assert win.diff_mean == pytest.approx(-0.1 + 0.001)
    assert win.ci_high < 0 and win.n_pairs == 5 and bool(win.best_other)


def test_tiny_comparison_writes_the_schema_and_resumes(tmp_path):
    from shadownets.data import load_dataset

    splits = {"digits": load_dataset("digits")}
    base = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=16,
                       model_kwargs={"widths": [16]})
    config = CompareConfig(datasets=("digits",), budgets=(30, None),
                           methods=("plain", "input-noise"), seeds=(0, 1), base=base,
                           grids={"input-noise": [{"noise_std": 0.3}, {"noise_std": 1.0}]},
                           reference="input-noise")
    seen = []
    result = compare(config, out_dir=tmp_path, splits=splits, on_run=seen.append)
    assert len(seen) == len(result.runs) == 2 * (1 + 2) * 2
    assert list(result.runs.columns) == RUN_COLUMNS
    assert set(result.runs.budget) == {"30", "all"}
    assert result.runs.test_error.between(0, 1).all()
    assert len(result.cells) == 4 and len(result.diffs) == 2
    assert {v["verdict"] for v in result.summary["verdicts"]} <= {"win", "tie", "loss"}
    for name in ("runs.csv", "cells.csv", "diffs.csv", "summary.json", "tables.md",
                 "error_vs_labels.png"):
        assert (tmp_path / name).stat().st_size > 0
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
