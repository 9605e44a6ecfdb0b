"""A layer's true linear operator: the map ``x -> A x`` of a Linear or Conv layer (no bias).

A convolution is not a stack of ``kh * kw`` small matrices: on an input of shape
``(C, H, W)`` it is one ``(C_out * H_out * W_out) x (C * H * W)`` matrix with a block-Toeplitz
structure. :class:`LayerOperator` exposes that matrix three ways:

* ``matvec`` / ``rmatvec`` — the forward map and its exact adjoint (a vector–Jacobian product,
  i.e. the transposed convolution with the same kernel);
* ``dense()`` — the full matrix, built by applying the layer to every basis vector (small
  inputs only);
* ``spectrum()`` — its singular values: exact (dense SVD in float64) when the matrix is small,
  otherwise estimated by stochastic Lanczos quadrature on the smaller Gram matrix
  (``A Aᵀ`` or ``Aᵀ A``), which gives a weighted set of Ritz values whose weighted empirical
  distribution approximates the spectral distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from shadownets.reverse.ops import module_family, module_rule

__all__ = ["LayerOperator", "Spectrum", "is_linear_layer"]


def is_linear_layer(module: nn.Module) -> bool:
    """True for the layers whose reverse rule is a weighted linear operator (family
    ``"operator"`` in :mod:`shadownets.reverse.ops`: Linear, Conv1d/2d/3d)."""
    return module_family(module) == "operator"


@dataclass(frozen=True)
class Spectrum:
    """Singular values of an operator, possibly as a weighted (estimated) distribution.

    Attributes
    ----------
    values : torch.Tensor of shape (p,)
        Squared singular values (eigenvalues of the smaller Gram matrix), ascending, float64.
    weights : torch.Tensor of shape (p,)
        Probability weight of each value (``1/p`` each when exact). Sums to one.
    exact : bool
        True when computed from the dense matrix, False for a Lanczos estimate.
    n_small, n_large : int
        The smaller and larger side of the operator (``p = n_small`` when exact).
    """

    values: torch.Tensor
    weights: torch.Tensor
    exact: bool
    n_small: int
    n_large: int

    @property
    def singular_values(self) -> torch.Tensor:
        """Singular values, descending, shape (p,)."""
        return self.values.clamp_min(0).sqrt().flip(0)


class LayerOperator:
    """The linear part of ``module`` acting on inputs of per-sample shape ``input_shape``.

    Parameters
    ----------
    module : nn.Linear or nn.Conv1d/2d/3d
        The layer. Its bias is ignored; its weight is read at call time (not copied).
    input_shape : tuple of int
        Per-sample input shape, e.g. ``(in_features,)`` or ``(C, H, W)``.

    Attributes
    ----------
    output_shape : tuple of int
        Per-sample output shape.
    n_in, n_out : int
        Number of input / output units (columns / rows of the matrix ``A``).
    """

    def __init__(self, module: nn.Module, input_shape: tuple[int, ...]) -> None:
        if not is_linear_layer(module):
            raise ValueError(
                f"module must be a weighted layer with a linear reverse rule (nn.Linear or "
                f"nn.Conv1d/2d/3d), got {type(module).__name__}"
            )
        shape = tuple(int(s) for s in input_shape)
        if not shape or any(s <= 0 for s in shape):
            raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {shape}")
        self.module = module
        self.input_shape = shape
        self.rule = module_rule(module, shape)  # the map and its adjoint live in the rule
        self.output_shape = tuple(self.rule.out_shape)
        self.n_in = math.prod(shape)
        self.n_out = math.prod(self.output_shape)
        self._rows: tuple[tuple, torch.Tensor] | None = None

    # -- the map and its adjoint ------------------------------------------------------------
    def _apply(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.rule.apply(x, weight)

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for a batch: (batch, *input_shape) -> (batch, *output_shape)."""
        return self.rule.apply(x, self.module.weight.detach().to(x.dtype))

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` for a batch: (batch, *output_shape) -> (batch, *input_shape).

        The reverse rule's adjoint: for a convolution the transposed convolution with the
        same kernel (checked against a vector–Jacobian product in the tests).
        """
        return self.rule.apply_t(y, self.module.weight.detach().to(y.dtype))

    # -- the matrix ---------------------------------------------------------------------------
    def dense(self, dtype: torch.dtype = torch.float64, chunk: int = 4096) -> torch.Tensor:
        """The matrix ``A`` of shape (n_out, n_in), by applying the layer to basis vectors."""
        if self.module.weight.ndim == 2 and len(self.input_shape) == 1:  # a Linear: A = W
            return self.module.weight.detach().to(dtype).clone()
        cols = []
        device = self.module.weight.device
        with torch.no_grad():
            for start in range(0, self.n_in, chunk):
                stop = min(start + chunk, self.n_in)
                basis = torch.zeros((stop - start, self.n_in), dtype=dtype, device=device)
                basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
                out = self.matvec(basis.reshape(stop - start, *self.input_shape))
                cols.append(out.reshape(stop - start, self.n_out))
        return torch.cat(cols, 0).T.contiguous()

    def row_norms(self) -> torch.Tensor:
        """Euclidean norm of every row of ``A`` (one per output unit), shape (n_out,).

        Exact without building ``A``: ``Σ_j A_ij²`` is the layer with squared weights applied
        to an all-ones input.
        """
        w = self.module.weight
        key = (w.data_ptr(), w._version)  # cached until the weight changes
        if self._rows is None or self._rows[0] != key:
            w2 = w.detach().double() ** 2
            ones = torch.ones((1, *self.input_shape), dtype=torch.float64, device=w2.device)
            with torch.no_grad():
                self._rows = (key, self._apply(ones, w2).reshape(-1).clamp_min(0).sqrt())
        return self._rows[1]

    def col_norms(self) -> torch.Tensor:
        """Euclidean norm of every column of ``A`` (one per input unit), shape (n_in,)."""
        w2 = self.module.weight.detach().double() ** 2
        ones = torch.ones((1, *self.output_shape), dtype=torch.float64, device=w2.device)
        with torch.no_grad():
            return self.rule.apply_t(ones, w2).reshape(-1).clamp_min(0).sqrt()

    def entry_moments(self) -> tuple[float, float]:
        """Mean and (centred) variance of the ``n_out * n_in`` entries of ``A``, zeros included."""
        ones = torch.ones((1, *self.input_shape), dtype=torch.float64,
                          device=self.module.weight.device)
        with torch.no_grad():
            total = float(self.matvec(ones).sum())
        size = self.n_out * self.n_in
        mean = total / size
        second = float((self.row_norms() ** 2).sum()) / size
        return mean, max(second - mean * mean, 0.0)

    # -- the spectrum -------------------------------------------------------------------------
    def spectrum(self, *, dense_max: int = 4_000_000, steps: int = 80, probes: int = 6,
                 generator: torch.Generator | None = None) -> Spectrum:
        """Squared singular values of ``A`` (eigenvalues of the smaller Gram matrix).

        Parameters
        ----------
        dense_max : int, default 4_000_000
            Build the dense matrix and take its exact SVD when ``n_out * n_in <= dense_max``.
        steps : int, default 80
            Lanczos steps per probe for the estimate (capped at the smaller side).
        probes : int, default 6
            Random probe vectors for stochastic Lanczos quadrature.
        generator : torch.Generator, optional
            Randomness of the probes.
        """
        n_small, n_large = min(self.n_in, self.n_out), max(self.n_in, self.n_out)
        if self.n_in * self.n_out <= dense_max:
            sv = torch.linalg.svdvals(self.dense())
            vals = (sv**2).sort().values
            return Spectrum(vals, torch.full_like(vals, 1.0 / len(vals)), True, n_small, n_large)
        vals, wts = _slq(self._gram_small, n_small, steps=min(steps, n_small), probes=probes,
                         generator=generator, device=self.module.weight.device)
        return Spectrum(vals, wts, False, n_small, n_large)

    def _gram_small(self, v: torch.Tensor) -> torch.Tensor:
        """The smaller Gram matrix applied to flat vectors v of shape (batch, n_small)."""
        b = v.shape[0]
        if self.n_in <= self.n_out:
            y = self.matvec(v.reshape(b, *self.input_shape))
            return self.rmatvec(y).reshape(b, -1)
        x = self.rmatvec(v.reshape(b, *self.output_shape))
        return self.matvec(x).reshape(b, -1)


def _slq(apply, n: int, *, steps: int, probes: int, device: torch.device | None = None,
         generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stochastic Lanczos quadrature of a symmetric PSD operator ``apply`` on R^n.

    All probes run together: ``apply`` gets a (probes, n) batch per Lanczos step (one
    batched pass of the layer and its adjoint instead of one per probe), and the Lanczos
    bases live in one preallocated (probes, steps, n) float32 tensor (half the memory and
    time of float64; each step is fully re-orthogonalised twice, which keeps float32 bases
    orthogonal to ~1e-6), with the recurrence's coefficients in float64. Returns Ritz values
    (ascending) and quadrature weights summing to one, pooled over probes.
    """
    # Rademacher probes drawn on the CPU generator, then moved to the operator's device
    v = (torch.randint(0, 2, (probes, n), generator=generator).float() * 2 - 1).to(device)
    v = v / v.norm(dim=1, keepdim=True)
    basis = torch.zeros((probes, steps, n), dtype=torch.float32, device=device)
    basis[:, 0] = v
    alphas = torch.zeros((probes, steps), dtype=torch.float64, device=device)
    betas = torch.zeros((probes, steps), dtype=torch.float64, device=device)
    length = torch.full((probes,), steps, dtype=torch.long)  # Lanczos steps kept per probe
    live = torch.ones(probes, dtype=torch.bool, device=device)
    with torch.no_grad():
        for j in range(steps):
            w = apply(basis[:, j]).float()
            a = (w * basis[:, j]).sum(1, dtype=torch.float64)
            alphas[:, j] = a
            if j == steps - 1:
                break
            q = basis[:, : j + 1]  # (probes, j+1, n)
            for _ in range(2):
                w = w - torch.bmm(torch.bmm(w[:, None], q.transpose(1, 2)), q)[:, 0]
            beta = w.norm(dim=1, dtype=torch.float64)
            stop = live & (beta < 1e-5 * a.abs().clamp_min(1e-300))  # float32 round-off
            for i in torch.nonzero(stop).flatten().tolist():
                length[i] = j + 1
            live = live & ~stop
            if not bool(live.any()):
                break
            betas[:, j] = beta
            basis[:, j + 1] = torch.where(
                live[:, None], w / beta.clamp_min(1e-300).float()[:, None], torch.zeros_like(w))
    nodes, weights = [], []
    for i in range(probes):
        k = int(length[i])
        t = torch.diag(alphas[i, :k])
        if k > 1:
            off = betas[i, : k - 1]
            t = t + torch.diag(off, 1) + torch.diag(off, -1)
        theta, u = torch.linalg.eigh(t.cpu())
        nodes.append(theta)
        weights.append(u[0] ** 2)
    vals = torch.cat(nodes).clamp_min(0)
    wts = torch.cat(weights)
    wts = wts / wts.sum()
    order = vals.argsort()
    return vals[order], wts[order]
