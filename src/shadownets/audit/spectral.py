"""The Marchenko–Pastur law and the KS distance of a spectrum to it.

For an ``n_out x n_in`` matrix with i.i.d. entries of variance ``σ²``, let ``p`` be the smaller
and ``n`` the larger side and ``y = p / n``. The eigenvalues ``λ`` of the ``p x p`` Gram matrix,
scaled as ``x = λ / (n σ²)``, follow (as ``p, n → ∞``) the Marchenko–Pastur law with density

    f(x) = sqrt((b - x)(x - a)) / (2 π y x)   on [a, b],   a = (1 - √y)²,  b = (1 + √y)².
"""

from __future__ import annotations

import math

import numpy as np
import torch

from shadownets.audit.operator import Spectrum

__all__ = ["mp_edges", "mp_pdf", "mp_cdf", "ks_to_mp"]


def _check_ratio(y: float) -> float:
    y = float(y)
    if not 0.0 < y <= 1.0:
        raise ValueError(f"ratio must be in (0, 1] (smaller side / larger side), got {y}")
    return y


def mp_edges(ratio: float) -> tuple[float, float]:
    """Support ``(a, b)`` of the unit-variance Marchenko–Pastur law with ratio ``y = p/n``."""
    y = _check_ratio(ratio)
    return (1 - math.sqrt(y)) ** 2, (1 + math.sqrt(y)) ** 2


def mp_pdf(x: np.ndarray, ratio: float) -> np.ndarray:
    """Marchenko–Pastur density at ``x`` (array of any shape), unit variance, ratio ``y``."""
    y = _check_ratio(ratio)
    a, b = mp_edges(y)
    x = np.asarray(x, dtype=float)
    inside = (x > a) & (x < b) & (x > 0)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((b - xi) * (xi - a)) / (2 * math.pi * y * xi)
    return out


def mp_cdf(x: np.ndarray, ratio: float, grid: int = 8193) -> np.ndarray:
    """Marchenko–Pastur distribution function at ``x`` (array of any shape).

    Integrated numerically in the angle ``x = a + (b - a)(1 - cos φ)/2``, under which the
    integrand is smooth (also at ``a = 0`` when ``y = 1``).
    """
    y = _check_ratio(ratio)
    a, b = mp_edges(y)
    phi = np.linspace(0.0, math.pi, grid)
    xs = a + (b - a) * (1 - np.cos(phi)) / 2
    half = (b - a) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = half**2 * np.sin(phi) ** 2 / (2 * math.pi * y * xs)
    dens[~np.isfinite(dens)] = half**2 * 4 / (2 * math.pi * y * max(b, 1e-300))  # φ→0, a=0
    cum = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(phi))])
    cum /= cum[-1]
    return np.interp(np.asarray(x, dtype=float), xs, cum, left=0.0, right=1.0)


def ks_to_mp(spectrum: Spectrum, variance: float) -> float:
    """Kolmogorov–Smirnov distance between a (weighted) spectrum and Marchenko–Pastur.

    Parameters
    ----------
    spectrum : Spectrum
        Squared singular values with weights (see :meth:`LayerOperator.spectrum`).
    variance : float
        Entry variance ``σ²`` of the Gaussian matrix of the same shape to compare with.

    Returns
    -------
    float
        ``sup_t |F_emp(t) - F_MP(t)|`` in [0, 1].
    """
    if not variance > 0:
        raise ValueError(f"variance must be > 0, got {variance}")
    ratio = spectrum.n_small / spectrum.n_large
    x = (spectrum.values / (spectrum.n_large * variance)).cpu().numpy()
    w = spectrum.weights.cpu().numpy() if isinstance(spectrum.weights, torch.Tensor) \
        else np.asarray(spectrum.weights)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order] / w.sum()
    upper = np.cumsum(w)
    lower = upper - w
    f = mp_cdf(x, ratio)
    return float(max(np.max(np.abs(upper - f)), np.max(np.abs(lower - f))))
