"""Image grids of originals and shadows (matplotlib is imported only when drawing)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from shadownets.reverse.samples import ShadowSamples

__all__ = ["as_images", "shadow_grid"]


def as_images(x: Tensor) -> Tensor:
    """Per-image min-max scaled pictures of shape (n, H, W, C) with C in {1, 3}, in [0, 1].

    Inputs of shape (n, C, H, W) with C = 1 or 3 are shown as they are; (n, D) with D a
    perfect square as D = s x s; anything else is flattened to a 1 x D strip.
    """
    x = x.detach().to("cpu", torch.float64)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        img = x
    elif x.ndim == 2 and math.isqrt(x.shape[1]) ** 2 == x.shape[1]:
        s = math.isqrt(x.shape[1])
        img = x.reshape(-1, 1, s, s)
    else:
        img = x.reshape(x.shape[0], 1, 1, -1)
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    img = (img - lo) / (hi - lo).clamp_min(1e-12)
    return img.permute(0, 2, 3, 1)


def shadow_grid(samples: ShadowSamples, *, title: str | None = None) -> Any:
    """A matplotlib Figure: originals (top row) above their shadows, or shadows alone.

    Parameters
    ----------
    samples : ShadowSamples
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("shadow", as_images(samples.shadows))]
    if samples.originals is not None:
        rows.insert(0, ("original", as_images(samples.originals)))
    n = rows[0][1].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n + 0.8, 1.3 * len(rows) + 0.4),
                             squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            img = imgs[c].numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                      vmin=0, vmax=1, interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label)
    fig.suptitle(title or f"shadows from layer {samples.layer!r}")
    return fig
