"""Solvers a user would otherwise pick to recover h from x, on the very same instances.

On the kept coordinates with ``x_j > 0`` the one-layer model is linear: ``α (W h)_j = x_j``.
Each baseline solves that system per sample (scipy and scikit-learn are not batched):

- ``nnls``: scipy's non-negative least squares;
- ``lasso``: scikit-learn's ``Lasso(positive=True)``, penalty ``1e-3·λ_max`` (``λ_max`` the
  smallest penalty whose solution is zero), no intercept;
- ``omp``: scikit-learn's orthogonal matching pursuit with ``k`` atoms (told the true
  sparsity), negative coefficients clipped to zero.

The dropout mask is taken as known (``x_j > 0`` implies ``z_j = 1``); rows with ``x_j = 0``
are dropped, which throws away their inequality information, as these solvers would.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from scipy.optimize import nnls
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, OrthogonalMatchingPursuit

from shadownets.theory._checks import (
    check_finite,
    check_int,
    check_matrix_batch,
    derive_seed,
    make_generator,
)
from shadownets.theory.bias import BiasSpec
from shadownets.theory.metrics import recovery_metrics
from shadownets.theory.model import NetConfig, RandomLikeNet
from shadownets.theory.recovery import draw, recover

__all__ = ["BASELINES", "BASELINE_COLUMNS", "solve_baseline", "compare_baselines"]

BASELINE_COLUMNS = ("method", "rel_error_sq", "rel_error_sq_std", "support_f1",
                    "seconds_per_sample", "n_samples")


def _nnls(A: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return nnls(A, y, maxiter=50 * A.shape[1])[0]


def _lasso(A: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    lam_max = float(np.abs(A.T @ y).max()) / A.shape[0]
    model = Lasso(alpha=1e-3 * lam_max, positive=True, fit_intercept=False, max_iter=5000,
                  tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(A, y).coef_


def _omp(A: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    n_atoms = max(1, min(k, A.shape[0], A.shape[1]))
    model = OrthogonalMatchingPursuit(n_nonzero_coefs=n_atoms, fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.clip(model.fit(A, y).coef_, 0.0, None)


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "nnls": _nnls, "lasso": _lasso, "omp": _omp,
}


def solve_baseline(method: str, net: RandomLikeNet, x: torch.Tensor, k: int) -> torch.Tensor:
    """Recover the top code of a one-layer ``net`` from ``x`` (batch, n) with ``method``.

    Returns a float64 tensor of shape (batch, m).
    """
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; known: {sorted(BASELINES)}")
    if net.depth != 1:
        raise ValueError(f"baselines solve one layer; the net has depth {net.depth}")
    check_matrix_batch("x", x, net.config.widths[0])
    check_finite("x", x)
    solver, alpha = BASELINES[method], net.config.alphas[0]
    W, out = net.layers[0], []
    for row in x.double().cpu():
        active = torch.nonzero(row > 0).squeeze(1)
        if active.numel() == 0:
            out.append(np.zeros(net.config.widths[-1]))
            continue
        A = (alpha * W.rows(active.to(W.device))).double().cpu().numpy()
        out.append(solver(A, row[active].numpy(), k))
    return torch.from_numpy(np.stack(out))


def compare_baselines(
    config: NetConfig,
    *,
    batch: int = 64,
    methods: tuple[str, ...] = ("nnls", "lasso", "omp"),
    bias: BiasSpec = "calibrated",
    seed: int = 0,
) -> pd.DataFrame:
    """Feed-forward inference and each baseline on the same ``batch`` samples.

    Returns
    -------
    DataFrame
        One row per method (``feedforward`` first), columns :data:`BASELINE_COLUMNS`.
        Feed-forward time is the median of 7 batched passes (after a warm-up pass) divided by
        the batch size; bias calibration is excluded (it is done once per net, not per
        sample). Each solver runs once over the batch, one sample at a time.
    """
    batch = check_int("batch", batch, low=2)
    if config.depth != 1:
        raise ValueError(f"baselines compare one-layer models; got depth {config.depth}")
    net, truth = draw(config, batch=batch, seed=seed, dtype=torch.float64)
    h = truth[-1]
    result = recover(net, truth, bias, generator=make_generator(derive_seed(seed, 2)))
    rows = [_row("feedforward", result.estimate[-1], h, _median_seconds(
        lambda: net.infer(truth[0], result.biases)))]
    for method in methods:
        start = time.perf_counter()
        h_hat = solve_baseline(method, net, truth[0], config.k)
        rows.append(_row(method, h_hat, h, time.perf_counter() - start))
    return pd.DataFrame(rows, columns=list(BASELINE_COLUMNS))


def _median_seconds(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _row(method: str, h_hat: torch.Tensor, h: torch.Tensor, seconds: float) -> dict:
    m = recovery_metrics(h_hat, h)
    return {"method": method, "rel_error_sq": float(m["rel_error_sq"].mean()),
            "rel_error_sq_std": float(m["rel_error_sq"].std()),
            "support_f1": float(m["support_f1"].mean()),
            "seconds_per_sample": seconds / len(h), "n_samples": len(h)}
