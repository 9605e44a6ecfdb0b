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

Budgets (:data:`BUDGETS`) say how long a solver may run:

- ``"full"``: to convergence (Lasso up to 5000 passes, OMP ``k`` atoms, NNLS up to 50·m
  iterations);
- ``"matched"``: the feed-forward pass's time per sample. The solver gets the largest
  iteration cap (Lasso passes, OMP atoms) whose measured time per sample, on a few samples,
  is within that budget; when even one iteration takes longer, what it has at the budget is
  its starting point ĥ = 0 (``iterations`` 0, 0 seconds). NNLS cannot be stopped early
  (scipy raises instead of returning its iterate): its matched result is its full result if
  that fits the budget, else ĥ = 0;
- ``"minimal"``: one iteration (one Lasso pass, one OMP atom; NNLS: not defined, no row),
  whatever it costs — to show where the cheapest solver run lies on the error–time plane.

Feed-forward runs in float32 (as users run it) on the float64 instance's weights; solvers in
float64. Solver times count the solver call only, not the extraction of the active rows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence

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
from shadownets.theory.weights import DenseWeights

__all__ = ["BASELINES", "BUDGETS", "BASELINE_COLUMNS", "BASELINE_SAMPLE_COLUMNS",
           "solve_baseline", "baseline_samples", "summarize_baselines", "compare_baselines"]

#: Column order of :func:`compare_baselines` / :func:`summarize_baselines`.
BASELINE_COLUMNS = ("method", "budget", "iterations", "rel_error_sq", "rel_error_sq_std",
                    "support_f1", "seconds_per_sample", "n_samples")
#: Column order of :func:`baseline_samples`: one row per method, budget and sample.
BASELINE_SAMPLE_COLUMNS = ("method", "budget", "iterations", "sample", "rel_error_sq",
                           "support_f1", "seconds")
BUDGETS = ("full", "matched", "minimal")
_LASSO_FULL = 5000
#: Samples timed to pick a matched-time iteration cap.
_PROBE = 3

Solver = Callable[[np.ndarray, np.ndarray, int, "int | None"], np.ndarray]


def _nnls(A: np.ndarray, y: np.ndarray, k: int, cap: int | None = None) -> np.ndarray:
    return nnls(A, y, maxiter=50 * A.shape[1])[0]  # cannot be stopped early: cap unused


