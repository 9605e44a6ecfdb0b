"""Tests for the `shadownets train` and `shadownets compare` commands (typer CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shadownets.cli import app

runner = CliRunner()
TINY = ["--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16",
        "--model-kwargs", '{"widths": [16]}']


def test_train_writes_a_run_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--labels", "50", "--method", "input-noise", *TINY,
            "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)
    assert final["epoch"] == 2 and 0.0 <= final["test_error"] <= 1.0
    for name in ("checkpoint.safetensors", "model.safetensors", "state.json", "metrics.csv",
                 "summary.json", "training_curves.png"):
        assert (out / name).is_file()
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and json.loads(again.stdout) == final


def test_zoo_spec_rebuilds_the_saved_model(tmp_path):
    import torch

    from shadownets.train import resolve_zoo_spec

    out = tmp_path / "run"
    assert runner.invoke(app, ["train", "--out", str(out), "--labels", "30", *TINY]).exit_code == 0
    from_run = resolve_zoo_spec(str(out))
    spec = json.loads((out / "state.json").read_text())["model"]
    fresh = resolve_zoo_spec(spec["name"], {**spec["kwargs"], "input_shape": spec["input_shape"],
                                            "num_classes": spec["num_classes"]})
    from safetensors.torch import load_file

    fresh.load_state_dict(load_file(str(out / "model.safetensors")))
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(from_run(x), fresh.eval()(x))
    from shadownets import specs

    via_spec = specs.load_model("zoo:mlp", {**spec["kwargs"], "input_shape": [1, 8, 8],
                                            "num_classes": 10}, weights=out / "model.safetensors")
    assert torch.equal(via_spec(x), from_run(x))
    assert torch.equal(specs.load_model(f"zoo:{out}")(x), from_run(x))
    with pytest.raises(ValueError, match=r"zoo:lenet needs model kwargs \['input_shape'"):
        resolve_zoo_spec("lenet", {})
    with pytest.raises(ValueError, match=r"neither a zoo model .* nor an existing run folder"):
        resolve_zoo_spec("no/such/run", {})


@pytest.mark.parametrize("args, message", [
    (["--method", "mixup"], "error: method must be one of plain, dropout, input-noise, shadow"),
    (["--labels", "many"], "error: --labels/--budgets values must be positive ints or 'all'"),
    (["--model-kwargs", "{bad"], "error: --model-kwargs must be a JSON object"),
    (["--shadow-alpha", "big", "--method", "shadow"], "error: --shadow-alpha must be"),
    (["--model", "resnet"], "error: unknown model 'resnet'; known models:"),
])
def test_train_bad_options_exit_2_with_one_line(tmp_path, args, message):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_compare_tiny_grid(tmp_path):
    args = ["compare", "--out", str(tmp_path), "--budgets", "30", "--seeds", "0,1",
            "--methods", "plain,input-noise", "--reference", "input-noise",
            "--grid", '{"input-noise": [{"noise_std": 0.5}]}', *TINY]
    result = runner.invoke(app, [*args, "--json", "--margin", "0.02", "--alpha", "0.1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["verdicts"][0]["other"] == "plain"
    assert summary["verdicts"][0]["verdict"] in {"win", "tie", "loss", "undetermined"}
    assert (summary["margin"], summary["alpha"], summary["correction"]) == (0.02, 0.1, "holm")
    assert (tmp_path / "diffs.csv").is_file()
    # re-summarise with other rules (no new runs), printed as tables with power
    again = runner.invoke(app, [*args, "--resume", "--correction", "none"])
    assert again.exit_code == 0, again.output
    assert "input-noise − best other method: tie = within ±0.01, none at α = 0.05" in again.stdout
    assert "seeds for 80%" in again.stdout and "verdict" in again.stdout
    judgement = json.loads((tmp_path / "judgement.json").read_text())
    assert judgement["rule"]["correction"] == "none"
    assert judgement["verdict"] in {"holds", "does not hold", "undetermined"}
    assert f"claim 'input-noise improves on the best other method': {judgement['verdict']}" \
        in again.stdout


def test_compare_help_explains_margin():
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--margin" in result.stdout and "Smallest test-error difference" in result.stdout


def test_compare_bad_margin(tmp_path):
    result = runner.invoke(app, ["compare", "--out", str(tmp_path), "--margin", "0"])
    assert result.exit_code == 2
    assert "error: margin must be a positive float" in result.stderr


def test_compare_bad_seeds(tmp_path):
    result = runner.invoke(app, ["compare", "--out", str(tmp_path), "--seeds", "a,b"])
    assert result.exit_code == 2
    assert "error: --seeds must be comma-separated ints" in result.stderr
