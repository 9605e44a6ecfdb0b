"""Tests for image folders: the PIL reader, ``folder:PATH`` inputs and training data sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from shadownets.data import load_class_folder, load_dataset, load_image_folder, load_inputs
from shadownets.data.folder import list_image_files
from shadownets.data.inputs import subset_indices
from shadownets.data.presets import IMAGENET_MEAN, IMAGENET_STD
from shadownets.data.registry import get_loader


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


# --------------------------------------------------------------------------- folder:PATH inputs


def _mixed(root):
    """Five images of different sizes and modes: RGB, grayscale, RGBA, palette, in classes and
    directly in ``root``."""
    rng = np.random.default_rng(1)
    _save(root / "top.png", rng.integers(0, 256, (40, 30, 3), dtype=np.uint8))
    _save(root / "b" / "gray.png", np.full((17, 50), 77, dtype=np.uint8))
    _save(root / "b" / "rgba.png", rng.integers(0, 256, (64, 64, 4), dtype=np.uint8))
    (root / "a").mkdir()
    Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).convert("P").save(
        root / "a" / "pal.gif")
    _save(root / "a" / "x.jpg", rng.integers(0, 256, (300, 200, 3), dtype=np.uint8))
    (root / "c").mkdir()  # an empty sub-folder is no error for inputs
    return root


def test_list_image_files_flat_and_classes(folder, tmp_path_factory):
    files, labels, classes = list_image_files(folder[0], classes=True)
    assert classes == ("ant", "cat") and labels == [0, 0, 0, 1, 1] and len(files) == 5
    files, labels, classes = list_image_files(_mixed(tmp_path_factory.mktemp("m")),
                                              classes=False)
    assert [f.name for f in files] == ["top.png", "pal.gif", "x.jpg", "gray.png", "rgba.png"]
    assert labels == [0, 1, 1, 2, 2] and classes == ("", "a", "b")


def test_folder_inputs_of_mixed_sizes_and_modes(tmp_path):
    root = _mixed(tmp_path / "m")
    x = load_inputs(f"folder:{root}")  # no input shape: the imagenet preset
    assert x.shape == (5, 3, 224, 224) and torch.isfinite(x).all()
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    gray = x[3] * std + mean  # grayscale replicated to R = G = B
    torch.testing.assert_close(gray, torch.full_like(gray, 77 / 255))
    small = load_inputs(f"folder:{root}", input_shape=(1, 6, 7))  # resize preset, luma
    assert small.shape == (5, 1, 6, 7)
    torch.testing.assert_close(small[3], torch.full((1, 6, 7), (77 / 255 - 0.5) / 0.5))
    resized = load_inputs(f"folder:{root}", preset="resize")
    assert resized.shape == (5, 3, 224, 224) and not torch.allclose(resized, x)


def test_folder_limit_decodes_only_the_chosen_images(tmp_path):
    root = _mixed(tmp_path / "m")
    every = load_inputs(f"folder:{root}", input_shape=(3, 8, 8))
    x = load_inputs(f"folder:{root}", input_shape=(3, 8, 8), limit=3, seed=5)
    torch.testing.assert_close(x, every[subset_indices(5, 3, seed=5)])
    torch.testing.assert_close(load_inputs(f"folder:{root}", input_shape=(3, 8, 8), limit=2),
                               every[:2])
    (root / "zz_broken.png").write_bytes(b"not a png")  # the second file in order
    assert load_inputs(f"folder:{root}", input_shape=(3, 8, 8), limit=1).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="cannot decode image .*zz_broken.png"):
        load_inputs(f"folder:{root}", input_shape=(3, 8, 8), limit=2)


@pytest.mark.parametrize("make,spec,error,message", [
    (None, "folder:{t}/missing", FileNotFoundError, "data folder not found: .*missing"),
    ("file", "folder:{t}/f.png", FileNotFoundError, "data folder is a file, not a folder"),
    (None, "folder:", ValueError, "folder: needs a path, e.g. folder:images/"),
    ("empty", "folder:{t}/e", ValueError, "folder .*e holds no images with extensions .png"),
    ("broken", "folder:{t}/e", ValueError, "cannot decode image .*broken.jpg"),
    ("wide", "folder:{t}/e", ValueError, r"image .*wide.png has pixels wider than 8 bits "
                                         r"\(PIL mode I;16\)"),
    (None, "nope", ValueError, "data must be one of .*photos or folder:PATH, got 'nope'"),
])
def test_folder_inputs_refuse_with_one_message(tmp_path, make, spec, error, message):
    (tmp_path / "e").mkdir()
    if make == "file":
        _save(tmp_path / "f.png", np.zeros((2, 2, 3), dtype=np.uint8))
    elif make == "broken":
        (tmp_path / "e" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    elif make == "wide":
        Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(tmp_path / "e" / "wide.png")
    with pytest.raises(error, match=message):
        load_inputs(spec.format(t=tmp_path))


def test_preset_options_are_checked(tmp_path):
    root = _mixed(tmp_path / "m")
    with pytest.raises(ValueError, match="unknown image preset 'crop'; known presets: imagenet"):
        load_inputs(f"folder:{root}", preset="crop")
    with pytest.raises(ValueError, match="preset: applies to folder:PATH and photos, not to the "
                                         "data set 'digits'"):
        load_inputs("digits", preset="imagenet")
    with pytest.raises(ValueError, match=r"input_shape must be \(1 or 3, H, W\)"):
        load_inputs(f"folder:{root}", input_shape=(4, 8, 8))


# --------------------------------------------------------------------------- folder:PATH training


def test_class_folder_keeps_pixels_and_finds_gray(folder, tmp_path):
    root, images = folder
    x, y, classes = load_class_folder(root)
    assert x.dtype == torch.uint8 and x.shape == (5, 3, 6, 5) and y.tolist() == [0, 0, 0, 1, 1]
    assert torch.equal(x[4], torch.from_numpy(images[("cat", 1)]).permute(2, 0, 1))
    for cls in ("p", "q"):
        _save(tmp_path / "g" / cls / "0.png", np.full((3, 4), 9 if cls == "p" else 200,
                                                     dtype=np.uint8))
    x, _, _ = load_class_folder(tmp_path / "g")
    assert x.shape == (2, 1, 3, 4) and x[:, 0, 0, 0].tolist() == [9, 200]
    _save(tmp_path / "g" / "q" / "1.png", np.zeros((5, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"images differ in size \(.*0.png is 3x4, .*1.png is "
                                         r"5x4\); a training folder needs one size"):
        load_class_folder(tmp_path / "g")


def test_folder_is_a_training_data_set(tmp_path):
    rng = np.random.default_rng(3)
    for cls in ("dog", "cat"):
        for i in range(10):
            _save(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    splits = load_dataset(f"folder:{tmp_path}")
    assert splits.classes == ("cat", "dog") and splits.input_shape == (1, 4, 4)
    sizes = [splits.x_train.shape[0], splits.x_val.shape[0], splits.x_test.shape[0]]
    assert sizes == [12, 4, 4]  # 60 / 20 / 20, stratified
    assert splits.x_train.mean().abs() < 1e-5  # normalised with the train split's statistics
    with pytest.raises(FileNotFoundError, match="data folder not found: .*nowhere"):
        get_loader(f"folder:{tmp_path / 'nowhere'}")
    with pytest.raises(ValueError, match="unknown data set 'nope'; known data sets: .*digits"
                                         ".*, folder:PATH"):
        get_loader("nope")


def test_prefix_registration_is_checked():
    from shadownets.data import register_dataset_prefix

    with pytest.raises(ValueError, match="prefix: expected a non-empty string without ':'"):
        register_dataset_prefix("a:b")
    with pytest.raises(ValueError, match="prefix: data-set prefix 'folder' is already "
                                         "registered; pass overwrite=True"):
        register_dataset_prefix("folder")(lambda name: None)
