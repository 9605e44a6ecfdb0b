"""Weight families of the random-like generative model.

Every family is an n × m matrix ``W`` (n observed units, m hidden units) exposed through two
batched products: ``matmul(h) = h Wᵀ`` (generation, ``W h`` per sample) and
``rmatmul(x) = x W`` (inference, ``Wᵀ x`` per sample).

Scaling of the sparse family
----------------------------
In the sparse random bipartite graph every observed unit has exactly ``d`` distinct hidden
neighbours, chosen uniformly; the weights on the edges are N(0, 1) or ±1 multiplied by
``sqrt(m / d)``. Then every entry has ``E[W_ji] = 0`` and ``E[W_ji²] = (d/m)·(m/d) = 1`` — the
second moments of the dense N(0, 1) model — and ``E[w·ReLU(w h + ξ)] = E[w²]·h/2`` still holds for
any symmetric ``ξ`` (Stein's lemma for Gaussian values; ``ReLU(a) − ReLU(−a) = a`` for ±1
values), so ``α = 2/(ρ n)`` keeps ``E[Wᵀ x] = h`` and ``E‖x‖² = 2‖h‖²/(ρ n)`` exactly.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod

import torch

from shadownets.theory._checks import check_finite, check_int, make_generator

__all__ = [
    "LayerWeights",
    "DenseWeights",
    "SparseWeights",
    "gaussian_weights",
    "sparse_graph_weights",
    "WEIGHT_FAMILIES",
    "SPARSE_VALUES",
]

WEIGHT_FAMILIES = ("gaussian", "sparse")
SPARSE_VALUES = ("gaussian", "rademacher")


class LayerWeights(ABC):
    """An n × m weight matrix with batched products in both directions."""

    n: int
    m: int

    @abstractmethod
    def matmul(self, h: torch.Tensor) -> torch.Tensor:
        """``W h`` per sample: (batch, m) -> (batch, n)."""

    @abstractmethod
    def rmatmul(self, x: torch.Tensor) -> torch.Tensor:
        """``Wᵀ x`` per sample: (batch, n) -> (batch, m)."""

    @abstractmethod
    def dense(self) -> torch.Tensor:
        """The matrix as a dense tensor of shape (n, m)."""

    @abstractmethod
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Dense rows ``W[index]`` of shape (len(index), m)."""

    @property
    @abstractmethod
    def dtype(self) -> torch.dtype: ...

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.m)


