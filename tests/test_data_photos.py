"""Tests for shadownets.data.photos: scikit-image's bundled photographs, offline."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from shadownets.audit.adapters import load_data_spec
from shadownets.data import PHOTO_NAMES, load_inputs, load_photos, photo_inputs
from shadownets.data.presets import IMAGENET_MEAN, IMAGENET_STD, get_preset, preprocess

SIZES = {"astronaut": (512, 512), "chelsea": (300, 451), "coffee": (400, 600),
         "motorcycle": (500, 741), "rocket": (427, 640)}


@pytest.fixture()
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the bundled photos must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture()
def no_skimage(monkeypatch):
    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage -> ImportError
    monkeypatch.setitem(sys.modules, "skimage.data", None)


def test_photos_are_the_wheels_rgb_photographs(offline):
    photos = load_photos()
    assert photos.names == PHOTO_NAMES == tuple(sorted(SIZES))
    for name, image in zip(photos.names, photos.images, strict=True):
        assert image.dtype == np.uint8 and image.shape == (*SIZES[name], 3)
        assert image.std() > 20  # a photograph, not a flat or synthetic picture


def test_photo_inputs_go_through_the_imagenet_preset(offline):
    x = photo_inputs()
    assert x.shape == (5, 3, 224, 224) and x.dtype == torch.float32
    chelsea = load_photos(["chelsea"]).images[0]  # 300 x 451 -> 256 x 384 -> crop 224
    resized = np.asarray(Image.fromarray(chelsea).resize((384, 256), Image.Resampling.BILINEAR))
    window = torch.from_numpy(resized[16:240, 80:304].copy()).permute(2, 0, 1).float() / 255
    expected = (window - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(
        IMAGENET_STD).view(3, 1, 1)
    assert (x[1] - expected).abs().max() <= 1.01 / 255 / min(IMAGENET_STD)


def test_subsets_shapes_and_the_data_spec():
    two = photo_inputs(["coffee", "astronaut"])
    torch.testing.assert_close(two[1], photo_inputs()[0])
    gray = photo_inputs(["rocket"], preset="resize", input_shape=(1, 20, 30))
    assert gray.shape == (1, 1, 20, 30)
    luma = np.asarray(Image.fromarray(load_photos(["rocket"]).images[0]).convert("L"))
    torch.testing.assert_close(gray[0], preprocess(luma, get_preset("resize"), size=(20, 30)))
    x = load_inputs("photos", input_shape=(3, 32, 32))  # default preset: resize for 32x32
    assert x.shape == (5, 3, 32, 32)
    torch.testing.assert_close(load_inputs("photos", limit=2), photo_inputs()[:2])
    assert load_data_spec("photos").shape == (5, 3, 224, 224)  # the audit's entry point


def test_errors():
    with pytest.raises(ValueError, match="names: expected some of astronaut, .*, got "
                                         r"\['camera'\]"):
        load_photos(["camera"])
    with pytest.raises(ValueError, match="preset: 'imagenet' makes 224x224 images but the model "
                                         "takes 3x64x64"):
        load_inputs("photos", input_shape=(3, 64, 64), preset="imagenet")


def test_missing_scikit_image_is_one_clear_error(no_skimage):
    with pytest.raises(ValueError, match=r"data 'photos' needs scikit-image, which is not "
                                         r"installed \(pip install scikit-image\)"):
        load_photos()
    with pytest.raises(ValueError, match="needs scikit-image"):
        load_inputs("photos")
