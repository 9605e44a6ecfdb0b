"""CLI: `generate` writes an image grid, `layers` lists activation points (typer CliRunner)."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from safetensors.torch import save_file
from typer.testing import CliRunner

from shadownets.cli import reverse as reverse_cli

NETS = '''
import torch.nn as nn

def small(width=12):
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
    m.input_shape = (1, 8, 8)
    return m

def bare():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU())
'''


@pytest.fixture()
def app():
    app = typer.Typer()
    reverse_cli.register(app)
    return app


@pytest.fixture()
def nets(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(NETS)
    return path


runner = CliRunner()


def test_layers_table_and_json(app, nets):
    res = runner.invoke(app, ["layers", "--model", f"{nets}:small", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == ["0", "1", "2", "3", "4", "5", "6"]
    assert rows[2] == {"name": "2", "kind": "MaxPool2d", "shape": [4, 4, 4], "reversible": True}
    res = runner.invoke(app, ["layers", "--model", f"{nets}:bare", "--input-shape", "4"])
    assert res.exit_code == 0 and "Linear" in res.output
    res = runner.invoke(app, ["layers", "--model", f"{nets}:bare"])
    assert res.exit_code == 2
    assert "--input-shape: required for a model without an input_shape" in res.output


@pytest.mark.parametrize("extra", [[], ["--from-codes", "--unpool", "random"],
                                   ["--alpha", "calibrated", "--rho", "0.5"],
                                   ["--alpha", "0.3"]])
def test_generate_writes_a_png_grid(app, nets, tmp_path, extra):
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    from shadownets.specs import build_model

    save_file(build_model(f"{nets}:small").state_dict(), str(weights))
    out = tmp_path / "grid.png"
    res = runner.invoke(app, ["generate", "--model", f"{nets}:small", "--weights", str(weights),
                              "--layer", "5", "--data", "digits", "--data-dir",
                              str(tmp_path / "data"), "--n", "4", "--out", str(out), "--json",
                              *extra])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["layer"] == "5" and summary["n"] == 4 and len(summary["alphas"]) == 2
    if "0.3" in extra:
        assert summary["alphas"] == [0.3, 0.3]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args,message", [
    (["--alpha", "big"], "--alpha: expected theory, calibrated or a number, got 'big'"),
    (["--layer", "zz"], "layer: unknown activation point 'zz'"),
    (["--model-kwargs", "[1]"], "--model-kwargs: expected a JSON object"),
    (["--unpool", "max"], "unpool: expected one of switches"),
    (["--weights", "/nonexistent/w.pt"], "weights: file not found"),
    (["--n", "0"], "--n: expected a positive number"),
])
def test_generate_errors_are_one_line(app, nets, tmp_path, args, message):
    base = {"--model": f"{nets}:small", "--layer": "5", "--data": "digits",
            "--data-dir": str(tmp_path / "data"), "--out": str(tmp_path / "g.png")}
    for flag in args[::2]:
        base.pop(flag, None)
    argv = ["generate", *[v for kv in base.items() for v in kv], *args]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert message in res.output and res.output.startswith("error:")
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "g.png").exists()
