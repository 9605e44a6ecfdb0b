"""Tests for load_dataset / DataSplits on the offline data sets and registered toys."""

from __future__ import annotations

import pytest
import torch

from shadownets.data import DataSplits, RawData, load_dataset
from shadownets.data import registry as registry_mod


@pytest.fixture
def toy(monkeypatch):
    """Register 'toy' (official test split) and 'toy-notest' (none) for one test."""
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (200, 3, 4, 4), generator=g, dtype=torch.uint8)
    y = torch.arange(200) % 4
    xt = torch.randint(0, 256, (40, 3, 4, 4), generator=g, dtype=torch.uint8)
    yt = torch.arange(40) % 4
    classes = ("a", "b", "c", "d")
    registry_mod.register_dataset("toy")(
        lambda *, data_dir, download: RawData(x, y, xt, yt, classes))
    registry_mod.register_dataset("toy-notest")(
        lambda *, data_dir, download: RawData(x, y, None, None, classes))
    return x, y, xt, yt


def _ids(x_norm: torch.Tensor, splits: DataSplits) -> set[bytes]:
    return {bytes(r.round().to(torch.uint8).flatten().tolist())
            for r in splits.raw(x_norm) * 255}


def test_official_test_split_kept_and_val_carved(toy):
    x, y, xt, yt = toy
    d = load_dataset("toy", seed=0)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (180, 20, 40)
    assert torch.bincount(d.y_val).tolist() == [5, 5, 5, 5]
    torch.testing.assert_close(d.raw(d.x_test), xt.float() / 255, atol=1e-5, rtol=0)
    assert torch.equal(d.y_test, yt)
    assert not _ids(d.x_train, d) & _ids(d.x_val, d)  # disjoint


def test_no_test_split_gives_60_20_20(toy):
    d = load_dataset("toy-notest", seed=1)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (120, 40, 40)
    for part in (d.y_train, d.y_val, d.y_test):
        counts = torch.bincount(part, minlength=4)
        assert counts.max() - counts.min() == 0  # stratified (balanced classes)
    a, b, c = _ids(d.x_train, d), _ids(d.x_val, d), _ids(d.x_test, d)
    assert len(a | b | c) == 200 and not (a & b or a & c or b & c)


def test_normalisation_uses_train_statistics(toy):
    x, y, _, _ = toy
    d = load_dataset("toy", seed=0, limit_train=60)
    assert d.x_train.dtype == torch.float32 and d.input_shape == (3, 4, 4)
    torch.testing.assert_close(d.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(d.x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3),
                               atol=1e-4, rtol=0)
    raw = d.raw(d.x_train)
    assert raw.shape == d.x_train.shape and raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    ref = raw.double().mean(dim=(0, 2, 3))  # oracle: float64 mean of the un-normalised data
    torch.testing.assert_close(torch.tensor(d.mean, dtype=torch.float64), ref, atol=1e-6, rtol=0)


def test_seeds_reproducible_and_different(toy):
    a, b, c = (load_dataset("toy-notest", seed=s) for s in (3, 3, 4))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_test, c.x_test)


def test_limit_train_and_val_size(toy):
    d = load_dataset("toy", val_size=0.25, limit_train=40)
    assert len(d.y_val) == 50 and len(d.y_train) == 40
    assert torch.bincount(d.y_train).tolist() == [10, 10, 10, 10]
    assert len(load_dataset("toy", val_size=0).y_val) == 0
    assert len(load_dataset("toy", val_size=8).y_val) == 8


def test_digits_offline_default():
    d = load_dataset("digits", download=False)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10 and len(d.classes) == 10
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1079, 359, 359)
    assert d.y_train.dtype == torch.int64 and d.x_train.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "nope"}, "name: unknown data set 'nope'; known data sets: .*digits"),
        ({"name": 3}, "name: expected a data-set name"),
        ({"seed": -2}, "seed: expected a non-negative int, got -2"),
        ({"download": "yes"}, "download: expected True or False"),
        ({"limit_train": 0}, "limit_train: expected None or a positive int, got 0"),
        ({"limit_train": 500}, "limit_train: only 180 training examples, got limit_train=500"),
        ({"val_size": 1.0}, "val_size: a fraction must lie in \\[0, 1\\), got 1.0"),
        ({"val_size": 201}, "val_size: a count must lie in \\[0, 200\\], got 201"),
    ],
)
def test_errors(toy, kwargs, match):
    args = {"name": "toy", **kwargs}
    with pytest.raises(ValueError, match=match):
        load_dataset(args.pop("name"), **args)


def test_raw_checks_channels(toy):
    d = load_dataset("toy")
    with pytest.raises(ValueError, match="x: expected a tensor of shape \\(..., 3, H, W\\)"):
        d.raw(torch.zeros(2, 1, 4, 4))