class DenseWeights(LayerWeights):
    """A dense matrix, given or drawn i.i.d. N(0, 1).

    Parameters
    ----------
    W : Tensor of shape (n, m)
        Finite entries.
    """

    def __init__(self, W: torch.Tensor) -> None:
        if not torch.is_tensor(W) or W.dim() != 2:
            shape = tuple(W.shape) if torch.is_tensor(W) else type(W).__name__
            raise ValueError(f"weights must be a 2-D tensor of shape (n, m), got {shape}")
        check_finite("weights", W)
        self.W = W
        self.n, self.m = W.shape

    def matmul(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.W.T

    def rmatmul(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W

    def dense(self) -> torch.Tensor:
        return self.W

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.W[index]

    @property
    def dtype(self) -> torch.dtype:
        return self.W.dtype

    @property
    def device(self) -> torch.device:
        return self.W.device


class SparseWeights(LayerWeights):
    """A sparse n × m matrix with exactly ``d`` non-zeros in every row, stored as CSR.

    ``Wᵀ`` is kept as a second CSR matrix, built on the first ``rmatmul``.

    Parameters
    ----------
    columns : Tensor of shape (n, d), integer
        Hidden neighbours of every observed unit, in [0, m) and distinct within a row.
    values : Tensor of shape (n, d), float
        Edge weights (already scaled).
    m : int
        Number of hidden units.
    """

    def __init__(self, columns: torch.Tensor, values: torch.Tensor, m: int) -> None:
        if columns.shape != values.shape or columns.dim() != 2:
            raise ValueError(
                f"columns and values must both have shape (n, d), got {tuple(columns.shape)} "
                f"and {tuple(values.shape)}"
            )
        check_finite("weights", values)
        if columns.dtype.is_floating_point or columns.dtype == torch.bool:
            raise ValueError(f"columns must be an integer tensor, got {columns.dtype}")
        if columns.numel() and (int(columns.min()) < 0 or int(columns.max()) >= m):
            raise ValueError(f"columns must lie in [0, {m}), got values in "
                             f"[{int(columns.min())}, {int(columns.max())}]")
        columns, order = columns.sort(dim=1)
        if bool((columns[:, 1:] == columns[:, :-1]).any()):
            raise ValueError("columns must be distinct within each row (a repeated neighbour)")
        values = values.gather(1, order)
        self.n, self.d = columns.shape
        self.m = int(m)
        self._csr_t: torch.Tensor | None = None
        idx_dtype = torch.int32 if self.n * self.d < 2**31 - 1 else torch.int64
        crow = torch.arange(0, self.n * self.d + 1, self.d, dtype=idx_dtype, device=values.device)
        cols = columns.reshape(-1).to(idx_dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            self.csr = torch.sparse_csr_tensor(
                crow, cols, values.reshape(-1), size=(self.n, self.m)
            )

    @property
    def columns(self) -> torch.Tensor:
        """Hidden neighbours, shape (n, d)."""
        return self.csr.col_indices().reshape(self.n, self.d).long()

    @property
    def values(self) -> torch.Tensor:
        """Edge weights, shape (n, d)."""
        return self.csr.values().reshape(self.n, self.d)

    def matmul(self, h: torch.Tensor) -> torch.Tensor:
        return (self.csr @ h.T).T

    def rmatmul(self, x: torch.Tensor) -> torch.Tensor:
        return (self.csr_t @ x.T).T

    @property
    def csr_t(self) -> torch.Tensor:
        """CSR storage of ``Wᵀ`` (m, n), built on first use by a stable counting sort and
        cached: a CSR-by-dense product is much faster, and lighter, than dense-by-CSR."""
        if self._csr_t is None:
            cols = self.csr.col_indices()
            order = torch.argsort(cols, stable=True)  # edges grouped by hidden unit
            counts = torch.bincount(cols, minlength=self.m)
            crow = torch.zeros(self.m + 1, dtype=cols.dtype, device=cols.device)
            crow[1:] = counts.cumsum(0)
            rows = torch.div(order, self.d, rounding_mode="floor").to(cols.dtype)
            values = self.csr.values()[order]
            del order
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self._csr_t = torch.sparse_csr_tensor(crow, rows, values, size=(self.m, self.n))
        return self._csr_t

    def dense(self) -> torch.Tensor:
        return self.csr.to_dense()

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(index), self.m, dtype=self.dtype, device=self.device)
        out.scatter_(1, self.columns[index], self.values[index])
        return out

    @property
    def dtype(self) -> torch.dtype:
        return self.csr.dtype

    @property
    def device(self) -> torch.device:
        return self.csr.device


def gaussian_weights(
    n: int,
    m: int,
    *,
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> DenseWeights:
    """Dense n × m weights with i.i.d. N(0, 1) entries."""
    n, m = check_int("n", n, low=1), check_int("m", m, low=1)
    gen = make_generator(generator, device)
    W = torch.randn(n, m, generator=gen, device=gen.device, dtype=dtype)
    return DenseWeights(W.to(device))


def _distinct_neighbours(n: int, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(n, d) int64 matrix whose rows are d distinct uniform draws from range(m), sorted."""
    if 4 * d >= m:  # dense regime: a random permutation per row
        cols = torch.empty(n, d, dtype=torch.int64)
        chunk = max(1, 2**24 // m)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            cols[start:stop] = torch.rand(stop - start, m, generator=gen).argsort(dim=1)[:, :d]
        return cols.sort(dim=1).values
    # sparse regime: draw with replacement, redraw the (few) rows that hold a repeat
    cols = torch.randint(0, m, (n, d), generator=gen)
    while True:
        s = cols.sort(dim=1).values
        bad = (s[:, 1:] == s[:, :-1]).any(dim=1).nonzero().squeeze(1)
        if bad.numel() == 0:
            return s  # sorted within rows, as CSR expects
        cols[bad] = torch.randint(0, m, (bad.numel(), d), generator=gen)


def sparse_graph_weights(
    n: int,
    m: int,
    degree: int,
    *,
    values: str = "gaussian",
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> SparseWeights:
    """Sparse random bipartite graph: every observed unit has ``degree`` random hidden neighbours.

    Edge weights are N(0, 1) (``values="gaussian"``) or ±1 (``"rademacher"``), times
    ``sqrt(m / degree)`` so that every entry has mean 0 and second moment 1, as in the dense model.

    Parameters
    ----------
    n, m : int
        Observed and hidden units.
    degree : int
        Neighbours per observed unit, ``1 <= degree <= m``.

    Returns
    -------
    SparseWeights
        CSR storage of the (n, m) matrix; the randomness is drawn on the CPU.
    """
    n, m = check_int("n", n, low=1), check_int("m", m, low=1)
    d = check_int("degree", degree, low=1, high=m)
    if values not in SPARSE_VALUES:
        raise ValueError(f"values must be one of {SPARSE_VALUES}, got {values!r}")
    gen = make_generator(generator, "cpu")
    cols = _distinct_neighbours(n, m, d, gen)
    scale = math.sqrt(m / d)
    if values == "gaussian":
        vals = torch.randn(n, d, generator=gen, dtype=dtype)
    else:
        vals = torch.randint(0, 2, (n, d), generator=gen).to(dtype).mul_(2).sub_(1)
    vals.mul_(scale)
    return SparseWeights(cols.to(device), vals.to(device), m)
