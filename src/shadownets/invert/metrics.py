"""How good a reconstruction is: PSNR, SSIM, feature-space error, the net's own accuracy.

Images are compared in pixel space mapped to [0, 1]: a normalised input ``x`` becomes
``x · std + mean`` per channel (:class:`ValueScale`), the data's own statistics, so that a
pixel value of 1 is white; PSNR and SSIM both use that data range (1). Reconstructions are
clipped to [0, 1] there (the valid range) before they are scored.

SSIM is scikit-image's :func:`skimage.metrics.structural_similarity` (its defaults: a uniform
7-wide window, sample covariances, K1 = 0.01, K2 = 0.03), with ``data_range=1`` and
``channel_axis`` for multi-channel inputs. The window is 7 wide when the smallest spatial
side is at least 14, else the largest odd width up to half that side (:func:`ssim_window`: 3
for 8 x 8 digits), so that the SSIM map, which scikit-image crops by (width − 1) / 2 on each
side before averaging, still covers most of a small image (a 7-wide window on 8 x 8 would
average 2 x 2 values); under 6 pixels there is no SSIM (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from shadownets.stats import interval, t_estimate

__all__ = ["ValueScale", "psnr", "ssim", "ssim_window", "feature_error", "relative_sq_error",
           "summarise"]


@dataclass(frozen=True)
class ValueScale:
    """Map between the normalised input space and pixel values in [0, 1].

    ``unit = x · std + mean`` per channel (channel = dim 1 of a batch); one value applies to
    every channel.

    Attributes
    ----------
    mean, std : tuple of float
        One value, or one per channel; ``std > 0``.
    source : str
        Where the statistics come from (for the record): ``"data"`` (the data set's train
        statistics), ``"preset"`` or ``"batch"`` (the inputs' own min and max, see
        :meth:`from_batch`).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = "data"

    def __post_init__(self) -> None:
        mean = tuple(float(m) for m in self.mean)
        std = tuple(float(s) for s in self.std)
        if not mean or len(mean) != len(std):
            raise ValueError(f"mean, std: expected as many values each (one per channel), got "
                             f"{len(mean)} and {len(std)}")
        if not all(math.isfinite(m) for m in mean) or not all(
                math.isfinite(s) and s > 0 for s in std):
            raise ValueError(f"mean, std: expected finite values and std > 0, got mean={mean}, "
                             f"std={std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_batch(cls, x: Tensor) -> ValueScale:
        """The inputs' own range: ``min(x)`` maps to 0 and ``max(x)`` to 1 (all channels)."""
        lo, hi = float(x.min()), float(x.max())
        span = hi - lo if hi > lo else 1.0
        return cls((-lo / span,), (1.0 / span,), source="batch")  # unit = (x - lo) / span

    def _view(self, values: tuple[float, ...], x: Tensor) -> Tensor:
        t = torch.tensor(values, dtype=x.dtype, device=x.device)
        if len(values) == 1:
            return t.reshape(())
        if x.ndim < 2 or x.shape[1] != len(values):
            raise ValueError(f"x: expected {len(values)} channels at dim 1 (one mean/std "
                             f"each), got shape {tuple(x.shape)}")
        return t.reshape(1, -1, *([1] * (x.ndim - 2)))

    def to_unit(self, x: Tensor) -> Tensor:
        """Pixel values of normalised inputs ``x`` (batch, C, ...): same shape, not clipped."""
        return x * self._view(self.std, x) + self._view(self.mean, x)

    def bounds(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """The valid normalised range ``(lo, hi)``, the images of 0 and 1, broadcastable to
        ``like`` (batch, C, ...)."""
        mean, std = self._view(self.mean, like), self._view(self.std, like)
        return (0.0 - mean) / std, (1.0 - mean) / std

    def clip(self, x: Tensor) -> Tensor:
        """``x`` clamped to the valid normalised range (same shape)."""
        lo, hi = self.bounds(x)
        return torch.maximum(torch.minimum(x, hi), lo)


def _flat64(x: Tensor | np.ndarray) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, float)
    return a.reshape(a.shape[0], -1)


def psnr(ref: Tensor | np.ndarray, est: Tensor | np.ndarray, *,
         data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image, ``10 · log10(data_range² / MSE)`` in dB.

    Parameters
    ----------
    ref, est : Tensor or array of shape (batch, ...)
        Pixel values (e.g. in [0, 1] with ``data_range=1``).
    data_range : float, default 1.0

    Returns
    -------
    numpy.ndarray of shape (batch,)
        ``inf`` where the images are equal.
    """
    a, b = _flat64(ref), _flat64(est)
    if a.shape != b.shape:
        raise ValueError(f"ref, est: expected the same shape, got {a.shape} and {b.shape}")
    mse = ((a - b) ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


def ssim_window(spatial: Sequence[int]) -> int | None:
    """The SSIM window width for inputs of spatial shape ``spatial``: 7 (scikit-image's
    default) when the smallest side is >= 14, else the largest odd width <= half of it;
    None when that is under 3 (sides under 6: no SSIM)."""
    half = (min(spatial) if spatial else 0) // 2
    win = min(7, half if half % 2 else half - 1)
    return win if win >= 3 else None


def _layout(shape: tuple[int, ...]) -> tuple[bool, tuple[int, ...]]:
    """(has a channel axis to pass as channel_axis=0, spatial shape) of one input's shape."""
    if len(shape) == 1:  # a vector: one 1-D signal
        return False, shape
    if shape[0] == 1:  # one channel: dropped
        return False, shape[1:]
    return True, shape[1:]


def ssim(ref: Tensor | np.ndarray, est: Tensor | np.ndarray, *,
         data_range: float = 1.0) -> np.ndarray:
    """Structural similarity per image, scikit-image's implementation.

    Parameters
    ----------
    ref, est : Tensor or array of shape (batch, C, *spatial) or (batch, D)
        Pixel values in [0, data_range]. One channel is dropped; several are passed with
        ``channel_axis=0`` (the mean SSIM over channels).
    data_range : float, default 1.0

    Returns
    -------
    numpy.ndarray of shape (batch,)
        NaN when the smallest spatial side is under 6 (see :func:`ssim_window`).
    """
    from skimage.metrics import structural_similarity

    a = ref.detach().cpu().double().numpy() if isinstance(ref, Tensor) else np.asarray(ref)
    b = est.detach().cpu().double().numpy() if isinstance(est, Tensor) else np.asarray(est)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"ref, est: expected the same shape (batch, ...), got {a.shape} and "
                         f"{b.shape}")
    channels, spatial = _layout(a.shape[1:])
    win = ssim_window(spatial)
    out = np.full(a.shape[0], np.nan)
    if win is None:
        return out
    for i in range(a.shape[0]):
        im1 = a[i] if channels else a[i].reshape(spatial)
        im2 = b[i] if channels else b[i].reshape(spatial)
        out[i] = structural_similarity(im1, im2, win_size=win, data_range=data_range,
                                       channel_axis=0 if channels else None)
    return out


def relative_sq_error(f: Tensor, h: Tensor) -> Tensor:
    """``‖f − h‖² / ‖h‖²`` per row, differentiable; a zero ``h`` divides by 1.

    Parameters
    ----------
    f, h : Tensor of shape (batch, *code_shape)

    Returns
    -------
    Tensor of shape (batch,)
    """
    num = (f - h).flatten(1).pow(2).sum(1)
    den = h.flatten(1).pow(2).sum(1)
    return num / torch.where(den > 0, den, torch.ones_like(den))


def feature_error(f: Tensor, h: Tensor) -> np.ndarray:
    """Feature-space error ``‖f_L(x̂) − h‖² / ‖h‖²`` per image, in float64 (a zero code:
    ``‖f_L(x̂)‖²``).

    Parameters
    ----------
    f : Tensor of shape (batch, *code_shape)
        The net's activations at the layer for the reconstructions.
    h : Tensor of shape (batch, *code_shape)
        The activations that were inverted.

    Returns
    -------
    numpy.ndarray of shape (batch,)
    """
    return relative_sq_error(f.detach().double(), h.detach().double()).cpu().numpy()


def summarise(values: Sequence[float] | np.ndarray, level: float = 0.95
              ) -> tuple[float, float, float]:
    """Mean of ``values`` with its two-sided t interval at ``level`` (non-finite values,
    e.g. the infinite PSNR of an exact reconstruction, are dropped from the interval).

    Returns
    -------
    (mean, lo, hi) : tuple of float
        ``mean`` over all values (``inf`` if any is); ``lo``, ``hi`` NaN with fewer than two
        finite values.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return math.nan, math.nan, math.nan
    est = t_estimate(v)
    lo, hi = interval(est, level)
    mean = float(np.mean(v)) if np.isinf(v).any() and not np.isnan(v).any() else est.mean
    return mean, lo, hi
