"""Tests for shadownets.train.checkpoint: safetensors round trips and atomic replacement."""

from __future__ import annotations

import pytest
import torch

import shadownets.train.checkpoint as ckpt_mod
from shadownets.train.checkpoint import (
    load_checkpoint,
    load_optimizer_tensors,
    load_run_model,
    model_spec,
    optimizer_tensors,
    save_checkpoint,
    save_weights,
)
from shadownets.train.models import create_model


def _trained(optimizer: str = "adam"):
    torch.manual_seed(0)
    model = create_model("mlp", (1, 4, 4), 3, widths=(8,))
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 1, 4, 4)).pow(2).mean().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizer_state_round_trip_is_exact(optimizer):
    model, opt = _trained(optimizer)
    tensors, groups = optimizer_tensors(opt)
    fresh = type(opt)(model.parameters(), lr=0.5)
    load_optimizer_tensors(fresh, tensors, groups)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for idx, entry in a["state"].items():
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][idx][name]))


def test_checkpoint_round_trip(tmp_path):
    model, opt = _trained()
    rng = {"torch": torch.get_rng_state()}
    save_checkpoint(tmp_path, model, opt, {"epoch": 3, "config": {"a": 1}}, rng=rng)
    ck = load_checkpoint(tmp_path)
    assert ck.state["epoch"] == 3 and ck.state["model"] == model_spec(model)
    for k, v in model.state_dict().items():
        assert torch.equal(ck.model_state[k], v)
    assert torch.equal(ck.rng["torch"], rng["torch"])
    assert {"checkpoint.safetensors", "model.safetensors", "state.json"} <= {
        p.name for p in tmp_path.iterdir()}


def test_run_model_rebuilt_from_folder_and_weights_file(tmp_path):
    model, opt = _trained()
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})
    x = torch.randn(2, 1, 4, 4)
    for source in (tmp_path, tmp_path / "model.safetensors", tmp_path / "checkpoint.safetensors"):
        again = load_run_model(source)
        assert torch.equal(again(x), model.eval()(x))


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, opt = _trained()
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    import safetensors.torch

    real_save = safetensors.torch.save_file

    def crash(tensors, filename, metadata=None):
        real_save(dict(list(tensors.items())[:1]), filename, metadata=metadata)  # partial
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, model, opt, {"epoch": 2})
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before
    assert load_checkpoint(tmp_path).state["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "missing")
    import safetensors.torch

    safetensors.torch.save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match=r"is not a shadownets checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match=r"model must be a zoo model \(ZooNet\); got Linear"):
        save_weights(tmp_path / "w.safetensors", torch.nn.Linear(2, 2))


def test_never_unpickles(tmp_path, monkeypatch):
    model, opt = _trained()
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must not be used")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(ckpt_mod.torch, "load", refuse)
    load_checkpoint(tmp_path)
    load_run_model(tmp_path)
