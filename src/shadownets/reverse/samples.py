"""Shadows of real inputs and of sampled sparse codes (what ``shadownets generate`` shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from shadownets.reverse.shadow import reverse

__all__ = ["ShadowSamples", "sample_codes", "shadow_samples"]


@dataclass(frozen=True, eq=False)
class ShadowSamples:
    """Originals and their shadows.

    Attributes
    ----------
    originals : Tensor of shape (n, *input_shape) or None
        The real inputs (None when generating from sampled codes).
    shadows : Tensor of shape (n, *input_shape)
    layer : str
    alphas, rhos : list of float
        Per generated linear op, top-down.
    """

    originals: Tensor | None
    shadows: Tensor
    layer: str
    alphas: list[float]
    rhos: list[float]


def sample_codes(h: Tensor, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Sparse non-negative codes with the sparsity and value law of real codes ``h``.

    Each code copies the number of non-zeros of a random real code, puts them at uniformly
    random positions, and draws their values from the pooled non-zero values of ``h``.

    Parameters
    ----------
    h : Tensor of shape (batch, *code_shape)
        Real codes (activations at the layer).
    n : int
        Number of codes to draw.

    Returns
    -------
    Tensor of shape (n, *code_shape)
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    flat = h.detach().reshape(h.shape[0], -1).clamp_min(0)
    values = flat[flat > 0]
    out = flat.new_zeros(n, flat.shape[1])
    if values.numel() == 0:
        return out.reshape(n, *h.shape[1:])
    counts = (flat > 0).sum(1)
    dev = flat.device
    pick = torch.randint(0, flat.shape[0], (n,), generator=generator, device=dev)
    for i in range(n):
        k = int(counts[pick[i]])
        pos = torch.randperm(flat.shape[1], generator=generator, device=dev)[:k]
        idx = torch.randint(0, values.numel(), (k,), generator=generator, device=dev)
        out[i, pos] = values[idx]
    return out.reshape(n, *h.shape[1:])


def shadow_samples(model: nn.Module, x: Tensor, layer: str, *,
                   rho: float | Sequence[float] = 1.0,
                   alpha: str | float | Sequence[float] = "theory", unpool: str = "switches",
                   seed: int = 0, from_codes: bool = False) -> ShadowSamples:
    """Encode real inputs to ``layer`` and generate their shadows (or shadows of codes).

    Parameters
    ----------
    model : nn.Module
        Put in eval mode for the duration of the call.
    x : Tensor of shape (n, *input_shape)
        Real inputs; also the calibration batch for ``alpha="calibrated"``.
    layer, rho, alpha, unpool
        As in :func:`shadownets.reverse.reverse`.
    seed : int
        Seed of the dropout masks, random unpooling and sampled codes.
    from_codes : bool
        Generate from sparse codes drawn by :func:`sample_codes` (no switches) instead of
        from the codes of ``x``.

    Returns
    -------
    ShadowSamples
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            shadow = reverse(model, x[:1], layer, rho=rho, alpha=alpha, unpool=unpool)
            if alpha == "calibrated":
                shadow.calibrate(x, generator=torch.Generator(x.device).manual_seed(seed))
            gen = torch.Generator(x.device).manual_seed(seed)
            enc = shadow.encode(x)
            if from_codes:
                codes = sample_codes(enc.h, x.shape[0], generator=gen)
                shadows, originals = shadow.generate(codes, generator=gen), None
            else:
                shadows = shadow.generate(enc.h, switches=enc.switches, generator=gen)
                originals = x
    finally:
        model.train(was_training)
    return ShadowSamples(originals, shadows, shadow.layer, shadow.alphas, shadow.rhos)
