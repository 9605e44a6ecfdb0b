"""Image presets: how a decoded picture becomes a model input (resize, centre crop, normalise).

Two named presets ship (:func:`list_presets`):

``"imagenet"``
    The standard ImageNet evaluation pipeline (torchvision's ``Resize(256)``,
    ``CenterCrop(224)``, ``ToTensor()``, ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``): the
    shorter side is resized to 256 pixels (aspect kept, longer side ``int(256 * long / short)``),
    a centred 224 x 224 square is cut out (offsets ``round((side - 224) / 2)``), pixels are
    scaled to [0, 1] and normalised per channel with the ImageNet mean and std.
``"resize"``
    Every image is stretched to the model's (H, W) (aspect not kept), scaled to [0, 1] and
    normalised with the same statistics: what ``folder:PATH`` inputs always got before presets.

Resizing is bilinear with antialiasing (``torch.nn.functional.interpolate(...,
antialias=True)``, within 1/255 of PIL's bilinear filter), computed in float32 without
rounding to 8 bits. One-channel outputs are normalised with ``gray_mean`` / ``gray_std``
(0.5 / 0.5 in both presets) instead of the RGB statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImagePreset", "PRESETS", "list_presets",
           "get_preset", "resolve_preset", "preprocess", "resize_shorter", "center_crop",
           "resize_to"]

#: Per-channel (R, G, B) mean of the ImageNet training images, pixels scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: Per-channel (R, G, B) standard deviation of the ImageNet training images.
IMAGENET_STD = (0.229, 0.224, 0.225)


def _positive_int_or_none(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise ValueError(f"{name}: expected None or a positive int, got {value!r}")


def _stats(name: str, values: object, *, positive: bool) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        out = ()
    ok = len(out) == 3 and all(math.isfinite(v) and (v > 0 or not positive) for v in out)
    if not ok:
        kind = "positive finite" if positive else "finite"
        raise ValueError(f"{name}: expected three {kind} numbers (R, G, B), got {values!r}")
    return out


@dataclass(frozen=True)
class ImagePreset:
    """How decoded images become model inputs of one size.

    The output size is ``(crop, crop)``, or the model's (H, W) when ``crop`` is None. With
    ``resize`` set, the shorter side is first resized to ``resize`` pixels (aspect kept) and
    the output is the centred window of that size; with ``resize`` None every image is
    stretched to the output size directly. Pixels are then scaled to [0, 1] and normalised.

    Attributes
    ----------
    resize : int or None, default 256
        Shorter side after resizing (aspect kept); None: stretch to the output size.
    crop : int or None, default 224
        Side of the centred square cut out; None: the model's (H, W).
    mean, std : tuple of three floats, default ImageNet's
        Per-channel (R, G, B) normalisation ``(x - mean) / std`` of 3-channel outputs.
    gray_mean, gray_std : float, default 0.5
        Normalisation of 1-channel outputs.
    """

    resize: int | None = 256  # shorter side in pixels (aspect kept); None: stretch
    crop: int | None = 224  # side of the centre square; None: the model's (H, W)
    mean: tuple[float, ...] = IMAGENET_MEAN  # R, G, B
    std: tuple[float, ...] = IMAGENET_STD  # R, G, B
    gray_mean: float = 0.5  # one-channel outputs
    gray_std: float = 0.5

    def __post_init__(self) -> None:
        _positive_int_or_none("resize", self.resize)
        _positive_int_or_none("crop", self.crop)
        if self.resize is not None and self.crop is not None and self.crop > self.resize:
            raise ValueError(f"crop: the {self.crop}-pixel crop does not fit in images whose "
                             f"shorter side is resized to {self.resize}; give crop <= resize")
        object.__setattr__(self, "mean", _stats("mean", self.mean, positive=False))
        object.__setattr__(self, "std", _stats("std", self.std, positive=True))
        for name in ("gray_mean", "gray_std"):
            value = getattr(self, name)
            ok = (not isinstance(value, bool) and isinstance(value, (int, float))
                  and math.isfinite(value) and (value > 0 or name == "gray_mean"))
            if not ok:
                raise ValueError(f"{name}: expected a {'positive ' if 'std' in name else ''}"
                                 f"finite number, got {value!r}")

    def output_size(self, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """(H, W) of the outputs: ``(crop, crop)``, else ``size`` (the model's (H, W))."""
        if self.crop is not None:
            return self.crop, self.crop
        if size is None:
            raise ValueError("size: this preset takes the model's (H, W) (crop=None); give "
                             "the model's input shape")
        return int(size[0]), int(size[1])

    def normalisation(self, channels: int) -> tuple[Tensor, Tensor]:
        """``mean`` and ``std`` of ``channels`` (1 or 3) outputs, each of shape (C, 1, 1)."""
        mean = self.mean if channels == 3 else (self.gray_mean,)
        std = self.std if channels == 3 else (self.gray_std,)
        return (torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
                torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))


#: The named presets (see the module docstring).
PRESETS: dict[str, ImagePreset] = {
    "imagenet": ImagePreset(resize=256, crop=224),
    "resize": ImagePreset(resize=None, crop=None),
}


