"""Per-input reversibility metrics and seeded percentile bootstraps over inputs.

Metrics compare a hidden activation ``h`` with its recovery ``ĥ``, both of shape
(batch, *code_shape), one value per input:

* ``rel_err`` — ``‖ĥ - h‖² / ‖h‖²`` (NaN when ``h = 0``);
* ``cos`` — cosine of the angle between ``ĥ`` and ``h`` (NaN when ``h = 0``; 0 when ``ĥ = 0``);
* ``f1`` — F1 score of the support ``{ĥ > 0}`` against ``{h > 0}`` (1 when both are empty).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy import stats

from shadownets.theory.metrics import recovery_metrics

__all__ = ["METRICS", "per_input_metrics", "bootstrap_mean", "bootstrap_ratio"]

#: Metric names, in column order.
METRICS: tuple[str, ...] = ("rel_err", "cos", "f1")


def per_input_metrics(h_hat: torch.Tensor, h: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-input ``rel_err``, ``cos`` and ``f1`` (each an array of shape (batch,)).

    Wraps :func:`shadownets.theory.metrics.recovery_metrics` on flattened codes, with NaN for
    the relative error and cosine of inputs whose true code is zero.

    Parameters
    ----------
    h_hat, h : torch.Tensor of shape (batch, *code_shape)
        Recovered and true activations.
    """
    if h_hat.shape != h.shape:
        raise ValueError(f"h_hat and h must have the same shape, got {tuple(h_hat.shape)} "
                         f"and {tuple(h.shape)}")
    a = h_hat.detach().reshape(h.shape[0], -1)
    b = h.detach().reshape(h.shape[0], -1)
    m = recovery_metrics(a, b)
    dead = (b.double().pow(2).sum(1) == 0).cpu().numpy()
    rel = m["rel_error_sq"].cpu().numpy().copy()
    cos = m["cosine"].cpu().numpy().copy()
    rel[dead] = np.nan
    cos[dead] = np.nan
    return {"rel_err": rel, "cos": cos, "f1": m["support_f1"].cpu().numpy().copy()}


def _boot_means(values: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``reps`` two-level resamples of values (nets, inputs): nets and inputs."""
    n_nets, n_in = values.shape
    out = np.empty(reps)
    chunk = max(1, 2_000_000 // max(n_nets * n_in, 1))
    for start in range(0, reps, chunk):
        b = min(chunk, reps - start)
        rows = rng.integers(0, n_nets, size=(b, n_nets))
        cols = rng.integers(0, n_in, size=(b, n_in))
        sample = values[rows[:, :, None], cols[:, None, :]]  # (b, nets, inputs)
        out[start:start + b] = np.nanmean(sample.reshape(b, -1), axis=1)
    return out


def _as_2d(values: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] < 1:
        raise ValueError(f"{name} must have shape (inputs,) or (nets, inputs), got {v.shape}")
    return v


def bootstrap_mean(values: np.ndarray, *, reps: int, level: float,
                   seed: int) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval.

    Parameters
    ----------
    values : array of shape (inputs,) or (nets, inputs)
        Per-input values (NaN ignored). With several nets, each replicate resamples nets and
        inputs (two-level bootstrap), so the interval covers both sources of variation.
    reps : int
        Bootstrap replicates.
    level : float
        Interval coverage, e.g. 0.95.
    seed : int
        Seed of the resampling.

    Returns
    -------
    (estimate, lo, hi) : tuple of float
    """
    v = _as_2d(values, "values")
    est = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    if reps < 1 or not np.isfinite(est):
        return est, float("nan"), float("nan")
    with _quiet():
        boot = _boot_means(v, reps, np.random.default_rng(seed))
    q = (1 - level) / 2
    return est, float(np.nanquantile(boot, q)), float(np.nanquantile(boot, 1 - q))


def bootstrap_ratio(numer: np.ndarray, denom: np.ndarray, *, reps: int, level: float,
                    seed: int) -> tuple[float, float, float]:
    """Ratio ``r = mean(numer) / GM_j mean(denom[j])`` with a prediction interval.

    ``GM_j`` is the geometric mean over null nets of each net's mean: the ratio is compared on
    the log scale, where a trained net that is a typical null draw sits at 0 (an arithmetic
    mean over nets would be pulled up by the right tail of the nets' errors).
    The question is whether ONE trained net is a typical draw from the null nets, so the
    interval must hold the net-to-net spread as well as the input sampling noise:

    ``log r ± t_{level, nets-1} · sqrt(s² (1 + 1/nets) + v)``

    where ``s`` is the standard deviation of ``log mean(denom[j])`` over null nets ``j``
    (0 with one net, where ``t`` becomes the normal quantile) and ``v`` the variance of
    ``log r`` over a paired, seeded bootstrap of the inputs (the same resampled inputs for
    numerator and denominator).

    Parameters
    ----------
    numer : array of shape (inputs,)
        Per-input values of the trained net (NaN ignored).
    denom : array of shape (inputs,) or (nets, inputs)
        Per-input values of the null nets on the same inputs.
    reps, level, seed
        As in :func:`bootstrap_mean`.

    Returns
    -------
    (estimate, lo, hi) : tuple of float
    """
    a = np.asarray(numer, dtype=float)
    d = _as_2d(denom, "denom")
    if a.ndim != 1 or a.shape[0] != d.shape[1]:
        raise ValueError(f"numer must have shape (inputs,) = ({d.shape[1]},), got {a.shape}")
    with _quiet():
        log_nets = np.log(np.nanmean(d, axis=1))  # (nets,)
        est = float(np.exp(np.log(np.nanmean(a)) - np.mean(log_nets)))
        if reps < 1 or not (np.isfinite(est) and est > 0):
            return est, float("nan"), float("nan")
        rng = np.random.default_rng(seed)
        cols = rng.integers(0, d.shape[1], size=(reps, d.shape[1]))
        null_boot = np.log(np.nanmean(d[:, cols], axis=2)).mean(axis=0)  # (reps,)
        boot = np.log(np.nanmean(a[cols], axis=1)) - null_boot
        v = float(np.nanvar(boot))
        n = d.shape[0]
        if n > 1:
            s2 = float(np.var(log_nets, ddof=1))
            quant = float(stats.t.ppf(0.5 + level / 2, n - 1))
        else:
            s2, quant = 0.0, float(stats.norm.ppf(0.5 + level / 2))
        half = quant * np.sqrt(s2 * (1 + 1 / n) + v)
        return est, float(est * np.exp(-half)), float(est * np.exp(half))


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's "mean of empty slice" warnings (all-NaN resamples give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
