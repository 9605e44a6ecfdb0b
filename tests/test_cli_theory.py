import json

import pytest
from typer.testing import CliRunner

import shadownets.theory.sweep as sweep_mod
from shadownets.cli import app

runner = CliRunner()


def test_recover_json_keys():
    res = runner.invoke(app, ["recover", "--n", "400", "--m", "100", "--k", "4", "--rho", "0.5",
                              "--depth", "2", "--batch", "16", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"rel_error_sq", "bound", "support_f1", "layers"} <= set(out)
    assert len(out["layers"]) == 2
    assert {"rel_error_sq", "bound", "support_f1"} <= set(out["layers"][0])
    assert out["rel_error_sq"] == out["layers"][-1]["rel_error_sq"]


def test_recover_table_and_widths():
    res = runner.invoke(app, ["recover", "--n", "300", "--m", "50", "--k", "3",
                              "--widths", "120,80", "--bias", "-0.1", "--batch", "8"])
    assert res.exit_code == 0, res.output
    assert "(300, 120, 80, 50)" in res.stdout and "rel_error_sq" in res.stdout
    res = runner.invoke(app, ["recover", "--n", "300", "--m", "50", "--k", "3",
                              "--widths", "120,80", "--batch", "8", "--json"])
    out = json.loads(res.stdout)
    assert out["config"]["widths"] == [300, 120, 80, 50]
    assert [row["width"] for row in out["layers"]] == [120, 80, 50]


@pytest.mark.parametrize("args, message", [
    (["--k", "200"], "k must lie in [1, m=100], got k=200"),
    (["--k", "0"], "k must lie in [1, m=100], got k=0"),
    (["--rho", "1.5"], "rho[0] must lie in (0, 1]"),
    (["--bias", "magic"], "--bias must be one of"),
    (["--weights", "sparse", "--degree", "500"], "degree must lie in [1, 100], got 500"),
    (["--degree", "5"], "--degree applies to --weights sparse only, got --weights gaussian"),
    (["--depth", "2", "--widths", "5"], "either --depth or --widths"),
    (["--device", "gpu"], "--device must be cpu, cuda or cuda:N"),
])
def test_recover_bad_input_one_line_no_traceback(args, message):
    base = {"--n": "400", "--m": "100", "--k": "4"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["recover"] + [x for kv in base.items() for x in kv]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0
    assert message in res.stderr
    assert "Traceback" not in res.output


def test_baselines_json():
    res = runner.invoke(app, ["baselines", "--n", "200", "--m", "50", "--k", "3", "--batch", "4",
                              "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert [r["method"] for r in rows] == ["feedforward", "nnls", "lasso", "omp"]
    assert all({"rel_error_sq", "seconds_per_sample"} <= set(r) for r in rows)


def test_sweep_quick_writes_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "QUICK_GRID", sweep_mod.SweepGrid(
        n=(300, 600, 1200), m=(100,), k=(4,), rho=(1.0,), bias=("calibrated",), batch=8))
    res = runner.invoke(app, ["sweep", "--quick", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert {"slope", "slope_lo", "slope_hi", "intercept", "r2"} <= set(summary)
    assert summary["slope_lo"] <= summary["slope"] <= summary["slope_hi"]
    assert (tmp_path / "recovery.png").exists() and (tmp_path / "results.csv").exists()
    assert (tmp_path / "samples.csv").exists()
    res = runner.invoke(app, ["sweep", "--quick", "--out", str(tmp_path), "--resume"])
    assert res.exit_code == 0, res.output  # the finished sweep's summary, nothing run again
    assert "slope_lo" in res.stdout and "95% t interval" in res.stdout
