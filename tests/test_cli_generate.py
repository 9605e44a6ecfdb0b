"""CLI: `generate` writes an image grid, `layers` lists activation points (typer CliRunner)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import typer
from safetensors.torch import save_file
from typer.testing import CliRunner

from _cli import refused
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
    (["--model-kwargs", "[1]"], "--model-kwargs must be a JSON object"),
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


# --------------------------------------------------------------------------- folder:PATH, photos


@pytest.fixture()
def image_folder(tmp_path):
    """Three colour images of different sizes, one in a class sub-folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "cls").mkdir(parents=True)
    for path, size in ((root / "a.png", (20, 30)), (root / "b.jpg", (9, 9)),
                       (root / "cls" / "c.png", (64, 40))):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return root


@pytest.mark.parametrize("data,extra,n", [
    ("folder", [], 3),  # the net takes 1x8x8: resize preset, colour read as luma
    ("folder", ["--preset", "resize"], 3),
    ("photos", [], 4),  # --n 4 of the five bundled photographs
])
def test_generate_from_images(app, nets, tmp_path, image_folder, data, extra, n):
    spec = f"folder:{image_folder}" if data == "folder" else "photos"
    out = tmp_path / "grid.png"
    res = runner.invoke(app, ["generate", "--model", f"{nets}:small", "--layer", "5", "--data",
                              spec, "--n", "4", "--out", str(out), "--json", *extra])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n"] == n
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("data,extra,message", [
    ("folder:{t}/nowhere", [], "data folder not found: {t}/nowhere"),
    ("folder:{t}/images", ["--preset", "imagenet"],
     "preset: 'imagenet' makes 224x224 images but the model takes 1x8x8 inputs"),
    ("photos", ["--preset", "vgg"], "unknown image preset 'vgg'; known presets: imagenet, resize"),
    ("digits", ["--preset", "resize"], "preset: applies to folder:PATH and photos, not to the "
                                       "data set 'digits'"),
    ("folder:{t}/empty", [], "folder {t}/empty holds no images"),
    ("folder:{t}/images", ["--n", "5"], "cannot decode image {t}/images/z.png"),
    ("mnist-ish", [], "data must be one of cifar10, digits"),
])
def test_generate_image_errors_are_one_line(app, nets, tmp_path, image_folder, data, extra,
                                            message):
    (tmp_path / "empty").mkdir()
    (image_folder / "z.png").write_bytes(b"not a png")
    res = runner.invoke(app, ["generate", "--model", f"{nets}:small", "--layer", "5", "--data",
                              data.format(t=tmp_path), "--data-dir", str(tmp_path / "data"),
                              "--out", str(tmp_path / "g.png"), *extra])
    refused(res, message.format(t=tmp_path))
    assert not (tmp_path / "g.png").exists()


def test_generate_photos_without_scikit_image(app, nets, tmp_path, monkeypatch):
    import sys

    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)
    res = runner.invoke(app, ["generate", "--model", f"{nets}:small", "--layer", "5", "--data",
                              "photos", "--out", str(tmp_path / "g.png")])
    refused(res, "data 'photos' needs scikit-image, which is not installed (pip install "
                 "scikit-image)")
