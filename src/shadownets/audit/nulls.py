"""Null nets: the same architecture with weights that are random by construction.

* ``"gaussian"`` — every parameter tensor of every Linear/Conv layer (weight and bias
  separately) re-drawn i.i.d. Gaussian with that tensor's own mean and variance;
* ``"shuffle"`` — the entries of each such tensor permuted at random (same values, no
  structure).

Other parameters (normalisation layers' affine weights) are kept as trained. A BatchNorm's
running statistics are NOT kept: they normalised the trained net's activations, and a null
net's are different (kept, they leave the null net mis-normalised — a Gaussian null of a
trained BN net then recovers worse than returning zero). They are **re-estimated on real
inputs** (:func:`reestimate_batchnorm`: reset, cumulative average ``momentum=None``, BN modules
alone in train mode, no grad, in batches), BatchNorm is not folded. The trained model is never
modified: a null net is a deep copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from shadownets.audit.operator import is_linear_layer
from shadownets.reverse.ops import module_family

__all__ = ["NULL_KINDS", "has_batchnorm", "null_net", "null_nets", "reestimate_batchnorm"]

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
    # float32 draws (a quarter of the time of float64 ones for a 38M-entry fc6), scaled in
    # the tensor's own dtype when it is wider
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    z = torch.randn(flat.numel(), generator=generator, dtype=dtype)
    return z.mul_(std.to(dtype)).add_(mean.to(dtype)).to(t.dtype).to(t.device).reshape(t.shape)


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm module that tracks running statistics."""
    return bool(_running_stats_modules(model))


def _running_stats_modules(model: nn.Module) -> list[nn.Module]:
    """Normalisation layers (rule family ``"normalisation"``) that keep running statistics."""
    return [m for m in model.modules() if module_family(m) == "normalisation"
            and getattr(m, "track_running_stats", False)]


def reestimate_batchnorm(model: nn.Module, inputs: torch.Tensor, *,
                         batch_size: int = 256) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance of ``model`` on ``inputs``.

    Each BatchNorm's statistics are reset and accumulated as a cumulative average over the
    batches (``momentum=None``: the mean of the batch means and of the unbiased batch
    variances; with one batch, exactly the inputs' statistics), with the BatchNorm modules —
    and only they — in train mode and no gradient; afterwards every module is in eval mode
    and each BatchNorm has its momentum back. Modified in place.

    Parameters
    ----------
    model : nn.Module
    inputs : torch.Tensor of shape (batch, *input_shape)
        Real inputs (on the model's device and dtype).
    batch_size : int, default 256

    Returns
    -------
    nn.Module
        ``model``, in eval mode.
    """
    bns = _running_stats_modules(model)
    if not bns:
        return model.eval()
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2 or inputs.shape[0] < 2:
        raise ValueError("inputs must be a tensor of shape (batch >= 2, ...) to re-estimate "
                         f"BatchNorm statistics, got {getattr(inputs, 'shape', inputs)!r}")
    momenta = [m.momentum for m in bns]
    model.eval()
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        with torch.no_grad():
            for start in range(0, inputs.shape[0], batch_size):
                batch = inputs[start:start + batch_size]
                if batch.shape[0] >= 2:  # a batch of one has no variance
                    model(batch)
    finally:
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    return model


def null_net(model: nn.Module, kind: str, *, generator: torch.Generator,
             inputs: torch.Tensor | None = None, batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv parameters are replaced by a null draw.

    A model with BatchNorm gets its running statistics re-estimated on ``inputs`` (see
    :func:`reestimate_batchnorm`), which it then needs.

    Parameters
    ----------
    model : nn.Module
        The trained net (not modified).
    kind : {"gaussian", "shuffle"}
        See the module docstring.
    generator : torch.Generator
        Source of randomness (CPU generator).
    inputs : torch.Tensor of shape (batch, *input_shape), optional
        Real inputs for the BatchNorm statistics (required when the model has BatchNorm).
    batch_size : int, default 256
        Inputs per forward pass while re-estimating them.

    Returns
    -------
    nn.Module
        The null net, in eval mode.
    """
    _check_kind(kind)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if inputs is None and has_batchnorm(model):
        raise ValueError("model has BatchNorm: pass inputs= (real inputs) so that the null "
                         "net's running statistics can be re-estimated")
    null = copy.deepcopy(model)
    with torch.no_grad():
        for module in null.modules():
            if not is_linear_layer(module):
                continue
            for name in ("weight", "bias"):
                param = getattr(module, name, None)
                if param is not None:
                    param.copy_(_redraw(param, kind, generator))
    return reestimate_batchnorm(null, inputs, batch_size=batch_size) if inputs is not None \
        else null.eval()


def null_nets(model: nn.Module, kind: str, n: int, *, seed: int,
              inputs: torch.Tensor | None = None) -> list[nn.Module]:
    """``n`` null nets of one kind, reproducibly from ``seed`` (net ``i`` uses ``seed + i``);
    ``inputs`` as in :func:`null_net`."""
    _check_kind(kind)
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = []
    for i in range(int(n)):
        g = torch.Generator().manual_seed(int(seed) + i)
        out.append(null_net(model, kind, generator=g, inputs=inputs))
    return out
