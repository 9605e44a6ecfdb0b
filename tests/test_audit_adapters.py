"""Tests for shadownets.audit.adapters: inputs, data specs and hub model specs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from shadownets.audit.adapters import (
    IMAGENET_MEAN,
    as_inputs,
    load_data_spec,
    resolve_timm_spec,
    resolve_torchvision_spec,
    subset_inputs,
)


def _write_images(folder, n, size=(5, 4), value=128):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(folder / f"{i}.png")


def test_as_inputs_tensor_array_and_splits():
    x = torch.arange(12).reshape(4, 3)
    assert as_inputs(x).dtype == torch.float32
    assert torch.equal(as_inputs(np.ones((2, 3), dtype=np.float32)), torch.ones(2, 3))

    class Splits:
        x_test = torch.zeros(3, 1, 2, 2)

    assert as_inputs(Splits()).shape == (3, 1, 2, 2)


def test_subset_is_seeded_and_sorted():
    x = torch.arange(100).float()[:, None]
    a, b = subset_inputs(x, 10, seed=3), subset_inputs(x, 10, seed=3)
    assert torch.equal(a, b) and a.shape == (10, 1)
    assert torch.all(a[1:, 0] > a[:-1, 0])
    assert torch.equal(subset_inputs(x[:5], 10, seed=0), x[:5])


def test_folder_with_classes_and_flat(tmp_path):
    _write_images(tmp_path / "cls" / "a", 2)
    _write_images(tmp_path / "cls" / "b", 1)
    x = load_data_spec(f"folder:{tmp_path / 'cls'}", input_shape=(3, 6, 7))
    assert x.shape == (3, 3, 6, 7)
    expected = (128 / 255 - IMAGENET_MEAN[0]) / 0.229
    assert float(x[0, 0, 0, 0]) == pytest.approx(expected, rel=1e-5)
    _write_images(tmp_path / "flat", 2)
    assert load_data_spec(f"folder:{tmp_path / 'flat'}").shape == (2, 3, 224, 224)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="data must be a tensor of inputs .* got list"):
        as_inputs([1, 2])
    with pytest.raises(ValueError, match=r"data must have shape \(batch >= 2, ...\), got \(5,\)"):
        as_inputs(torch.zeros(5))
    with pytest.raises(ValueError, match="data must be finite"):
        as_inputs(torch.tensor([[float("nan")], [1.0]]))
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        load_data_spec(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="data must be one of .* or folder:PATH, got 'nope'"):
        load_data_spec("nope")
    (tmp_path / "f").mkdir()
    with pytest.raises(ValueError, match=r"input_shape must be \(1 or 3, H, W\)"):
        load_data_spec(f"folder:{tmp_path / 'f'}", input_shape=(2, 4, 4))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                    reason="torchvision is installed")
def test_torchvision_absent_gives_a_clear_error():
    with pytest.raises(ValueError, match="torchvision:alexnet needs torchvision, which is not"):
        resolve_torchvision_spec("alexnet", {})


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed")
def test_timm_absent_gives_a_clear_error():
    with pytest.raises(ValueError, match="timm:resnet18 needs timm, which is not installed"):
        resolve_timm_spec("resnet18", {})


def test_torchvision_alexnet_builds_when_available():
    pytest.importorskip("torchvision")
    net = resolve_torchvision_spec("alexnet", {"weights": None})
    assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
