"""Tests for shadownets.data.presets: the imagenet and resize pipelines against PIL and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from shadownets.data.presets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    ImagePreset,
    center_crop,
    get_preset,
    list_presets,
    preprocess,
    resize_shorter,
    resolve_preset,
)

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def _pil_imagenet(image: np.ndarray) -> torch.Tensor:
    """The standard pipeline written out with PIL: Resize(256), CenterCrop(224), ToTensor."""
    h, w = image.shape[:2]
    if h <= w:
        new_h, new_w = 256, int(256 * w / h)
    else:
        new_h, new_w = int(256 * h / w), 256
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = int(round((new_h - 224) / 2)), int(round((new_w - 224) / 2))
    crop = np.asarray(resized)[top:top + 224, left:left + 224]
    return torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255


def test_named_presets():
    assert list_presets() == ["imagenet", "resize"]
    assert get_preset("imagenet") == ImagePreset(resize=256, crop=224, mean=IMAGENET_MEAN,
                                                 std=IMAGENET_STD)
    assert PRESETS["resize"].resize is None and PRESETS["resize"].crop is None
    custom = ImagePreset(resize=40, crop=32)
    assert get_preset(custom) is custom


@pytest.mark.parametrize("shape", [(37, 53), (61, 29), (300, 451)])
def test_imagenet_matches_pil_within_one_grey_level(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = preprocess(image, get_preset("imagenet"))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    raw = out * STD + MEAN  # undo the normalisation
    assert (raw - _pil_imagenet(image)).abs().max() <= 1.01 / 255


def test_imagenet_without_resize_is_an_exact_centre_window():
    # the shorter side already 256: no resampling, so the output is a slice of the pixels
    image = np.random.default_rng(1).integers(0, 256, (256, 301, 3), dtype=np.uint8)
    out = preprocess(image, get_preset("imagenet"))
    left = round((301 - 224) / 2)  # 38.5 -> 38 (round half to even, as torchvision)
    window = torch.from_numpy(image[16:240, left:left + 224]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(out, (window - MEAN) / STD)


def test_constant_image_gives_the_normalised_constant():
    image = np.empty((30, 47, 3), dtype=np.uint8)
    image[...] = (200, 100, 50)
    for name in ("imagenet", "resize"):
        out = preprocess(image, get_preset(name), size=(16, 20))
        expected = [(v / 255 - m) / s for v, m, s in zip((200, 100, 50), IMAGENET_MEAN,
                                                        IMAGENET_STD, strict=True)]
        for c in range(3):
            torch.testing.assert_close(out[c], torch.full(out.shape[1:], expected[c]),
                                       atol=1e-6, rtol=0)
    gray = preprocess(np.full((9, 9), 51, dtype=np.uint8), get_preset("resize"), size=(4, 5))
    assert gray.shape == (1, 4, 5)
    torch.testing.assert_close(gray, torch.full((1, 4, 5), (51 / 255 - 0.5) / 0.5))


def test_resize_preset_stretches_to_the_model_size():
    image = np.random.default_rng(2).integers(0, 256, (20, 10, 3), dtype=np.uint8)
    out = preprocess(image, get_preset("resize"), size=(8, 12))
    assert out.shape == (3, 8, 12)
    pil = np.asarray(Image.fromarray(image).resize((12, 8), Image.Resampling.BILINEAR))
    expected = torch.from_numpy(pil.copy()).permute(2, 0, 1).float() / 255
    assert (out * STD + MEAN - expected).abs().max() <= 1.01 / 255
    same = preprocess(image, get_preset("resize"), size=(20, 10))  # right size: untouched
    torch.testing.assert_close(same * STD + MEAN,
                               torch.from_numpy(image).permute(2, 0, 1).float() / 255)


def test_size_and_offset_rules_by_hand():
    x = torch.zeros(3, 300, 451)
    assert resize_shorter(x, 256).shape == (3, 256, 384)  # int(256 * 451 / 300) = 384
    assert resize_shorter(x.transpose(1, 2), 256).shape == (3, 384, 256)
    assert resize_shorter(torch.zeros(1, 256, 999), 256).shape == (1, 256, 999)
    grid = torch.arange(7 * 6).float().view(1, 7, 6)
    # offsets round((7 - 2) / 2) = round(2.5) = 2 and round((6 - 3) / 2) = round(1.5) = 2
    torch.testing.assert_close(center_crop(grid, (2, 3)), grid[:, 2:4, 2:5])
    with pytest.raises(ValueError, match="crop: a 8x3 window does not fit in a 7x6 image"):
        center_crop(grid, (8, 3))


def test_resolve_preset_default_and_checks():
    preset, channels, size = resolve_preset(None, None)
    assert preset == PRESETS["imagenet"] and channels == 3 and size == (224, 224)
    assert resolve_preset(None, (1, 224, 224))[:2] == (PRESETS["imagenet"], 1)
    assert resolve_preset(None, (3, 32, 32)) == (PRESETS["resize"], 3, (32, 32))
    assert resolve_preset("resize", None) == (PRESETS["resize"], 3, (224, 224))
    with pytest.raises(ValueError, match="preset: 'imagenet' makes 224x224 images but the model "
                                         "takes 3x32x32 inputs; use preset 'resize'"):
        resolve_preset("imagenet", (3, 32, 32))
    with pytest.raises(ValueError, match=r"input_shape must be \(1 or 3, H, W\) for images, "
                                         r"got \(2, 4, 4\)"):
        resolve_preset(None, (2, 4, 4))
    with pytest.raises(ValueError, match="unknown image preset 'vgg'; known presets: imagenet, "
                                         "resize"):
        resolve_preset("vgg", None)


@pytest.mark.parametrize("kwargs,message", [
    ({"resize": 0}, "resize: expected None or a positive int, got 0"),
    ({"crop": 2.5}, "crop: expected None or a positive int, got 2.5"),
    ({"resize": 100, "crop": 224}, "crop: the 224-pixel crop does not fit"),
    ({"mean": (0.5, 0.5)}, r"mean: expected three finite numbers \(R, G, B\)"),
    ({"std": (0.2, 0.0, 0.2)}, "std: expected three positive finite numbers"),
    ({"gray_std": -1.0}, "gray_std: expected a positive finite number, got -1.0"),
])
def test_preset_refuses_bad_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImagePreset(**kwargs)


def test_preprocess_refuses_what_is_not_8_bit_pixels():
    with pytest.raises(ValueError, match=r"image: expected uint8 pixels of shape \(H, W, 1 or 3\)"):
        preprocess(np.zeros((4, 4, 3), dtype=np.float32), get_preset("imagenet"))
    with pytest.raises(ValueError, match=r"image: expected uint8 pixels .* \(4, 4, 4\)"):
        preprocess(np.zeros((4, 4, 4), dtype=np.uint8), get_preset("imagenet"))
    with pytest.raises(ValueError, match=r"size: this preset takes the model's \(H, W\)"):
        preprocess(np.zeros((4, 4, 3), dtype=np.uint8), get_preset("resize"))
