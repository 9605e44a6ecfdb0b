"""Alignment measures: how close a decoder D comes to c · Eᵀ, and learned units to a known W.

Pure tensor functions (float64 inside), no training. For a layer with encoder ``E`` of shape
(M, n) and decoder ``D`` of shape (n, M):

* :func:`unit_cosines` — per hidden unit i, the cosine of decoder column ``D[:, i]`` and
  encoder row ``E[i, :]``; invariant under rescaling a unit (E row × s, D column / s), as the
  autoencoder's function is;
* :func:`best_scale` — the c minimising ``‖D − c·Eᵀ‖_F``: ``c = ⟨D, Eᵀ⟩_F / ‖E‖²_F``;
* :func:`relative_residual` — ``‖D − c·Eᵀ‖_F / ‖D‖_F`` at that c (0: tied up to one scale;
  1: D orthogonal to Eᵀ). Unlike the cosines it depends on how the units' scales are spread;
* :func:`null_cosines` — the random-pair null: the cosine of ``D[:, π(i)]`` and ``E[i, :]``
  for a random derangement π, i.e. of unrelated units of the same trained matrices (it is not
  0 where every unit shares a direction, e.g. the data's mean);
* :func:`match_units` — the learned units matched one-to-one to the columns of a known W (up
  to permutation and positive scale) by the Hungarian algorithm
  (:func:`scipy.optimize.linear_sum_assignment`, maximising the summed cosine), with the
  best scale per matched pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["unit_cosines", "best_scale", "relative_residual", "derangement", "null_cosines",
           "cosine_matrix", "Matching", "match_units", "unit_gains", "layer_alignment"]

_EPS = 1e-12


def _pair(decoder: Tensor, encoder: Tensor) -> tuple[Tensor, Tensor]:
    if decoder.ndim != 2 or encoder.ndim != 2 or decoder.shape != encoder.T.shape:
        raise ValueError(f"decoder must be (n, M) and encoder (M, n); got decoder "
                         f"{tuple(decoder.shape)} and encoder {tuple(encoder.shape)}")
    return decoder.detach().double().cpu(), encoder.detach().double().cpu()


def _cos_rows(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise cosines of a (M, n) and b (M, n); NaN where either row is zero."""
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = (a * b).sum(dim=1) / (na * nb).clamp_min(_EPS)
    return torch.where((na > _EPS) & (nb > _EPS), cos, torch.full_like(cos, math.nan))


def unit_cosines(decoder: Tensor, encoder: Tensor) -> Tensor:
    """Cosine of ``D[:, i]`` and ``E[i, :]`` per unit.

    Parameters
    ----------
    decoder : Tensor of shape (n, M)
    encoder : Tensor of shape (M, n)

    Returns
    -------
    Tensor of shape (M,), float64
        In [−1, 1]; NaN for a unit whose decoder column or encoder row is zero.
    """
    d, e = _pair(decoder, encoder)
    return _cos_rows(d.T, e)


def best_scale(decoder: Tensor, encoder: Tensor) -> float:
    """The scalar c minimising ``‖D − c·Eᵀ‖_F``: ``⟨D, Eᵀ⟩_F / ‖E‖²_F`` (NaN if E = 0).

    Parameters
    ----------
    decoder : Tensor of shape (n, M)
    encoder : Tensor of shape (M, n)
    """
    d, e = _pair(decoder, encoder)
    den = float(e.pow(2).sum())
    return float((d * e.T).sum()) / den if den > 0 else math.nan


def relative_residual(decoder: Tensor, encoder: Tensor, c: float | None = None) -> float:
    """``‖D − c·Eᵀ‖_F / ‖D‖_F`` (c: :func:`best_scale` unless given; NaN if D = 0).

    Parameters
    ----------
    decoder : Tensor of shape (n, M)
    encoder : Tensor of shape (M, n)
    c : float, optional
    """
    d, e = _pair(decoder, encoder)
    c = best_scale(d, e) if c is None else float(c)
    den = float(d.norm())
    if not den > 0 or not math.isfinite(c):
        return math.nan
    return float((d - c * e.T).norm()) / den


def derangement(size: int, generator: torch.Generator) -> Tensor:
    """A uniformly random permutation of ``range(size)`` with no fixed point (size >= 2),
    drawn by rejection from ``generator``.

    Returns
    -------
    Tensor of shape (size,), int64
    """
    if size < 2:
        raise ValueError(f"a derangement needs size >= 2, got {size}")
    ar = torch.arange(size)
    while True:  # P(no fixed point) → 1/e: a few tries
        perm = torch.randperm(size, generator=generator)
        if not bool((perm == ar).any()):
            return perm


