import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shadownets.theory.sweep import (
    QUICK_GRID,
    SAMPLE_COLUMNS,
    SWEEP_COLUMNS,
    SweepGrid,
    fit_law,
    run_sweep,
    sweep_tables,
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


def test_fit_law_slope_interval_matches_linregress():
    """The slope's standard error and t interval against scipy's linregress (an independent
    implementation), for both laws."""
    rng = np.random.default_rng(0)
    bound = np.geomspace(1e-3, 1e-1, 15)
    m = rng.choice([1000, 4000], bound.size)
    err = 2.0 * bound ** 0.85 * np.exp(rng.normal(0, 0.2, bound.size))
    df = pd.DataFrame({"bias_rule": "calibrated", "depth": 1, "layer": 1, "bound": bound,
                       "rel_error_sq": err, "m": m, "in_regime": True})
    fit = fit_law(df, level=0.9)
    q = stats.t.ppf(0.95, bound.size - 2)
    for suffix, x in (("", np.log(bound)), ("_log", np.log(bound * np.log(m)))):
        ref = stats.linregress(x, np.log(err))
        assert fit[f"slope{suffix}"] == pytest.approx(ref.slope)
        assert fit[f"slope_se{suffix}"] == pytest.approx(ref.stderr)
        assert fit[f"slope_lo{suffix}"] == pytest.approx(ref.slope - q * ref.stderr)
        assert fit[f"slope_hi{suffix}"] == pytest.approx(ref.slope + q * ref.stderr)
        assert fit[f"r2{suffix}"] == pytest.approx(ref.rvalue ** 2)
    assert fit["slope_df"] == bound.size - 2 and fit["level"] == 0.9


def test_sweep_tables_per_sample_rows_average_to_the_runs():
    runs, samples = sweep_tables(TINY)
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    assert len(samples) == len(runs) * TINY.batch
    keys = ["n", "depth", "bias_rule", "layer"]
    mean = samples.groupby(keys)["rel_error_sq"].mean()
    np.testing.assert_allclose(runs.set_index(keys)["rel_error_sq"].sort_index(),
                               mean.sort_index(), rtol=1e-12)
    pd.testing.assert_frame_equal(run_sweep(TINY).drop(columns="seconds_infer"),
                                  runs.drop(columns="seconds_infer"))


def test_measured_law_slope_near_one():
    """The k/(ρn) law holds: fitted slope in [0.7, 1.2] on a small but real grid."""
    grid = SweepGrid(n=(1000, 2000, 4000, 8000), m=(1000,), k=(16, 32), rho=(0.5,),
                     bias=("calibrated",), batch=32)
    fit = fit_law(run_sweep(grid))
    assert 0.7 <= fit["slope"] <= 1.2, fit
    assert fit["r2"] > 0.8


def test_sweep_to_folder_writes_files(tmp_path):
    summary = sweep_to_folder(TINY, tmp_path / "out")
    for name in ("results.csv", "samples.csv", "recovery.png", "summary.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"slope", "slope_lo", "slope_hi", "intercept", "r2"} <= set(saved)
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
    assert fit["slope_lo"] < fit["slope"] < fit["slope_hi"]
