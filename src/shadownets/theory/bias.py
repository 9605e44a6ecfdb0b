"""Bias rules for feed-forward inference ``ĥ = ReLU(Wᵀ x + b)``.

Off the support, ``(Wᵀ x)_i`` is exactly N(0, ‖x‖²) given ``x`` (the column is independent of
``x``), so the largest of ``m`` such terms is about ``‖x‖·√(2 ln m)``. The theory's bias is
``b = −c·‖h‖·√(2 ln m/(ρ n))`` with ``‖h‖`` estimated from the input as ``‖x‖·√(ρ n / 2)``
(from ``E‖x‖² = 2‖h‖²/(ρ n)``); the two combine into ``b = −c·‖x‖·√(ln m)`` per sample, with
``m`` the width of the layer being inferred. ``c = √2`` (:data:`THEORY_C`) puts the threshold at
the expected maximum of the off-support noise.

Rules (:func:`resolve_bias`):

- ``"none"``: ``b = 0``.
- ``"theory"``: ``c = THEORY_C`` in every layer.
- ``"calibrated"``: ``c`` per layer, chosen by simulating the model itself (fresh codes and
  masks, the same weights), layer by layer from the bottom — never from the samples recovered.
- ``"oracle"``: the best ``c`` per layer given the true hidden layers of the very samples —
  for analysis only (it peeks at the answer).
- a number, a tensor of shape (n_ℓ,) or (batch, n_ℓ), or a list with one entry per layer: the
  bias itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
import torch

from shadownets.theory._checks import make_generator

if TYPE_CHECKING:
    from shadownets.theory.model import RandomLikeNet

__all__ = [
    "THEORY_C",
    "BIAS_RULES",
    "LayerBias",
    "BiasSpec",
    "resolve_bias",
    "fit_bias_constants",
]

THEORY_C = math.sqrt(2.0)
BIAS_RULES = ("none", "theory", "calibrated", "oracle")
#: Search grid for c: coarse, then refined around the best coarse point.
_COARSE = torch.linspace(0.0, 4.0, 81, dtype=torch.float64)

BiasSpec = Union[str, float, torch.Tensor, Sequence[Union[float, torch.Tensor]]]  # noqa: UP007


@dataclass(frozen=True)
class LayerBias:
    """The bias of one layer: ``b = −c·‖x‖·√(ln m)`` per sample, or a fixed value."""

    rule: str  # "none" | "theory" | "calibrated" | "oracle" | "value"
    c: float | None = None  # multiplier of the theory form (rules other than "value")
    value: torch.Tensor | float | None = None  # rule "value": the bias itself

    def add_to(self, pre: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        """Return ``pre + b`` for pre-activations (batch, m) computed from input (batch, n).

        ``pre`` may be updated in place (it is a product made for this call)."""
        if self.rule == "value":
            value = torch.as_tensor(self.value, dtype=pre.dtype, device=pre.device)
            batch, m = pre.shape
            if value.dim() > 2 or (value.dim() >= 1 and value.shape[-1] != m) or (
                value.dim() == 2 and value.shape[0] not in (1, batch)
            ):
                raise ValueError(f"a bias must be a number or have shape ({m},) or "
                                 f"({batch}, {m}), got {tuple(value.shape)}")
            return pre + value
        if not self.c:
            return pre
        return pre.sub_(self.c * theory_scale(inp, pre.shape[-1]))  # pre is a fresh product


def theory_scale(inp: torch.Tensor, m: int) -> torch.Tensor:
    """``‖x‖·√(ln m)`` per sample: shape (batch, 1)."""
    return inp.norm(dim=-1, keepdim=True) * math.sqrt(math.log(max(m, 2)))


def _best_c(pre: torch.Tensor, scale: torch.Tensor, h: torch.Tensor) -> float:
    """The c minimising the mean of ‖ReLU(pre − c·scale) − h‖²/‖h‖² (grid, then refine)."""
    hn = h.pow(2).sum(-1).clamp_min(torch.finfo(h.dtype).tiny)

    def loss(c: float) -> float:
        return float(((torch.relu(pre - c * scale) - h).pow(2).sum(-1) / hn).mean())

    coarse = [loss(float(c)) for c in _COARSE]
    best = float(_COARSE[int(torch.tensor(coarse).argmin())])
    fine = torch.linspace(max(0.0, best - 0.05), best + 0.05, 21, dtype=torch.float64)
    errs = [loss(float(c)) for c in fine]
    return float(fine[int(torch.tensor(errs).argmin())])


def fit_bias_constants(net: RandomLikeNet, layers: Sequence[torch.Tensor]) -> list[float]:
    """Best ``c`` per layer given true layers ``[x, h^(1), ..., h^(L)]``, bottom-up.

    Layer ``ℓ`` is fitted on the estimates that layers below it produce with their fitted c.
    """
    prev, cs = layers[0], []
    for ell in range(1, net.depth + 1):
        pre = net.layers[ell - 1].rmatmul(prev)
        scale = theory_scale(prev, pre.shape[-1])
        c = _best_c(pre, scale, layers[ell])
        cs.append(c)
        prev = torch.relu(pre - c * scale)
    return cs


def resolve_bias(
    net: RandomLikeNet,
    bias: BiasSpec,
    *,
    truth: Sequence[torch.Tensor] | None = None,
    calibration_batch: int = 512,
    generator: torch.Generator | int | None = None,
) -> list[LayerBias]:
    """Turn a bias rule or value into one :class:`LayerBias` per layer.

    Parameters
    ----------
    net : RandomLikeNet
    bias : str, number, tensor, or a list of numbers/tensors (one per layer)
        See the module docstring.
    truth : list of Tensor, optional
        True layers ``[x, h^(1), ..., h^(L)]``; needed by ``"oracle"`` only.
    calibration_batch : int
        Simulated samples used by ``"calibrated"`` (default 512).
    generator : torch.Generator or int, optional
        Randomness of the ``"calibrated"`` simulation.
    """
    depth = net.depth
    if isinstance(bias, str):
        if bias == "none":
            return [LayerBias("none", 0.0)] * depth
        if bias == "theory":
            return [LayerBias("theory", THEORY_C)] * depth
        if bias == "calibrated":
            gen = make_generator(generator, net.device)
            sim = net.sample(calibration_batch, generator=gen)
            return [LayerBias("calibrated", c) for c in fit_bias_constants(net, sim)]
        if bias == "oracle":
            if truth is None:
                raise ValueError("bias='oracle' needs the true layers (truth=[x, h1, ..., hL])")
            return [LayerBias("oracle", c) for c in fit_bias_constants(net, truth)]
        raise ValueError(
            f"bias must be one of {BIAS_RULES}, a number, a tensor or a list; got {bias!r}"
        )
    if isinstance(bias, np.ndarray):
        bias = torch.from_numpy(bias)
    if isinstance(bias, (int, float)) or torch.is_tensor(bias):
        values: Sequence = [bias] * depth
    else:
        values = list(bias)
        if len(values) != depth:
            raise ValueError(
                f"a bias list needs {depth} entries (one per layer), got {len(values)}"
            )
    out = []
    for ell, v in enumerate(values, start=1):
        t = torch.as_tensor(v, dtype=torch.float64)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"bias of layer {ell} holds non-finite values")
        out.append(LayerBias("value", value=v))
    return out
