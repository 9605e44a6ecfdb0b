"""Per-input reversibility metrics, bootstrap intervals of means, and the error ratio.

Metrics compare a hidden activation ``h`` with its recovery ``ĥ``, both of shape
(batch, *code_shape), one value per input:

* ``rel_err`` — ``‖ĥ - h‖² / ‖h‖²`` (NaN when ``h = 0``);
* ``cos`` — cosine of the angle between ``ĥ`` and ``h`` (NaN when ``h = 0``; 0 when ``ĥ = 0``);
* ``f1`` — F1 score of the support ``{ĥ > 0}`` against ``{h > 0}`` (1 when both are empty).

:func:`bootstrap_mean` gives a metric's mean with a percentile bootstrap interval (inputs, and
nets when several, are resampled); :func:`ratio_estimate` gives the trained/null error ratio on
the log scale with a prediction standard error from the spread of the null nets (nothing
resampled), the estimate the audit's verdict tests.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from shadownets.stats import Estimate, interval

__all__ = ["METRICS", "per_input_metrics", "bootstrap_mean", "ratio_estimate", "ratio_interval",
           "typical_ratio_estimate",
           "input_variance"]

#: Metric names, in column order.
METRICS: tuple[str, ...] = ("rel_err", "cos", "f1")


def per_input_metrics(h_hat: torch.Tensor, h: torch.Tensor, *,
                      support_tol: float = 1e-6) -> dict[str, np.ndarray]:
    """Per-input ``rel_err``, ``cos`` and ``f1`` (each an array of shape (batch,)).

    The figures of :func:`shadownets.theory.metrics.recovery_metrics` on flattened codes
    (``rel_error_sq``, ``cosine``, ``support_f1``; the same support tolerance), computed in the
    codes' own dtype (no float64 copies of big codes; agrees with it to ~1e-6 in float32),
    with NaN for the relative error and cosine of inputs whose true code is zero.

    Parameters
    ----------
    h_hat, h : torch.Tensor of shape (batch, *code_shape)
        Recovered and true activations.
    support_tol : float, default 1e-6
        ``ĥ_i`` is in the support when ``ĥ_i > support_tol · ‖ĥ‖∞``.
    """
    if h_hat.shape != h.shape:
        raise ValueError(f"h_hat and h must have the same shape, got {tuple(h_hat.shape)} "
                         f"and {tuple(h.shape)}")
    a = h_hat.detach().reshape(h.shape[0], -1)
    b = h.detach().reshape(h.shape[0], -1).to(a.dtype)
    f64 = torch.float64  # sums in the codes' dtype (cascade summation: ~1e-7 relative in
    #                      float32, ~40x faster than dtype=float64 on CPU), then float64
    hh = b.square().sum(1).to(f64)
    aa = a.square().sum(1).to(f64)
    ab = (a * b).sum(1).to(f64)
    err = (a - b).square_().sum(1).to(f64)
    s_hat = a > support_tol * a.abs().amax(1, keepdim=True)
    s = b > 0
    tp = (s_hat & s).sum(1).double()
    denom = s_hat.sum(1).double() + s.sum(1).double()
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.ones_like(tp))
    dead = hh == 0
    tiny = torch.finfo(f64).tiny
    rel = torch.where(dead, torch.full_like(hh, float("nan")), err / hh.clamp_min(tiny))
    cos = torch.where(dead, torch.full_like(hh, float("nan")),
                      ab / (aa.sqrt() * hh.sqrt()).clamp_min(tiny))
    return {"rel_err": rel.cpu().numpy(), "cos": cos.cpu().numpy(), "f1": f1.cpu().numpy()}


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


def ratio_estimate(numer: np.ndarray, denom: np.ndarray) -> Estimate:
    """The log error ratio of a net against its null nets, with a **prediction** standard error.

    The question is whether ONE trained net is a typical draw from the null nets *on these
    inputs*. With ``a`` the trained net's mean of ``numer`` and ``d_j`` null net ``j``'s mean of
    ``denom[j]`` (all over the same inputs), the estimate is

    ``log r = log a − mean_j log d_j``

    and, were the trained net one more draw from the null nets, ``log a`` and each
    ``log d_j`` would be i.i.d. given the inputs, so ``Var(log r) = σ² (1 + 1/n)`` with ``σ``
    the spread of ``log d_j`` over null nets. Its estimate ``s`` (standard deviation of the
    ``n`` values ``log d_j``) **already contains** each net's input-sampling noise — every
    ``d_j`` is a mean over the same finite inputs — so nothing is added for the inputs (no
    input bootstrap: that would count the input noise twice). Nothing is resampled: the
    replicates are the ``n`` null nets, and ``(log r − θ) / (s √(1 + 1/n))`` is ``t_{n−1}``
    when the ``log d_j`` are normal. The interval ``log r ± t_{n−1} · s · √(1 + 1/n)`` is a
    prediction interval for the trained net as one more null draw.

    Parameters
    ----------
    numer : array of shape (inputs,)
        Per-input values of the trained net (NaN ignored).
    denom : array of shape (inputs,) or (nets, inputs)
        Per-input values of the null nets on the same inputs (NaN ignored; a net whose mean
        is not finite and positive is dropped).

    Returns
    -------
    shadownets.stats.Estimate
        ``mean`` = log r, ``se`` = s·√(1 + 1/n), ``df`` = n − 1, ``n`` = usable null nets,
        ``sd`` = s. With fewer than two usable null nets ``se``/``df``/``sd`` are NaN (no
        interval: the spread of the null nets is unknown); ``mean`` is NaN (or ±inf) when a
        mean error is not positive.
    """
    a = np.asarray(numer, dtype=float)
    d = _as_2d(denom, "denom")
    if a.ndim != 1 or a.shape[0] != d.shape[1]:
        raise ValueError(f"numer must have shape (inputs,) = ({d.shape[1]},), got {a.shape}")
    with _quiet():
        means = np.nanmean(d, axis=1)  # (nets,)
        a_mean = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
    logs = np.log(means[np.isfinite(means) & (means > 0)])
    n = int(logs.size)
    log_a = math.log(a_mean) if np.isfinite(a_mean) and a_mean > 0 else float("nan")
    mean = log_a - float(logs.mean()) if n else float("nan")
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n, math.nan)
    s = float(logs.std(ddof=1))
    return Estimate(mean, s * math.sqrt(1.0 + 1.0 / n), float(n - 1), n, s)


def typical_ratio_estimate(est: Estimate) -> Estimate:
    """The log ratio of :func:`ratio_estimate` read as an estimate of the ratio to the
    **typical** null net, with a confidence (not prediction) standard error.

    Here the trained net is held fixed and ``θ = log a − E_j[log d_j]`` is its log error
    against the geometric mean of the null nets' population (given the inputs). Only the null
    nets' mean is estimated, so ``se = s/√n`` (``= est.se/√(n + 1)``), ``t_{n−1}``. This is
    the interval "random-like" must lie inside (:mod:`shadownets.audit.verdict`): it shrinks
    with more null nets, whereas the prediction interval does not shrink below ``±t·s``.

    Returns
    -------
    shadownets.stats.Estimate
        The same ``mean``, ``df``, ``n`` and ``sd``; ``se`` = ``s/√n`` (NaN when ``est``'s is).
    """
    if not (np.isfinite(est.se) and est.n >= 1):
        return est
    return Estimate(est.mean, est.se / math.sqrt(est.n + 1.0), est.df, est.n, est.sd)


def input_variance(denom: np.ndarray) -> float:
    """The input-sampling part of the null nets' spread ``s²`` in :func:`ratio_estimate`.

    On the relative scale ``u_ji = d_ji / mean_i(d_ji)`` (net ``j``'s per-input values over
    its mean; the delta method gives ``log mean_i(d_ji) ≈ log μ_j + mean_i(u_ji) − 1``), what
    varies from input to input *in the same way for every net* cancels between nets; what
    remains is the net × input interaction ``u_ji − mean_k u_ki``. Its variance over inputs,
    times ``n/(n − 1)`` (the mean over ``n`` nets removed) and over ``N`` inputs, is the input
    part of ``Var(log mean_i d_ji)``; this returns its average over nets (NaN ignored).

    Parameters
    ----------
    denom : array of shape (nets, inputs)

    Returns
    -------
    float
        NaN with fewer than two nets, or when no net has a positive mean.
    """
    d = _as_2d(denom, "denom")
    with _quiet():
        means = np.nanmean(d, axis=1, keepdims=True)  # (nets, 1)
        keep = np.isfinite(means[:, 0]) & (means[:, 0] > 0)
        u = d[keep] / means[keep]
        n = u.shape[0]
        if n < 2:
            return float("nan")
        resid = u - np.nanmean(u, axis=0, keepdims=True)  # (nets, inputs)
        n_in = np.isfinite(resid).sum(axis=1)
        var = np.nanvar(resid, axis=1, ddof=1) * n / (n - 1) / np.maximum(n_in, 1)
    var = var[n_in >= 2]
    return float(var.mean()) if var.size else float("nan")


def ratio_interval(est: Estimate, level: float) -> tuple[float, float, float]:
    """``(r, lo, hi)``: the ratio ``exp(est.mean)`` and its two-sided interval at ``level``
    (``exp`` of :func:`shadownets.stats.interval`: a prediction interval for an estimate of
    :func:`ratio_estimate`, a confidence interval for one of :func:`typical_ratio_estimate`;
    NaN bounds when ``est`` has no standard error)."""
    lo, hi = interval(est, level)
    return float(np.exp(est.mean)), float(np.exp(lo)), float(np.exp(hi))


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's "mean of empty slice" warnings (all-NaN resamples give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