def list_presets() -> list[str]:
    """Names of the presets, sorted."""
    return sorted(PRESETS)


def get_preset(preset: str | ImagePreset) -> ImagePreset:
    """The preset named ``preset`` (an :class:`ImagePreset` is returned as it is)."""
    if isinstance(preset, ImagePreset):
        return preset
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"preset: unknown image preset {preset!r}; known presets: "
                         f"{', '.join(list_presets())}")
    return PRESETS[preset]


def resolve_preset(preset: str | ImagePreset | None,
                   input_shape: tuple[int, ...] | None) -> tuple[ImagePreset, int,
                                                                 tuple[int, int]]:
    """The preset, channel count and output (H, W) for a model taking ``input_shape``.

    Parameters
    ----------
    preset : str, ImagePreset or None
        None picks ``"imagenet"`` when ``input_shape`` is None or ends in 224 x 224, and
        ``"resize"`` otherwise (so any model gets inputs of its own size).
    input_shape : tuple of int or None
        (C, H, W) the model takes, C in {1, 3}; None: an ImageNet-size net, (3, 224, 224).

    Returns
    -------
    preset : ImagePreset
    channels : int
        1 or 3.
    size : (int, int)
        Output (H, W).

    Raises
    ------
    ValueError
        An ``input_shape`` that is not (1 or 3, H, W), or a preset whose crop differs from
        the model's (H, W).
    """
    if input_shape is not None:
        shape = tuple(input_shape)
        ok = (len(shape) == 3 and all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)
              and shape[0] in (1, 3))
        if not ok:
            raise ValueError(f"input_shape must be (1 or 3, H, W) for images, got "
                             f"{tuple(input_shape)}")
        input_shape = tuple(int(s) for s in shape)
    if preset is None:
        auto = input_shape is None or input_shape[1:] == (224, 224)
        preset = "imagenet" if auto else "resize"
    name = preset if isinstance(preset, str) else None
    chosen = get_preset(preset)
    channels, size = (3, (224, 224)) if input_shape is None else (input_shape[0],
                                                                  input_shape[1:])
    out = chosen.output_size(size)
    if input_shape is not None and out != size:
        label = repr(name) if name else "the preset"
        raise ValueError(f"preset: {label} makes {out[0]}x{out[1]} images but the model takes "
                         f"{'x'.join(map(str, input_shape))} inputs; use preset 'resize' "
                         "(stretched to the model's size) or an ImagePreset with that crop")
    return chosen, channels, out


def resize_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear, antialiased resize of ``x`` (C, H, W) float to ``size`` (H', W').

    The identity when the size is already right.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x[None], size=tuple(size), mode="bilinear", align_corners=False,
                         antialias=True)[0]


def resize_shorter(x: Tensor, side: int) -> Tensor:
    """Resize ``x`` (C, H, W) so that its shorter side is ``side`` pixels, aspect kept.

    The longer side becomes ``int(side * long / short)`` (torchvision's rule); an image whose
    shorter side already is ``side`` is returned as it is.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    short, long = (h, w) if h <= w else (w, h)
    if short == side:
        return x
    new_long = int(side * long / short)
    return resize_to(x, (side, new_long) if h <= w else (new_long, side))


def center_crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The centred ``size`` (H', W') window of ``x`` (C, H, W), offsets ``round((H - H') / 2)``
    and ``round((W - W') / 2)`` (torchvision's rule); the window must fit."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ch, cw = size
    if ch > h or cw > w:
        raise ValueError(f"crop: a {ch}x{cw} window does not fit in a {h}x{w} image")
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return x[..., top:top + ch, left:left + cw]


def preprocess(image: np.ndarray | Tensor, preset: ImagePreset,
               size: tuple[int, int] | None = None) -> Tensor:
    """One decoded image through ``preset``: resize, centre crop, [0, 1], normalise.

    Parameters
    ----------
    image : uint8 array or tensor of shape (H, W, C) or (H, W), C in {1, 3}
        Pixels as decoded (channels last); (H, W) is one channel.
    preset : ImagePreset
    size : (int, int), optional
        The model's (H, W), for presets with ``crop=None``.

    Returns
    -------
    Tensor of shape (C, H_out, W_out), float32
        ``(pixel / 255 - mean) / std`` per channel, (H_out, W_out) = ``preset.output_size``.
    """
    if isinstance(image, np.ndarray):  # a private, writable copy only when needed
        image = np.require(image, requirements=("C", "W"))
    x = torch.as_tensor(image)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[-1] not in (1, 3) or x.dtype != torch.uint8:
        raise ValueError(f"image: expected uint8 pixels of shape (H, W, 1 or 3), got "
                         f"{x.dtype} {tuple(x.shape)}")
    out_size = preset.output_size(size)
    x = x.permute(2, 0, 1).to(torch.float32) / 255.0  # (C, H, W) in [0, 1]
    if preset.resize is None:
        x = resize_to(x, out_size)
    else:
        x = center_crop(resize_shorter(x, preset.resize), out_size)
    mean, std = preset.normalisation(int(x.shape[0]))
    return ((x - mean) / std).contiguous()
