"""Tests for the data-set registry and RawData checks; a smoke test for every entry."""

from __future__ import annotations

import pytest
import torch

from shadownets.data import RawData, list_datasets, load_dataset, register_dataset
from shadownets.data import registry as registry_mod

OFFLINE = {"digits", "synthetic"}


@pytest.fixture
def isolated(monkeypatch):
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))


def _raw(n=20, classes=("a", "b")) -> RawData:
    return RawData(torch.zeros(n, 1, 2, 2), torch.arange(n) % 2, None, None, classes)


def test_builtins_registered():
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "synthetic"} <= set(list_datasets())
    assert list_datasets() == sorted(list_datasets())


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_every_offline_entry_loads(name):
    d = load_dataset(name, download=False, limit_train=50)
    assert d.x_train.shape == (50, *d.input_shape) and d.y_train.max() < d.num_classes


def test_register_and_load(isolated, tmp_path):
    seen = {}

    @register_dataset("mine")
    def _load(*, data_dir, download):
        seen.update(data_dir=data_dir, download=download)
        return _raw()

    assert "mine" in list_datasets()
    d = load_dataset("mine", data_dir=tmp_path, download=False)
    assert seen == {"data_dir": tmp_path, "download": False} and d.classes == ("a", "b")


def test_register_twice_needs_overwrite(isolated):
    register_dataset("dup")(lambda **_: _raw())
    with pytest.raises(ValueError, match="name: data set 'dup' is already registered"):
        register_dataset("dup")(lambda **_: _raw())
    register_dataset("dup", overwrite=True)(lambda **_: _raw(n=30))
    assert len(load_dataset("dup", val_size=0).y_train) == 24


def test_register_bad_name_and_loader(isolated):
    with pytest.raises(ValueError, match="name: expected a non-empty string"):
        register_dataset("  ")
    with pytest.raises(ValueError, match="loader: expected a callable, got int"):
        register_dataset("x")(3)


def test_loader_must_return_rawdata(isolated):
    register_dataset("bad")(lambda **_: (1, 2))
    with pytest.raises(ValueError, match="loader of data set 'bad' must return RawData, got tuple"):
        load_dataset("bad")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x_train": torch.zeros(4, 2, 2)}, "x_train: expected a tensor of shape \\(N, C, H, W\\)"),
        ({"y_train": torch.zeros(3, dtype=torch.int64)}, "y_train: expected a tensor of shape"),
        ({"y_train": torch.zeros(4)}, "y_train: expected an integer dtype"),
        ({"y_train": torch.tensor([0, 1, 2, 0])}, "y_train: labels must lie in \\[0, 2\\)"),
        ({"x_train": torch.zeros(4, 1, 2, 2, dtype=torch.int32)}, "x_train: expected uint8"),
        ({"x_test": torch.zeros(1, 1, 2, 2)}, "x_test, y_test: give both or neither"),
        ({"x_test": torch.zeros(1, 1, 3, 3), "y_test": torch.zeros(1, dtype=torch.int64)},
         "x_test: image shape \\(1, 3, 3\\) differs"),
        ({"classes": ()}, "classes: expected at least one class name"),
    ],
)
def test_rawdata_checks(kwargs, match):
    args = {"x_train": torch.zeros(4, 1, 2, 2), "y_train": torch.tensor([0, 1, 0, 1]),
            "x_test": None, "y_test": None, "classes": ("a", "b"), **kwargs}
    with pytest.raises(ValueError, match=match):
        RawData(**args)
