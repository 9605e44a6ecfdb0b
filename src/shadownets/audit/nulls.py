"""Null nets: the same architecture with weights that are random by construction.

* ``"gaussian"`` — every parameter tensor of every Linear/Conv layer (weight and bias
  separately) re-drawn i.i.d. Gaussian with that tensor's own mean and variance;
* ``"shuffle"`` — the entries of each such tensor permuted at random (same values, no
  structure).

Everything else (normalisation layers, buffers) is kept as trained. The trained model is
never modified: a null net is a deep copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from shadownets.audit.operator import is_linear_layer

__all__ = ["NULL_KINDS", "null_net", "null_nets"]

#: The kinds of null net, in the order the audit reports them.
NULL_KINDS: tuple[str, ...] = ("gaussian", "shuffle")


def _check_kind(kind: str) -> str:
    if kind not in NULL_KINDS:
        raise ValueError(f"kind must be one of {list(NULL_KINDS)}, got {kind!r}")
    return kind


def _redraw(t: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    flat = t.detach().reshape(-1)
    if kind == "shuffle":
        perm = torch.randperm(flat.numel(), generator=generator)
        return flat[perm.to(flat.device)].reshape(t.shape)
    mean = flat.double().mean()
    std = flat.double().std(unbiased=False) if flat.numel() > 1 else torch.zeros((),
                                                                                 dtype=torch.float64)
    z = torch.randn(flat.numel(), generator=generator, dtype=torch.float64)
    return (mean + std * z).to(t.dtype).to(t.device).reshape(t.shape)


def null_net(model: nn.Module, kind: str, *, generator: torch.Generator) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv parameters are replaced by a null draw.

    Parameters
    ----------
    model : nn.Module
        The trained net (not modified).
    kind : {"gaussian", "shuffle"}
        See the module docstring.
    generator : torch.Generator
        Source of randomness (CPU generator).

    Returns
    -------
    nn.Module
        The null net, in eval mode.
    """
    _check_kind(kind)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    null = copy.deepcopy(model)
    with torch.no_grad():
        for module in null.modules():
            if not is_linear_layer(module):
                continue
            for name in ("weight", "bias"):
                param = getattr(module, name, None)
                if param is not None:
                    param.copy_(_redraw(param, kind, generator))
    return null.eval()


def null_nets(model: nn.Module, kind: str, n: int, *, seed: int) -> list[nn.Module]:
    """``n`` null nets of one kind, reproducibly from ``seed`` (net ``i`` uses ``seed + i``)."""
    _check_kind(kind)
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = []
    for i in range(int(n)):
        g = torch.Generator().manual_seed(int(seed) + i)
        out.append(null_net(model, kind, generator=g))
    return out
