"""Weight statistics of one layer: are its weights random-like in bulk?

Pure functions of a layer (and of its :class:`LayerOperator`): entry kurtosis and normality,
spectrum against Marchenko–Pastur, row incoherence, row-norm spread and an empirical
restricted-isometry constant. :func:`weight_stats` gathers them in one record.

Conventions. ``A`` is the layer's linear operator, shape (n_out, n_in), so the forward layer is
``h = ReLU(A x + b)``. The theory's generative matrix is ``W = Aᵀ``: each hidden unit ``i`` owns
one row of ``A`` (a column of ``W``). "Incoherence" is about those rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special, stats
from torch import nn

from shadownets.audit.operator import LayerOperator, Spectrum
from shadownets.audit.spectral import ks_to_mp

__all__ = [
    "WeightStats",
    "entry_stats",
    "row_incoherence",
    "rip_constant",
    "weight_stats",
]


@dataclass(frozen=True)
class WeightStats:
    """Weight statistics of one layer (see :func:`weight_stats` for definitions)."""

    n_in: int
    n_out: int
    excess_kurtosis: float
    normal_ks: float
    mp_ks: float
    spectrum_exact: bool
    top_singular_value: float
    mp_top_singular_value: float
    incoherence: float
    incoherence_exact: bool
    row_norm_cv: float
    rip_delta: float
    rip_k: int


def entry_stats(weight: torch.Tensor, *, max_entries: int = 2_000_000) -> tuple[float, float]:
    """Excess kurtosis of the weight entries and KS distance to the fitted normal.

    Parameters
    ----------
    weight : torch.Tensor of any shape
        The entries; zero for a Gaussian in both statistics (up to sampling noise).
    max_entries : int, default 2_000_000
        Larger tensors are thinned to an evenly strided subset of about this many entries.

    Returns
    -------
    (excess_kurtosis, normal_ks) : tuple of float
        ``normal_ks`` is ``sup |F_emp(z) - Φ(z)|`` of the standardised entries.
    """
    w = weight.detach().double().reshape(-1).cpu()
    if w.numel() > max_entries:
        w = w[:: -(-w.numel() // max_entries)]
    w = w.numpy()
    if w.size < 4 or not np.std(w) > 0:
        return float("nan"), float("nan")
    kurt = float(stats.kurtosis(w, fisher=True, bias=False))
    z = np.sort((w - w.mean()) / w.std())
    cdf = special.ndtr(z)
    n = z.size
    ks = max(float(np.max(np.arange(1, n + 1) / n - cdf)), float(np.max(cdf - np.arange(n) / n)))
    return kurt, ks


def row_incoherence(op: LayerOperator, *, dense: torch.Tensor | None = None,
                    chunk: int = 2048) -> tuple[float, bool]:
    """Largest ``|cos|`` between two distinct rows of ``A`` (zero rows skipped).

    Exact from the dense matrix when given. Otherwise, for ``nn.Linear`` exact from its weight,
    and for ``nn.Conv2d`` exact over interior units (whose rows are whole shifted kernels):
    the kernels' cross-correlations at shifts that are multiples of the stride. Other layers
    without a dense matrix give NaN.

    Returns
    -------
    (max_abs_cos, exact) : tuple of (float, bool)
    """
    module = op.module
    if dense is None and isinstance(module, nn.Linear):
        dense = module.weight.detach().double()
    if dense is not None:
        return _max_abs_cos(dense, chunk), True
    if isinstance(module, nn.Conv2d):
        return _conv2d_interior_incoherence(module), False
    return float("nan"), False


def _max_abs_cos(rows: torch.Tensor, chunk: int) -> float:
    norms = rows.norm(dim=1)
    keep = norms > 0
    r = rows[keep] / norms[keep, None]
    if r.numel() > 10_000_000:  # big layers: float32 Gram blocks are plenty for a max |cos|
        r = r.float()
    n = r.shape[0]
    if n < 2:
        return float("nan")
    best = 0.0
    for start in range(0, n, chunk):  # the upper triangle only: each pair once
        block = (r[start:start + chunk] @ r[start:].T).abs()
        idx = torch.arange(block.shape[0])
        block[idx, idx] = 0.0
        best = max(best, float(block.max()))
    return min(best, 1.0)


def _conv2d_interior_incoherence(conv: nn.Conv2d) -> float:
    w = conv.weight.detach().double()  # (C_out, C_in/groups, kh, kw)
    dh, dw = conv.dilation
    if dh > 1 or dw > 1:  # place the taps on the dilated grid
        c_out, c_in, kh, kw = w.shape
        wd = w.new_zeros(c_out, c_in, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
        wd[:, :, ::dh, ::dw] = w
        w = wd
    c_out, _, kh, kw = w.shape
    sh, sw = conv.stride
    norms = w.reshape(c_out, -1).norm(dim=1)
    best = 0.0
    per_group = c_out // conv.groups
    for g in range(conv.groups):
        wg = w[g * per_group:(g + 1) * per_group]
        ng = norms[g * per_group:(g + 1) * per_group]
        keep = ng > 0
        wg, ng = wg[keep], ng[keep]
        if wg.shape[0] == 0:
            continue
        corr = torch.nn.functional.conv2d(wg, wg, padding=(kh - 1, kw - 1))  # (c, c, 2kh-1, 2kw-1)
        corr = corr[:, :, (kh - 1) % sh::sh, (kw - 1) % sw::sw]
        cos = corr / (ng[:, None, None, None] * ng[None, :, None, None])
        ch, cw = (kh - 1) // sh, (kw - 1) // sw
        idx = torch.arange(wg.shape[0])
        cos[idx, idx, ch, cw] = 0.0
        best = max(best, float(cos.abs().max()))
    return min(best, 1.0)


def rip_constant(op: LayerOperator, k: int, *, draws: int = 256,
                 generator: torch.Generator | None = None) -> float:
    """Empirical restricted-isometry constant of ``W = Aᵀ`` on k-sparse nonnegative codes.

    Draws ``h`` in R^{n_out} with a uniformly random support of size ``k`` and half-normal
    values, and returns ``max |‖Aᵀh‖² / (s² ‖h‖²) - 1|`` over the draws, where ``s²`` is the mean
    squared row norm of ``A`` — what ``E‖Aᵀh‖² / ‖h‖²`` would be for a zero-mean Gaussian
    matrix of the same shape and Frobenius norm.

    Parameters
    ----------
    op : LayerOperator
    k : int
        Support size, ``1 <= k <= n_out``.
    draws : int, default 256
        Number of random codes.
    generator : torch.Generator, optional
    """
    if not 1 <= int(k) <= op.n_out:
        raise ValueError(f"k must be in [1, n_out={op.n_out}], got {k}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    k = int(k)
    scale = float((op.row_norms() ** 2).mean())
    if not scale > 0:
        return float("nan")
    worst = 0.0
    for start in range(0, draws, 64):
        b = min(64, draws - start)
        # a uniform k-subset per code: the head of a random permutation (one randperm per
        # row is ~10x faster than argsorting a (b, n_out) block of uniforms)
        support = torch.stack([torch.randperm(op.n_out, generator=generator)[:k]
                               for _ in range(b)])
        values = torch.randn((b, k), generator=generator).abs().double()
        h = torch.zeros((b, op.n_out), dtype=torch.float64).scatter_(1, support, values)
        h = h.to(op.module.weight.device)  # drawn on the CPU generator, used on the layer's device
        with torch.no_grad():
            gen = op.rmatvec(h.reshape(b, *op.output_shape).to(op.module.weight.dtype))
        ratio = gen.reshape(b, -1).double().pow(2).sum(1) / (scale * h.pow(2).sum(1))
        worst = max(worst, float((ratio - 1).abs().max()))
    return worst


def weight_stats(op: LayerOperator, *, rip_k: int, rip_draws: int = 256,
                 dense_max: int = 4_000_000, lanczos_steps: int = 80, lanczos_probes: int = 6,
                 generator: torch.Generator | None = None) -> tuple[WeightStats, Spectrum]:
    """All weight statistics of one layer, and its spectrum (for plots).

    Parameters
    ----------
    op : LayerOperator
        The layer's operator on its actual input shape.
    rip_k : int
        Support size for :func:`rip_constant` (clipped to ``[1, n_out]``).
    rip_draws, dense_max, lanczos_steps, lanczos_probes : int
        See :func:`rip_constant` and :meth:`LayerOperator.spectrum`.
    generator : torch.Generator, optional
        Randomness of the Lanczos probes and the RIP codes.

    Returns
    -------
    (WeightStats, Spectrum)
        ``mp_ks`` is the KS distance of the operator's squared singular values to the
        Marchenko–Pastur law of a Gaussian matrix of the same shape and the same entry
        variance (zeros of a convolution's matrix included); ``mp_top_singular_value`` is that
        law's upper edge ``σ (√n_out + √n_in)``. ``row_norm_cv`` is std/mean of the row norms.
    """
    weight = op.module.weight
    kurt, nks = entry_stats(weight)
    small = op.n_in * op.n_out <= dense_max
    dense = op.dense() if small else None
    spec = op.spectrum(dense_max=dense_max, steps=lanczos_steps, probes=lanczos_probes,
                       generator=generator)
    _, variance = op.entry_moments()
    mp_ks = ks_to_mp(spec, variance) if variance > 0 else float("nan")
    incoh, incoh_exact = row_incoherence(op, dense=dense)
    rn = op.row_norms()
    cv = float(rn.std(unbiased=False) / rn.mean()) if float(rn.mean()) > 0 else float("nan")
    k = min(max(int(rip_k), 1), op.n_out)
    rip = rip_constant(op, k, draws=rip_draws, generator=generator)
    stats_ = WeightStats(
        n_in=op.n_in,
        n_out=op.n_out,
        excess_kurtosis=kurt,
        normal_ks=nks,
        mp_ks=mp_ks,
        spectrum_exact=spec.exact,
        top_singular_value=float(spec.values.max().clamp_min(0).sqrt()),
        mp_top_singular_value=math.sqrt(variance) * (math.sqrt(op.n_out) + math.sqrt(op.n_in)),
        incoherence=incoh,
        incoherence_exact=incoh_exact,
        row_norm_cv=cv,
        rip_delta=rip,
        rip_k=k,
    )
    return stats_, spec