def null_cosines(decoder: Tensor, encoder: Tensor, generator: torch.Generator) -> Tensor:
    """The random-pair null: cosine of ``D[:, π(i)]`` and ``E[i, :]`` for a random derangement
    π (see the module docstring); all NaN for M < 2.

    Returns
    -------
    Tensor of shape (M,), float64
    """
    d, e = _pair(decoder, encoder)
    if e.shape[0] < 2:
        return torch.full((e.shape[0],), math.nan, dtype=torch.float64)
    return _cos_rows(d.T[derangement(e.shape[0], generator)], e)


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """Cosines of every column of ``a`` (n, M) with every column of ``b`` (n, m): (M, m),
    float64 (0 for a zero column)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a must be (n, M) and b (n, m) with the same n; got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    an = a / a.norm(dim=0, keepdim=True).clamp_min(_EPS)
    bn = b / b.norm(dim=0, keepdim=True).clamp_min(_EPS)
    return an.T @ bn


@dataclass(frozen=True)
class Matching:
    """Learned units matched to reference columns, one pair per row (``min(M, m)`` pairs).

    Attributes
    ----------
    learned, reference : numpy.ndarray of shape (p,), int
        Matched indices: learned unit ``learned[r]`` ↔ reference column ``reference[r]``,
        sorted by ``learned``.
    cosine : numpy.ndarray of shape (p,)
        Cosine of each matched pair.
    scale : numpy.ndarray of shape (p,)
        The best scale per pair, ``⟨a, w⟩ / ‖w‖²`` (a ≈ scale · w).
    """

    learned: np.ndarray
    reference: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray

    @property
    def median_cosine(self) -> float:
        return float(np.median(self.cosine)) if self.cosine.size else math.nan


def match_units(learned: Tensor, reference: Tensor) -> Matching:
    """Match the columns of ``learned`` (n, M) to those of ``reference`` (n, m) one-to-one,
    maximising the summed (signed) cosine: the Hungarian algorithm of
    :func:`scipy.optimize.linear_sum_assignment`.

    Units are matched up to permutation and positive scale (signed cosines: the model's codes
    are nonnegative, so a column's sign is part of what is learned). For an encoder ``E``
    (M, n) pass ``E.T``.

    Returns
    -------
    Matching
    """
    from scipy.optimize import linear_sum_assignment

    cos = cosine_matrix(learned, reference).numpy()  # (M, m)
    rows, cols = linear_sum_assignment(cos, maximize=True)
    a, w = learned.detach().double().cpu().numpy(), reference.detach().double().cpu().numpy()
    wn = (w[:, cols] ** 2).sum(axis=0)
    scale = (a[:, rows] * w[:, cols]).sum(axis=0) / np.maximum(wn, _EPS)
    return Matching(rows.astype(np.int64), cols.astype(np.int64), cos[rows, cols], scale)


def unit_gains(decoder: Tensor, encoder: Tensor) -> Tensor:
    """Per unit, ``⟨D[:, i], E[i, :]⟩``: the unit's contribution to the trace of the
    reconstruction map ``D E``, invariant under rescaling the unit and the input.

    Parameters
    ----------
    decoder : Tensor of shape (n, M)
    encoder : Tensor of shape (M, n)

    Returns
    -------
    Tensor of shape (M,), float64
    """
    d, e = _pair(decoder, encoder)
    return (d.T * e).sum(dim=1)


def layer_alignment(decoder: Tensor, encoder: Tensor, live: Tensor | None = None, *,
                    generator: torch.Generator) -> dict[str, float]:
    """Every alignment measure of one layer, over its live units.

    Parameters
    ----------
    decoder : Tensor of shape (n, M)
    encoder : Tensor of shape (M, n)
    live : bool Tensor of shape (M,), optional
        The units measured (default: all). A dead unit (never on) gets no gradient, so its
        weights say nothing about training.
    generator : torch.Generator
        Draws the null's derangement.

    Returns
    -------
    dict
        ``n_units``, ``n_live``, ``median_cosine``, ``mean_cosine``, ``null_median``
        (the random-pair null's median), ``c`` (:func:`best_scale`), ``residual``
        (:func:`relative_residual`), ``null_c`` and ``null_residual`` (the same for D with its
        columns deranged).
    """
    d, e = _pair(decoder, encoder)
    keep = torch.ones(e.shape[0], dtype=torch.bool) if live is None else live.cpu().bool()
    d, e = d[:, keep], e[keep]
    nan = math.nan
    out = {"n_units": int(keep.numel()), "n_live": int(keep.sum())}
    if out["n_live"] == 0:
        return {**out, "median_cosine": nan, "mean_cosine": nan, "null_median": nan, "c": nan,
                "residual": nan, "null_c": nan, "null_residual": nan}
    cos = unit_cosines(d, e)
    c = best_scale(d, e)
    out.update(median_cosine=float(cos.nanmedian()), mean_cosine=float(cos.nanmean()),
               c=c, residual=relative_residual(d, e, c))
    if out["n_live"] < 2:
        return {**out, "null_median": nan, "null_c": nan, "null_residual": nan}
    perm = derangement(out["n_live"], generator)
    null = _cos_rows(d.T[perm], e)
    d_null = d[:, perm]
    null_c = best_scale(d_null, e)
    out.update(null_median=float(null.nanmedian()), null_c=null_c,
               null_residual=relative_residual(d_null, e, null_c))
    return out