def _lasso(A: np.ndarray, y: np.ndarray, k: int, cap: int | None = None) -> np.ndarray:
    lam_max = float(np.abs(A.T @ y).max()) / A.shape[0]
    model = Lasso(alpha=1e-3 * lam_max, positive=True, fit_intercept=False,
                  max_iter=_LASSO_FULL if cap is None else cap, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(A, y).coef_


def _omp(A: np.ndarray, y: np.ndarray, k: int, cap: int | None = None) -> np.ndarray:
    n_atoms = max(1, min(k if cap is None else min(cap, k), A.shape[0], A.shape[1]))
    model = OrthogonalMatchingPursuit(n_nonzero_coefs=n_atoms, fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.clip(model.fit(A, y).coef_, 0.0, None)


BASELINES: dict[str, Solver] = {"nnls": _nnls, "lasso": _lasso, "omp": _omp}


def _caps(method: str, k: int) -> list[int]:
    """Iteration caps tried for a matched budget, smallest first (empty: cannot be stopped)."""
    if method == "lasso":
        return [2 ** i for i in range(13)]  # 1 .. 4096 passes
    if method == "omp":
        return list(range(1, k + 1))
    return []


def _systems(net: RandomLikeNet, x: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per sample, the active system ``(α W[active], x[active])`` in float64 (None: x = 0)."""
    alpha, W, out = net.config.alphas[0], net.layers[0], []
    for row in x.double().cpu():
        active = torch.nonzero(row > 0).squeeze(1)
        if active.numel() == 0:
            out.append(None)
            continue
        A = (alpha * W.rows(active.to(W.device))).double().cpu().numpy()
        out.append((A, row[active].numpy()))
    return out


def _solve_each(method: str, systems, m: int, k: int,
                cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Solve every system with ``cap``: estimates (batch, m) and seconds per sample (batch,)."""
    solver, est, secs = BASELINES[method], [], []
    for system in systems:
        if system is None:
            est.append(np.zeros(m))
            secs.append(0.0)
            continue
        start = time.perf_counter()
        est.append(solver(system[0], system[1], k, cap))
        secs.append(time.perf_counter() - start)
    return np.stack(est), np.asarray(secs)


def _check_method(method: str, net: RandomLikeNet) -> None:
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; known: {sorted(BASELINES)}")
    if net.depth != 1:
        raise ValueError(f"baselines solve one layer; the net has depth {net.depth}")


def solve_baseline(method: str, net: RandomLikeNet, x: torch.Tensor, k: int, *,
                   iterations: int | None = None) -> torch.Tensor:
    """Recover the top code of a one-layer ``net`` from ``x`` (batch, n) with ``method``.

    ``iterations`` caps Lasso passes or OMP atoms (None: the full solve; ignored by NNLS).
    Returns a float64 tensor of shape (batch, m).
    """
    _check_method(method, net)
    check_matrix_batch("x", x, net.config.widths[0])
    check_finite("x", x)
    if iterations is not None:
        iterations = check_int("iterations", iterations, low=1)
    est, _ = _solve_each(method, _systems(net, x), net.config.widths[-1], k, iterations)
    return torch.from_numpy(est)


def _matched_cap(method: str, systems, m: int, k: int, budget: float,
                 full_seconds: float | None) -> int | None:
    """The largest cap whose median time per probed sample is within ``budget``; 0 when none
    (None: the full solve fits, for solvers that cannot be stopped)."""
    caps = _caps(method, k)
    if not caps:
        return None if full_seconds is not None and full_seconds <= budget else 0
    probe = [s for s in systems if s is not None][:_PROBE]
    best = 0
    for cap in caps:
        _, secs = _solve_each(method, probe, m, k, cap)
        if not probe or float(np.median(secs)) > budget:
            break
        best = cap
    return best


def baseline_samples(
    config: NetConfig,
    *,
    batch: int = 64,
    methods: Sequence[str] = ("nnls", "lasso", "omp"),
    bias: BiasSpec = "calibrated",
    seed: int = 0,
    budgets: Sequence[str] = ("full",),
) -> pd.DataFrame:
    """Feed-forward inference and each baseline under each budget, on the same samples.

    Parameters
    ----------
    config : NetConfig
        A one-layer model.
    batch : int
        Samples (default 64).
    methods : sequence of str
        Keys of :data:`BASELINES`.
    bias : bias rule of the feed-forward pass (default ``"calibrated"``; its calibration is
        done once per net and is not timed).
    seed : int
    budgets : sequence of str
        Among :data:`BUDGETS` (default ``("full",)``); ``"matched"`` uses the feed-forward
        time per sample as the budget (module docstring).

    Returns
    -------
    DataFrame
        One row per (method, budget, sample), columns :data:`BASELINE_SAMPLE_COLUMNS`;
        ``feedforward`` (budget ``"full"``, float32, time = median of 7 batched passes after
        a warm-up, divided by the batch) first. ``iterations`` is the cap used (-1: the full
        solve; 0: nothing fitted the budget, ĥ = 0). ``seconds`` is that sample's solver time.
    """
    batch = check_int("batch", batch, low=2)
    if config.depth != 1:
        raise ValueError(f"baselines compare one-layer models; got depth {config.depth}")
    bad = [b for b in budgets if b not in BUDGETS]
    if bad or not budgets:
        raise ValueError(f"budgets must be a non-empty selection of {BUDGETS}, got {budgets}")
    for method in methods:
        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; known: {sorted(BASELINES)}")
    net, truth = draw(config, batch=batch, seed=seed, dtype=torch.float64)
    h, m, k = truth[-1], config.widths[-1], config.k
    result = recover(net, truth, bias, generator=make_generator(derive_seed(seed, 2)))
    net32 = RandomLikeNet(config, weights=[DenseWeights(net.layers[0].dense().float())],
                          dtype=torch.float32)
    x32 = truth[0].float()
    budget = _median_seconds(lambda: net32.infer(x32, result.biases)) / batch
    frames = [_rows("feedforward", "full", -1, net32.infer(x32, result.biases)[-1], h,
                    np.full(batch, budget))]
    systems = _systems(net, truth[0])
    for method in methods:
        full_est, full_secs = _solve_each(method, systems, m, k, None)
        if "full" in budgets:
            frames.append(_rows(method, "full", -1, full_est, h, full_secs))
        if "matched" in budgets:
            cap = _matched_cap(method, systems, m, k, budget, float(np.mean(full_secs)))
            if cap is None:
                est, secs, cap = full_est, full_secs, -1
            elif cap == 0:
                est, secs = np.zeros((batch, m)), np.zeros(batch)
            else:
                est, secs = _solve_each(method, systems, m, k, cap)
            frames.append(_rows(method, "matched", cap, est, h, secs))
        if "minimal" in budgets and _caps(method, k):
            est, secs = _solve_each(method, systems, m, k, 1)
            frames.append(_rows(method, "minimal", 1, est, h, secs))
    # timed again after the solvers: a load spike during one of the two timings does not
    # decide the speed ratio (the smaller median is the feed-forward's time)
    again = _median_seconds(lambda: net32.infer(x32, result.biases)) / batch
    frames[0]["seconds"] = min(budget, again)
    return pd.concat(frames, ignore_index=True)[list(BASELINE_SAMPLE_COLUMNS)]


def summarize_baselines(samples: pd.DataFrame) -> pd.DataFrame:
    """Per (method, budget, iterations): mean and sd of the error, mean support F1, mean
    seconds per sample and the sample count; columns :data:`BASELINE_COLUMNS`, input order."""
    keys = ["method", "budget", "iterations"]
    g = samples.groupby(keys, sort=False)
    out = g.agg(rel_error_sq=("rel_error_sq", "mean"), rel_error_sq_std=("rel_error_sq", "std"),
                support_f1=("support_f1", "mean"), seconds_per_sample=("seconds", "mean"),
                n_samples=("sample", "size")).reset_index()
    return out[list(BASELINE_COLUMNS)]


def compare_baselines(
    config: NetConfig,
    *,
    batch: int = 64,
    methods: Sequence[str] = ("nnls", "lasso", "omp"),
    bias: BiasSpec = "calibrated",
    seed: int = 0,
    budgets: Sequence[str] = ("full",),
) -> pd.DataFrame:
    """:func:`baseline_samples` summarized: one row per method and budget (``feedforward``
    first), columns :data:`BASELINE_COLUMNS`."""
    return summarize_baselines(baseline_samples(config, batch=batch, methods=methods, bias=bias,
                                                seed=seed, budgets=budgets))


def _median_seconds(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _rows(method: str, budget: str, iterations: int, h_hat, h: torch.Tensor,
          seconds: np.ndarray) -> pd.DataFrame:
    h_hat = torch.as_tensor(h_hat)
    met = recovery_metrics(h_hat.to(h.dtype), h)
    return pd.DataFrame({"method": method, "budget": budget, "iterations": int(iterations),
                         "sample": np.arange(len(h)),
                         "rel_error_sq": met["rel_error_sq"].numpy(),
                         "support_f1": met["support_f1"].numpy(), "seconds": seconds})
