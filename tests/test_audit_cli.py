"""Tests for ``shadownets audit`` (the CLI skin over shadownets.audit)."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from _cli import one_error_line, snapshot
from shadownets.cli import app

MLP = ["--model", "zoo:mlp", "--model-kwargs",
       '{"input_shape": [1, 8, 8], "num_classes": 10, "widths": [48, 32]}']
SMALL = ["--data", "digits", "--n-inputs", "32", "--n-null", "2", "--bootstrap", "20"]


def test_audit_writes_table_json_and_figures(tmp_path):
    out = tmp_path / "audit"
    res = CliRunner().invoke(app, ["audit", *MLP, *SMALL, "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "audit.csv")
    assert list(table["layer"]) == ["net.2", "net.4"]
    doc = json.loads((out / "audit.json").read_text())
    assert [r["layer"] for r in doc["rows"]] == ["net.2", "net.4"]
    assert set(doc["rows"][0]) == set(table.columns)
    assert doc["config"]["n_inputs"] == 32 and doc["model"] == "zoo:mlp"
    for stem in ("ratios", "spectra", "generated"):
        assert (out / f"{stem}.png").stat().st_size > 1000
    assert "verdict" in res.output


def test_audit_loads_weights_and_selects_layers(tmp_path):
    from shadownets.train.models import create_model

    torch.manual_seed(0)
    model = create_model("mlp", (1, 8, 8), 10, widths=[48, 32])
    with torch.no_grad():
        model.net[1].weight.zero_()  # a dead first layer: no input has a code
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    out = tmp_path / "audit"
    res = CliRunner().invoke(app, ["audit", *MLP, *SMALL, "--weights",
                                   str(tmp_path / "w.safetensors"), "--layers", "net.1",
                                   "--no-figures", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "audit.csv")
    assert list(table["layer"]) == ["net.2"]
    assert table["active_frac"].iloc[0] == pytest.approx(float(
        (torch.relu(model.net[1].bias) > 0).float().mean()))
    assert not (out / "ratios.png").exists()


def test_user_errors_exit_2_with_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "--model", "zoo:mlp", "--model-kwargs", "[1]",
                              "--data", "digits", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "--model-kwargs must be a JSON object" in res.output
    res = runner.invoke(app, ["audit", *MLP, *SMALL, "--layers", "net.9", "--out",
                              str(tmp_path)])
    assert res.exit_code == 2 and "is not an auditable layer" in res.output


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                    reason="torchvision is installed")
def test_torchvision_model_without_torchvision(tmp_path):
    res = CliRunner().invoke(app, ["audit", "--model", "torchvision:alexnet", "--data",
                                   f"folder:{tmp_path}", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "needs torchvision, which is not installed" in res.output






def test_audit_never_replaces_an_earlier_audit_silently(tmp_path):
    out = tmp_path / "audit"
    runner = CliRunner()
    cmd = ["audit", *MLP, *SMALL, "--no-figures", "--out", str(out)]
    assert runner.invoke(app, cmd).exit_code == 0
    before = snapshot(out)
    res = runner.invoke(app, cmd)
    assert res.exit_code == 2
    assert "holds a finished audit run; use --overwrite to replace it" in one_error_line(res)
    assert snapshot(out) == before
    res = runner.invoke(app, [*cmd, "--overwrite"])
    assert res.exit_code == 0 and json.loads((out / "run.json").read_text())["status"] == \
        "finished"


def test_audit_that_fails_leaves_no_folder_and_a_users_folder_is_refused(tmp_path):
    runner = CliRunner()
    out = tmp_path / "new"
    res = runner.invoke(app, ["audit", "--model", "zoo:nope", *SMALL, "--out", str(out)])
    assert res.exit_code == 2 and not out.exists()
    one_error_line(res)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "paper.md").write_text("draft")
    res = runner.invoke(app, ["audit", *MLP, *SMALL, "--out", str(mine)])
    assert res.exit_code == 2 and "holds no shadownets run" in one_error_line(res)
    assert (mine / "paper.md").read_text() == "draft" and len(list(mine.iterdir())) == 1


def test_a_failed_overwrite_puts_the_earlier_audit_back(tmp_path):
    out = tmp_path / "audit"
    runner = CliRunner()
    assert runner.invoke(app, ["audit", *MLP, *SMALL, "--no-figures", "--out", str(out)]
                         ).exit_code == 0
    before = snapshot(out)
    res = runner.invoke(app, ["audit", "--model", "zoo:nope", *SMALL, "--out", str(out),
                              "--overwrite"])
    assert res.exit_code == 2
    one_error_line(res)
    assert snapshot(out) == before and not list(tmp_path.glob(".audit.replaced-*"))
