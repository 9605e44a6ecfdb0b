"""Tests for the PIL image-folder reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from shadownets.data import load_image_folder


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for cls, n in (("cat", 2), ("ant", 3)):
        for i in range(n):
            img = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            _save(tmp_path / cls / f"{i}.png", img)
            images[(cls, i)] = img
    (tmp_path / "ant" / "notes.txt").write_text("ignored")
    return tmp_path, images


def test_reads_classes_sorted_and_pixels_exact(folder):
    root, images = folder
    x, y, classes = load_image_folder(root, size=(6, 5))
    assert classes == ("ant", "cat") and y.tolist() == [0, 0, 0, 1, 1]
    assert x.shape == (5, 3, 6, 5) and x.dtype == torch.float32
    expected = torch.from_numpy(images[("cat", 1)]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(x[4], expected)


def test_resize_and_grayscale(folder):
    x, _, _ = load_image_folder(folder[0], size=(8, 4), grayscale=True)
    assert x.shape == (5, 1, 8, 4) and 0 <= x.min() and x.max() <= 1


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="root: no folder at"):
        load_image_folder(tmp_path / "none")
    with pytest.raises(ValueError, match="has no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="class folder .*empty holds no images"):
        load_image_folder(tmp_path)
    (tmp_path / "empty" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot decode image .*broken.png"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="size: expected \\(height, width\\)"):
        load_image_folder(tmp_path, size=(0, 3))
