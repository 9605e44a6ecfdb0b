"""Users' nets fail cleanly: every bad model, weights file or data set gives one ``error:`` line
on stderr and exit 2, never a traceback (issue 11, item 7)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from _cli import one_error_line
from shadownets.cli import app

NETS = '''
import torch.nn as nn

def small(width=12):
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
    m.input_shape = (1, 8, 8)
    return m

def mnist():
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    m.input_shape = (1, 28, 28)
    return m

def boom():
    raise RuntimeError("factory exploded")

def lookup():
    return {}["missing_key"]

def typed():
    return len(3)
'''

runner = CliRunner()


@pytest.fixture()
def nets(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(NETS)
    return path


def _refused(res, *fragments: str) -> str:
    assert res.exit_code == 2, res.output
    line = one_error_line(res)
    for fragment in fragments:
        assert fragment in line, line
    return line


def _layers(spec: str, *extra: str):
    return runner.invoke(app, ["layers", "--model", spec, *extra])


def _generate(spec: str, tmp_path, *extra: str):
    return runner.invoke(app, ["generate", "--model", spec, "--layer", "1", "--data", "digits",
                               "--data-dir", str(tmp_path / "data"), "--n", "4", "--out",
                               str(tmp_path / "grid.png"), *extra])


def _audit(spec: str, tmp_path, *extra: str, data: str = "digits"):
    return runner.invoke(app, ["audit", "--model", spec, "--data", data, "--data-dir",
                               str(tmp_path / "data"), "--n-inputs", "16", "--n-null", "2",
                               "--bootstrap", "10", "--no-figures", "--out",
                               str(tmp_path / "audit"), *extra])


# --------------------------------------------------------------------------- 1. import / factory


@pytest.mark.parametrize("source, kind", [
    ("def net(:\n", "SyntaxError"),
    ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ("import os\nos.environ['SHADOWNETS_NO_SUCH_VARIABLE']\n", "KeyError"),
])
def test_model_file_that_fails_at_import(tmp_path, source, kind):
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    _refused(_layers(f"{bad}:net"), f"{kind}", f"while importing {bad}")


def test_model_module_that_fails_at_import(tmp_path, monkeypatch):
    (tmp_path / "badmod_user_nets.py").write_text("raise RuntimeError('broken module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _refused(_layers("badmod_user_nets:net"), "RuntimeError: broken module",
             "while importing module 'badmod_user_nets'")


@pytest.mark.parametrize("factory, kind", [("boom", "RuntimeError: factory exploded"),
                                           ("lookup", "KeyError: 'missing_key'"),
                                           ("typed", "TypeError")])
def test_factory_that_raises(nets, factory, kind):
    _refused(_layers(f"{nets}:{factory}"), kind, f"while calling {nets}:{factory}")


def test_train_model_kwargs_rejected(tmp_path):
    res = runner.invoke(app, ["train", "--dataset", "digits", "--model", "mlp",
                              "--model-kwargs", '{"bogus_option": 1}', "--epochs", "1",
                              "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    one_error_line(res)


# --------------------------------------------------------------------------- 2. kwargs


def test_model_kwargs_the_factory_rejects(nets):
    _refused(_layers(f"{nets}:small", "--model-kwargs", '{"depth": 3}'), "rejected",
             "depth", "--model-kwargs")


# --------------------------------------------------------------------------- 3. weights


def _state(nets, **changes):
    from shadownets.specs import build_model

    return build_model(f"{nets}:small", changes).state_dict()


def test_weights_of_another_shape(nets, tmp_path):
    weights = tmp_path / "w.safetensors"
    save_file(_state(nets, width=20), str(weights))
    _refused(_layers(f"{nets}:small", "--weights", str(weights)), "shape mismatches",
             "4.weight (20, 64) vs model (12, 64)")


def test_weights_missing_and_extra_tensors(nets, tmp_path):
    state = _state(nets)
    state.pop("6.bias")
    state["7.weight"] = torch.zeros(2)
    weights = tmp_path / "w.safetensors"
    save_file(state, str(weights))
    _refused(_layers(f"{nets}:small", "--weights", str(weights)), "missing keys (1): 6.bias",
             "unexpected keys (1): 7.weight")


def test_zoo_run_file_with_unknown_metadata_keys(tmp_path):
    from shadownets.train.checkpoint import FORMAT, _safetensors_writer
    from shadownets.train.models import create_model

    model = create_model("mlp", (1, 8, 8), 10)
    meta = {"format": FORMAT, "model": {"name": "mlp", "kwargs": {"no_such_option": 1},
                                        "input_shape": [1, 8, 8], "num_classes": 10}}
    path = tmp_path / "model.safetensors"
    _safetensors_writer({f"model.{k}": v.contiguous() for k, v in model.state_dict().items()},
                        meta)(path)
    _refused(_layers(f"zoo:{path}"), "model 'mlp'", "unexpected keyword argument 'no_such_option'")


# --------------------------------------------------------------------------- 4. not weights


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(300),
                                     b"these are not weights\n"])
def test_safetensors_name_on_something_else(nets, tmp_path, content):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(content)
    _refused(_layers(f"{nets}:small", "--weights", str(weights)), f"weights: cannot read "
             f"{weights}")


# --------------------------------------------------------------------------- 5. data shape


def test_data_that_does_not_fit_the_model(nets, tmp_path):
    line = _refused(_generate(f"{nets}:mnist", tmp_path),
                    "data 'digits' of shape (4, 1, 8, 8) does not fit the model")
    assert not (tmp_path / "grid.png").exists(), line


def test_audit_data_that_does_not_fit_the_model(nets, tmp_path):
    _refused(_audit(f"{nets}:mnist", tmp_path), "does not fit the model")


def test_input_shape_that_does_not_fit_the_model(nets):
    _refused(_layers(f"{nets}:small", "--input-shape", "3,8,8"),
             "input (--input-shape) of shape (1, 3, 8, 8) does not fit the model")


# --------------------------------------------------------------------------- 6. bomb


@pytest.mark.parametrize("limit", [600, 200])  # warning (> limit), error (> 2 x limit)
def test_decompression_bomb_in_an_image_folder(nets, tmp_path, monkeypatch, limit):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (30, 30)).save(folder / "bomb.png")  # 900 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    _refused(_audit(f"{nets}:small", tmp_path, data=f"folder:{folder}"),
             f"image {folder / 'bomb.png'} is too large")


# --------------------------------------------------------------------------- 7. NaN weights


@pytest.fixture()
def nan_weights(nets, tmp_path):
    state = _state(nets)
    state["4.weight"][0, 0] = float("nan")
    weights = tmp_path / "nan.safetensors"
    save_file(state, str(weights))
    return weights


def test_layers_refuses_non_finite_weights(nets, nan_weights):
    _refused(_layers(f"{nets}:small", "--weights", str(nan_weights)),
             "model has non-finite weights in 4.weight")


def test_generate_refuses_non_finite_weights(nets, nan_weights, tmp_path):
    _refused(_generate(f"{nets}:small", tmp_path, "--weights", str(nan_weights)),
             "model has non-finite weights in 4.weight")
    assert not (tmp_path / "grid.png").exists()


def test_audit_refuses_non_finite_weights(nets, nan_weights, tmp_path):
    _refused(_audit(f"{nets}:small", tmp_path, "--weights", str(nan_weights)),
             "model has non-finite weights in 4.weight")


# --------------------------------------------------------------------------- 8. memory


@pytest.mark.parametrize("exc", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't "
                 "allocate memory: you tried to allocate 123456789 bytes."),
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    MemoryError(),
])
def test_layers_out_of_memory(nets, monkeypatch, exc):
    reverse_mod = importlib.import_module("shadownets.reverse")

    def oom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(reverse_mod, "list_layers", oom)
    _refused(_layers(f"{nets}:small"), "not enough memory for layers", "fewer inputs")


def test_audit_out_of_memory(nets, monkeypatch, tmp_path):
    audit_mod = importlib.import_module("shadownets.audit")

    def oom(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           "99999999999 bytes")

    monkeypatch.setattr(audit_mod, "run_audit", oom)
    _refused(_audit(f"{nets}:small", tmp_path), "not enough memory for audit")


def test_factory_out_of_memory(tmp_path):
    bad = tmp_path / "huge.py"
    bad.write_text("def net():\n    raise MemoryError()\n")
    _refused(_layers(f"{bad}:net"), "not enough memory for layers")


# --------------------------------------------------------------------------- 9. debug


def test_debug_shows_the_traceback(nets, monkeypatch):
    res = _layers(f"{nets}:boom")
    assert res.exit_code == 2
    monkeypatch.setenv("SHADOWNETS_DEBUG", "1")
    res = _layers(f"{nets}:boom")
    assert res.exit_code != 2 and isinstance(res.exception, ValueError)
    assert isinstance(res.exception.__cause__, RuntimeError)  # the user's own error, chained


def test_help_documents_debug():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "SHADOWNETS_DEBUG=1" in res.output
