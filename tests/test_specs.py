"""Model specs: factories by module or file, prefixes, safe weight loading, clear errors."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch import serialization as ser

from shadownets import specs
from shadownets.specs import (
    apply_state_dict,
    build_model,
    list_spec_prefixes,
    load_model,
    load_state_dict,
    register_spec_prefix,
)

FACTORY = '''
import torch.nn as nn

def net(width=5):
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))

class Zoo:
    @staticmethod
    def build():
        return nn.Linear(2, 2)

not_a_model = lambda: 3
'''


@pytest.fixture()
def factory_file(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(FACTORY)
    return path


def _same(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


def test_file_and_module_factories_with_kwargs(factory_file):
    model = build_model(f"{factory_file}:net", {"width": 7})
    assert model[0].out_features == 7
    assert isinstance(build_model(f"{factory_file}:Zoo.build"), nn.Linear)
    assert isinstance(build_model("torch.nn:Linear", {"in_features": 2, "out_features": 3}),
                      nn.Linear)
    assert not load_model(f"{factory_file}:net").training


def test_safetensors_round_trip(factory_file, tmp_path):
    torch.manual_seed(0)
    src = build_model(f"{factory_file}:net")
    path = tmp_path / "w.safetensors"
    save_file(src.state_dict(), str(path))
    _same(load_model(f"{factory_file}:net", None, path), src)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "ddp"])
def test_torch_state_dict_round_trip(factory_file, tmp_path, wrap):
    torch.manual_seed(0)
    src = build_model(f"{factory_file}:net")
    state = src.state_dict()
    obj = {"plain": state, "state_dict": {"state_dict": state, "epoch": 3},
           "model": {"model": state, "step": 10},
           "ddp": {f"module.{k}": v for k, v in state.items()}}[wrap]
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    _same(load_model(f"{factory_file}:net", None, path), src)


def test_gpu_saved_checkpoint_loads_on_cpu(factory_file, tmp_path):
    """Storages tagged "cuda:0" (as a GPU save writes them) load through map_location."""
    torch.manual_seed(0)
    src = build_model(f"{factory_file}:net")

    def cuda_tag(obj):
        return "cuda:0"

    ser.register_package(-1000, cuda_tag, lambda obj, loc: None)
    try:
        buf = io.BytesIO()
        torch.save(src.state_dict(), buf)
    finally:
        ser._package_registry[:] = [e for e in ser._package_registry if e[1] is not cuda_tag]
    path = tmp_path / "gpu.pt"
    path.write_bytes(buf.getvalue())
    if not torch.cuda.is_available():  # the simulation is real: a plain load fails
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    _same(load_model(f"{factory_file}:net", None, path), src)


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": object()}, path)
    with pytest.raises(ValueError, match=r"evil.pt holds a pickled object of type object; "
                                         r"loading it would run code from the file"):
        load_state_dict(path)
    path2 = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path2)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_state_dict(path2)


def test_mismatched_state_dict_lists_keys_and_shapes(factory_file, tmp_path):
    model = build_model(f"{factory_file}:net")
    state = model.state_dict()
    state.pop("2.bias")
    state["extra.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"missing keys \(1\): 2.bias; unexpected keys \(1\): "
                                         r"extra.weight; shape mismatches \(1\): 0.weight "
                                         r"\(4, 3\) vs model \(5, 3\)"):
        apply_state_dict(model, state)


def test_missing_files_and_bad_specs(factory_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="weights: file not found: .*nope.pt"):
        load_model(f"{factory_file}:net", None, tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="spec: model file not found: .*gone.py"):
        build_model(f"{tmp_path}/gone.py:net")
    with pytest.raises(ValueError, match="spec: expected 'package.module:factory'"):
        build_model("no_colon_here")
    with pytest.raises(ValueError, match="spec: expected 'package.module:factory'"):
        build_model("torch.nn:")
    with pytest.raises(ValueError, match="spec: cannot import module 'no_such_pkg_xyz'"):
        build_model("no_such_pkg_xyz:f")
    with pytest.raises(ValueError, match="has no attribute 'nope'; callables there: Zoo, net"):
        build_model(f"{factory_file}:nope")
    with pytest.raises(ValueError, match="returned int, not a torch.nn.Module"):
        build_model(f"{factory_file}:not_a_model")
    with pytest.raises(ValueError, match="kwargs: .* rejected"):
        build_model(f"{factory_file}:net", {"depth": 3})
    with pytest.raises(ValueError, match="kwargs: expected a dict"):
        build_model(f"{factory_file}:net", [1])


def test_registered_prefix(monkeypatch):
    monkeypatch.setattr(specs, "_PREFIXES", {})
    seen = {}

    def resolver(name, kwargs):
        seen["call"] = (name, kwargs)
        return nn.Linear(1, 1)

    register_spec_prefix("zoo", resolver)
    assert list_spec_prefixes() == ["zoo"]
    assert isinstance(build_model("zoo:lenet", {"width": 2}), nn.Linear)
    assert seen["call"] == ("lenet", {"width": 2})
    with pytest.raises(ValueError, match="prefix: 'zoo' is already registered"):
        register_spec_prefix("zoo", lambda n, k: nn.Linear(1, 1))
    with pytest.raises(ValueError, match="prefix: expected an identifier"):
        register_spec_prefix("a.b", resolver)


@pytest.mark.parametrize(("content", "match"), [
    (pickle.dumps({"w": 1}, protocol=4), r"is not a torch checkpoint of tensors only "
                                          r"\(Unsupported operand \d+\); it is not unpickled"),
    (b"not a checkpoint", r"is not a torch checkpoint of tensors only|cannot read"),
])
def test_unreadable_checkpoints_never_advise_unpickling(tmp_path, content, match):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        load_state_dict(path)
    message = str(info.value)
    assert "weights_only" not in message and "\n" not in message
    assert "torch.save(model.state_dict(), path)" in message or "cannot read" in message


def test_a_corrupted_shadownets_weights_file_is_refused(tmp_path):
    """A flipped bit in a `shadownets train` model.safetensors given as --weights is caught by
    the content hash stored in the file (issue 10)."""
    from shadownets.data import load_dataset
    from shadownets.specs import load_model
    from shadownets.train import TrainConfig, fit

    data = load_dataset("digits", limit_train=64)
    fit(TrainConfig(model="mlp", epochs=1), splits=data, out_dir=tmp_path / "r", progress=False)
    good = (tmp_path / "r" / "model.safetensors").resolve()
    raw = bytearray(good.read_bytes())
    raw[-5] ^= 1
    bad = tmp_path / "copy.safetensors"
    bad.write_bytes(bytes(raw))
    kwargs = {"input_shape": [1, 8, 8], "num_classes": 10}
    with pytest.raises(ValueError, match="is corrupt: its content does not match the hash"):
        load_model("zoo:mlp", kwargs, weights=bad)
    assert load_model("zoo:mlp", kwargs, weights=good) is not None
