"""Users' own torchvision-layout nets (written independently of shadownets: the transcription in
``tests/_torchvision_reference.py``) load, reverse, generate and audit through the CLI — as a
``file.py:factory`` model and as a torchvision state dict for the zoo twin — with ReLU and with
GELU / LeakyReLU activations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from shadownets.cli import app

TESTS = Path(__file__).resolve().parent
RUNNER = CliRunner()

FACTORIES = f'''
import sys
sys.path.insert(0, {str(TESTS)!r})
import torch
from torch import nn
import _torchvision_reference as ref

def _swap(model, make):
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, make())
        else:
            _swap(child, make)
    return model

def build(name="alexnet", activation="relu", size=224, seed=0):
    torch.manual_seed(seed)
    model = getattr(ref, name)()
    if activation == "gelu":
        _swap(model, nn.GELU)
    elif activation == "leaky_relu":
        _swap(model, lambda: nn.LeakyReLU(0.01))
    model.input_shape = (3, size, size)
    return model
'''

#: (net, activation, first audited layer) — each net also with a non-ReLU activation
CASES = [("alexnet", "relu", "features.1"), ("alexnet", "gelu", "features.1"),
         ("vgg11_bn", "relu", "features.2"), ("resnet18", "leaky_relu", "relu")]


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    (root / "nets.py").write_text(FACTORIES)
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # smooth random colour images of different sizes
        small = rng.integers(0, 255, (6 + i, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((80 + 10 * i, 72), Image.BILINEAR).save(
            images / f"img{i}.png")
    return root


def _run(args: list[str]) -> None:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output


def _user_net_through_the_cli(root: Path, tmp: Path, name: str, activation: str, layer: str,
                              size: int, data: str) -> None:
    kwargs = json.dumps({"name": name, "activation": activation, "size": size})
    spec = ["--model", f"{root / 'nets.py'}:build", "--model-kwargs", kwargs]
    _run(["layers", *spec])
    _run(["generate", *spec, "--layer", layer, "--data", data, "--n", "2", "--alpha",
          "calibrated", "--out", str(tmp / "shadows.png")])
    assert (tmp / "shadows.png").stat().st_size > 0
    _run(["audit", *spec, "--data", data, "--layers", layer, "--n-inputs", "4", "--n-null",
          "2", "--bootstrap", "20", "--no-figures", "--out", str(tmp / "audit")])
    table = pd.read_csv(tmp / "audit" / "audit.csv")
    assert list(table["layer"]) == [layer]
    assert table["verdict"].iloc[0] in ("random-like", "worse than random",
                                        "better than random", "undetermined")
    assert np.isfinite(table["rel_err_one"]).all()


@pytest.mark.parametrize("name, activation, layer", [
    pytest.param(*case, marks=() if case == ("alexnet", "gelu", "features.1") else
                 pytest.mark.slow) for case in CASES])  # CI: one; all with -m slow
def test_users_torchvision_layout_net_reverses_generates_and_audits(user_files, tmp_path, name,
                                                                    activation, layer):
    _user_net_through_the_cli(user_files, tmp_path, name, activation, layer, 64,
                              f"folder:{user_files / 'images'}")


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn", "resnet18"])
def test_a_torchvision_state_dict_of_the_users_net_loads_into_the_zoo_twin(user_files,
                                                                           tmp_path, name):
    import sys

    sys.path.insert(0, str(TESTS))
    import _torchvision_reference as ref

    torch.manual_seed(1)
    theirs = getattr(ref, name)().eval()
    torch.save(theirs.state_dict(), tmp_path / f"{name}.pth")
    from shadownets.specs import load_model

    ours = load_model(f"zoo:{name}", weights=tmp_path / f"{name}.pth")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.slow
@pytest.mark.parametrize("name, activation, layer", CASES)
def test_users_net_at_224_on_the_bundled_photos(user_files, tmp_path, name, activation, layer):
    _user_net_through_the_cli(user_files, tmp_path, name, activation, layer, 224, "photos")
