"""``photos``: natural colour photographs bundled with scikit-image, for 224 x 224 work offline.

These five files ship inside the scikit-image wheel (``skimage/data/``), so they load without
a download (and without pooch): astronaut (512 x 512), chelsea, a cat (300 x 451), coffee
(400 x 600), motorcycle (the left view of ``stereo_motorcycle``, 500 x 741) and rocket
(427 x 640). Left out on purpose: grayscale pictures (camera, coins, moon, ...), synthetic
ones (colorwheel, logo) and scientific images (hubble_deep_field, retina,
immunohistochemistry), which look nothing like the photographs ImageNet nets were trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from shadownets.data.presets import ImagePreset, preprocess, resolve_preset

__all__ = ["PHOTO_NAMES", "Photos", "load_photos", "photo_inputs"]

#: Names of the bundled photographs, in the order they are returned.
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "motorcycle", "rocket")


@dataclass(frozen=True, eq=False)
class Photos:
    """The bundled photographs as decoded, for figure grids.

    Attributes
    ----------
    names : tuple of str
    images : tuple of ndarray, each of shape (H_i, W_i, 3), uint8
        Sizes differ from photo to photo.
    """

    names: tuple[str, ...]
    images: tuple[np.ndarray, ...]


def _skimage_data():
    try:
        import skimage.data as data
    except ImportError as exc:
        raise ValueError(f"data 'photos' needs scikit-image, which is not installed (pip "
                         f"install scikit-image) ({exc})") from None
    return data


def _read(data, name: str) -> np.ndarray:
    try:
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    except (ImportError, OSError, KeyError, AttributeError) as exc:  # a wheel without the file
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"data 'photos': this scikit-image does not ship the photograph "
                         f"{name!r} ({text}); reinstall scikit-image") from None
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"data 'photos': scikit-image's {name!r} is not an RGB uint8 image "
                         f"(got {image.dtype} {image.shape})")
    return image


def load_photos(names: Sequence[str] | None = None) -> Photos:
    """The bundled photographs as uint8 RGB arrays (their own sizes).

    Parameters
    ----------
    names : sequence of str, optional
        A subset of :data:`PHOTO_NAMES` (in the order given); default all of them.

    Returns
    -------
    Photos

    Raises
    ------
    ValueError
        Unknown names, or scikit-image not installed.
    """
    chosen = PHOTO_NAMES if names is None else tuple(names)
    unknown = [n for n in chosen if n not in PHOTO_NAMES]
    if unknown or not chosen:
        raise ValueError(f"names: expected some of {', '.join(PHOTO_NAMES)}, got "
                         f"{list(chosen)!r}")
    data = _skimage_data()
    return Photos(names=chosen, images=tuple(_read(data, n) for n in chosen))


def photo_inputs(names: Sequence[str] | None = None, *,
                 preset: str | ImagePreset | None = "imagenet",
                 input_shape: tuple[int, ...] | None = None) -> Tensor:
    """The bundled photographs as model inputs.

    Parameters
    ----------
    names : sequence of str, optional
        A subset of :data:`PHOTO_NAMES`; default all five.
    preset : str, ImagePreset or None, default "imagenet"
        See :mod:`shadownets.data.presets`; None chooses by ``input_shape`` as
        :func:`~shadownets.data.presets.resolve_preset` does.
    input_shape : tuple of int, optional
        (C, H, W) of the model, C in {1, 3} (1: the photos as luma); default (3, 224, 224).

    Returns
    -------
    Tensor of shape (N, C, H, W), float32
        With the defaults (5, 3, 224, 224), normalised with the ImageNet mean and std.
    """
    chosen, channels, size = resolve_preset(preset, input_shape)
    photos = load_photos(names)
    images = photos.images
    if channels == 1:  # ITU-R 601-2 luma, as PIL's convert("L") computes it
        from PIL import Image

        images = tuple(np.array(Image.fromarray(image).convert("L")) for image in images)
    return torch.stack([preprocess(image, chosen, size) for image in images])
