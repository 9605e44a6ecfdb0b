import json

import numpy as np
import pandas as pd
import pytest

from shadownets.theory.sweep import (
    QUICK_GRID,
    SWEEP_COLUMNS,
    SweepGrid,
    fit_law,
    run_sweep,
    sweep_to_folder,
)

TINY = SweepGrid(n=(400, 800, 1600), m=(200,), k=(4,), rho=(1.0,), depth=(1, 2),
                 bias=("theory", "calibrated"), batch=16)


def test_sweep_schema_and_rows():
    df = run_sweep(TINY)
    assert list(df.columns) == list(SWEEP_COLUMNS)
    # 3 n × 2 depths × 2 biases, depth-2 runs give 2 rows
    assert len(df) == 3 * 2 * (1 + 2)
    assert set(df["bias_rule"]) == {"theory", "calibrated"}


def test_fit_law_recovers_a_known_slope():
    bound = np.geomspace(1e-3, 1e-1, 12)
    df = pd.DataFrame({"bias_rule": "calibrated", "depth": 1, "layer": 1, "bound": bound,
                       "rel_error_sq": 3.0 * bound ** 0.9, "m": 1000, "in_regime": True})
    fit = fit_law(df)
    assert fit["slope"] == pytest.approx(0.9) and fit["constant"] == pytest.approx(3.0)
    assert fit["r2"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 3 runs"):
        fit_law(df, bias="theory")


def test_measured_law_slope_near_one():
    """The k/(ρn) law holds: fitted slope in [0.7, 1.2] on a small but real grid."""
    grid = SweepGrid(n=(1000, 2000, 4000, 8000), m=(1000,), k=(16, 32), rho=(0.5,),
                     bias=("calibrated",), batch=32)
    fit = fit_law(run_sweep(grid))
    assert 0.7 <= fit["slope"] <= 1.2, fit
    assert fit["r2"] > 0.8


def test_sweep_to_folder_writes_files(tmp_path):
    summary = sweep_to_folder(TINY, tmp_path / "out")
    for name in ("results.csv", "recovery.png", "summary.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"slope", "intercept", "r2"} <= set(saved)
    assert saved["slope"] == pytest.approx(summary["slope"])


def test_degenerate_fits_and_headline_rule(tmp_path):
    df = pd.DataFrame({"bias_rule": "calibrated", "depth": 1, "layer": 1, "bound": 0.01,
                       "rel_error_sq": [0.1, 0.2, 0.3], "m": 1000, "in_regime": True})
    with pytest.raises(ValueError, match="2 distinct values"):
        fit_law(df)
    with pytest.raises(ValueError, match="headline_bias 'calibrated' is not among"):
        sweep_to_folder(SweepGrid(n=(400,), m=(100,), k=(4,), bias=("theory",)), tmp_path)


def test_empty_grid_field():
    with pytest.raises(ValueError, match="'k' must not be empty"):
        SweepGrid(k=())


@pytest.mark.slow
def test_quick_grid_slope_in_range():
    fit = fit_law(run_sweep(QUICK_GRID))
    assert 0.7 <= fit["slope"] <= 1.2
