"""Sweeps over the generative model's parameters: grid → tidy DataFrame → fitted law."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from shadownets.theory._checks import derive_seed, make_generator
from shadownets.theory.metrics import recovery_metrics
from shadownets.theory.model import NetConfig
from shadownets.theory.recovery import RECOVERY_COLUMNS, draw, recover, recovery_table

__all__ = ["SweepGrid", "QUICK_GRID", "FULL_GRID", "DEPTH_GRID", "SWEEP_COLUMNS",
           "SAMPLE_COLUMNS", "run_sweep", "sweep_tables", "fit_law", "grid_points",
           "sweep_to_folder"]

#: Column order of :func:`run_sweep`: the configuration, then :data:`RECOVERY_COLUMNS`.
SWEEP_COLUMNS = ("n", "m", "k_top", "depth", "weights", "degree", "seed", "seconds_infer",
                 *RECOVERY_COLUMNS)
#: Column order of the per-sample table of :func:`sweep_tables`: the configuration, bias rule,
#: layer, sample index and that sample's error and support F1.
SAMPLE_COLUMNS = ("n", "m", "k_top", "depth", "weights", "degree", "seed", "bias_rule", "layer",
                  "sample", "rel_error_sq", "support_f1")


@dataclass(frozen=True)
class SweepGrid:
    """A grid of generative-model configurations; every combination is one run.

    For depth ``D > 1`` the widths are ``(n, n, ..., n, m)``: ``D − 1`` intermediate layers as
    wide as the observed one. Alternatively ``stacks`` lists explicit width stacks
    ``(n_0, ..., n_L)``; when given, it replaces the product of ``n``, ``m`` and ``depth``.
    """

    n: tuple[int, ...] = (1000, 2000, 4000, 8000)  # observed widths
    m: tuple[int, ...] = (2000,)  # top hidden widths
    k: tuple[int, ...] = (16, 32, 64)  # top sparsities
    rho: tuple[float, ...] = (0.5, 1.0)  # keep probabilities (all layers)
    depth: tuple[int, ...] = (1,)  # numbers of layers
    weights: tuple[str, ...] = ("gaussian",)  # weight families
    degree: int = 64  # sparse family: neighbours per observed unit
    bias: tuple[str, ...] = ("none", "theory", "calibrated", "oracle")  # bias rules
    seeds: tuple[int, ...] = (0,)  # one net + samples per seed
    batch: int = 128  # samples per run
    stacks: tuple[tuple[int, ...], ...] = ()  # explicit (n_0, ..., n_L) stacks, optional

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "stacks":
                for st_ in value:
                    if len(st_) < 2 or any(int(w) < 1 for w in st_):
                        raise ValueError(f"each of stacks must be (n_0, ..., n_L) with L >= 1 "
                                         f"and positive widths, got {st_}")
            if f.name != "stacks" and isinstance(value, tuple) and len(value) == 0:
                raise ValueError(f"sweep grid field {f.name!r} must not be empty")


#: About 1–3 minutes on 2 CPU cores; enough points for a stable fit of the law.
QUICK_GRID = SweepGrid(
    n=(1000, 2000, 4000, 8000), m=(1000, 4000), k=(16, 32, 64), rho=(0.5, 1.0),
    depth=(1,), weights=("gaussian",), bias=("none", "theory", "calibrated", "oracle"),
    seeds=(0,), batch=64,
)
#: About 4 minutes on 2 CPU cores (240 s measured): larger nets, two m, both weight families
#: (one layer; depth has its own grid, DEPTH_GRID).
FULL_GRID = SweepGrid(
    n=(1000, 2000, 4000, 8000, 16000), m=(1000, 4000), k=(16, 32, 64, 128), rho=(0.5, 1.0),
    depth=(1,), weights=("gaussian", "sparse"), degree=64,
    bias=("none", "theory", "calibrated", "oracle"), seeds=(0,), batch=128,
)
#: Depth 1, 2, 3 with widths growing 4× per layer downwards, so that every layer's input is
#: wide enough for its (non-sparse) hidden layer: (1000, 250), (4000, 1000, 250), ...
DEPTH_GRID = SweepGrid(
    stacks=((1000, 250), (4000, 1000, 250), (16000, 4000, 1000, 250)), k=(8,), rho=(0.5,),
    bias=("none", "theory", "calibrated", "oracle"), seeds=(0,), batch=64,
)


def grid_points(grid: SweepGrid) -> Iterator[dict]:
    """The valid combinations of ``grid`` (those with k <= m and degree <= every width)."""
    if grid.stacks:
        shapes = [(tuple(st_), st_[0], st_[-1], len(st_) - 1) for st_ in grid.stacks]
    else:
        shapes = [((n,) * depth + (m,), n, m, depth)
                  for n, m, depth in itertools.product(grid.n, grid.m, grid.depth)]
    for (widths, n, m, depth), k, rho, weights, seed in itertools.product(
        shapes, grid.k, grid.rho, grid.weights, grid.seeds
    ):
        if k > m or (weights == "sparse" and grid.degree > min(widths[1:])):
            continue
        yield {"n": n, "m": m, "k": k, "rho": rho, "depth": depth, "weights": weights,
               "seed": seed, "widths": widths}


def sweep_tables(
    grid: SweepGrid,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every point of ``grid`` under every bias rule; per-run and per-sample tables.

    Returns
    -------
    runs : DataFrame
        One row per (configuration, seed, bias rule, layer), columns :data:`SWEEP_COLUMNS`
        (errors are means over the ``grid.batch`` samples).
    samples : DataFrame
        One row per (configuration, seed, bias rule, layer, sample), columns
        :data:`SAMPLE_COLUMNS`.

    The same net and samples (:func:`~shadownets.theory.recovery.draw` with the seed) are used
    for every bias rule of a configuration and seed.
    """
    points = list(grid_points(grid))
    if not points:
        raise ValueError("the sweep grid has no valid point (check k <= m and degree)")
    total, done, frames, sample_frames = len(points) * len(grid.bias), 0, [], []
    for p in points:
        cfg = NetConfig(p["widths"], k=p["k"], rho=p["rho"], weights=p["weights"],
                        degree=grid.degree if p["weights"] == "sparse" else None)
        net, truth = draw(cfg, batch=grid.batch, seed=p["seed"], dtype=dtype, device=device)
        config = {"n": p["n"], "m": p["m"], "k_top": p["k"], "depth": p["depth"],
                  "weights": p["weights"], "degree": cfg.degree, "seed": p["seed"]}
        for bias in grid.bias:  # every rule sees the same net and samples
            gen = make_generator(derive_seed(p["seed"], 2), device)
            result = recover(net, truth, bias, generator=gen)
            table = recovery_table(net, result)
            table.insert(0, "seconds_infer", result.seconds_infer)
            for col in reversed(list(config)):
                table.insert(0, col, config[col])
            frames.append(table)
            sample_frames.append(_sample_rows(config, net.depth, result, table["bias_rule"]))
            done += 1
            if on_step is not None:
                on_step(done, total)
    runs = pd.concat(frames, ignore_index=True)[list(SWEEP_COLUMNS)]
    return runs, pd.concat(sample_frames, ignore_index=True)[list(SAMPLE_COLUMNS)]


def _sample_rows(config: dict, depth: int, result, rules: pd.Series) -> pd.DataFrame:
    """Per-sample error and support F1 of every layer of one recovery run."""
    parts = []
    for ell in range(1, depth + 1):
        met = recovery_metrics(result.estimate[ell], result.truth[ell])
        rel = met["rel_error_sq"].cpu().numpy()
        parts.append(pd.DataFrame({**config, "bias_rule": rules.iloc[ell - 1], "layer": ell,
                                   "sample": np.arange(rel.size), "rel_error_sq": rel,
                                   "support_f1": met["support_f1"].cpu().numpy()}))
    return pd.concat(parts, ignore_index=True)


def run_sweep(
    grid: SweepGrid,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    on_step: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every point of ``grid`` under every bias rule: the per-run table of
    :func:`sweep_tables` (one row per configuration, seed, bias rule and layer, columns
    :data:`SWEEP_COLUMNS`)."""
    return sweep_tables(grid, dtype=dtype, device=device, on_step=on_step)[0]


def _line_fit(x: np.ndarray, y: np.ndarray, level: float) -> dict[str, float]:
    """OLS of ``y = slope·x + intercept`` with the slope's standard error and t interval
    (``df = N − 2``; NaN when N < 3)."""
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    sxx = float(((x - x.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
    df = x.size - 2
    if df > 0:
        se = math.sqrt(float(resid @ resid) / df / sxx)
        q = float(stats.t.ppf(0.5 + level / 2, df))
    else:
        se, q = math.nan, math.nan
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2, "slope_se": se,
            "slope_lo": float(slope) - q * se, "slope_hi": float(slope) + q * se,
            "slope_df": float(df)}


def fit_law(
    df: pd.DataFrame,
    *,
    bias: str = "calibrated",
    depth: int = 1,
    weights: str | None = "gaussian",
    in_regime_only: bool = False,
    level: float = 0.95,
) -> dict[str, float]:
    """Fit ``log err = slope·log(k/(ρn)) + intercept`` on the top layer of ``depth``-layer runs.

    Also fits the law with the log factor, ``log err = slope·log(k ln m/(ρn)) + intercept``.
    Only runs of weight family ``weights`` are used (all families when None). Runs with zero
    error (exact recovery) have no logarithm and are left out; ``n_zero`` counts them.

    Returns
    -------
    dict
        ``slope``, ``intercept``, ``constant`` (= exp(intercept)), ``r2``, the slope's OLS
        standard error ``slope_se`` and ``level`` t interval ``slope_lo``, ``slope_hi``
        (``slope_df = n_points − 2`` degrees of freedom), and the same with suffix ``_log``
        for the log-factor law; ``n_points``, ``n_zero``, ``bias``, ``depth``, ``weights``,
        ``in_regime_only``, ``level``.
    """
    sel = df[(df["bias_rule"] == bias) & (df["depth"] == depth) & (df["layer"] == depth)]
    if weights is not None and "weights" in sel:
        sel = sel[sel["weights"] == weights]
    if in_regime_only:
        sel = sel[sel["in_regime"]]
    n_zero = int((sel["rel_error_sq"] <= 0).sum())
    sel = sel[sel["rel_error_sq"] > 0]
    if len(sel) < 3:
        raise ValueError(f"need at least 3 runs with bias={bias!r}, depth={depth}, "
                         f"weights={weights!r} to fit a law, got {len(sel)}")
    if sel["bound"].nunique() < 2:
        raise ValueError("need at least 2 distinct values of k/(ρn) to fit a law")
    y = np.log(sel["rel_error_sq"].to_numpy(float))
    out: dict[str, float] = {"bias": bias, "depth": depth, "weights": weights,
                             "n_points": len(sel), "n_zero": n_zero,
                             "in_regime_only": in_regime_only, "level": level}
    log_bound = np.log(sel["bound"].to_numpy(float))
    log_log_m = np.log(np.log(sel["m"].to_numpy(float)))
    for suffix, x in (("", log_bound), ("_log", log_bound + log_log_m)):
        fit = _line_fit(x, y, level)
        out.update({f"{key}{suffix}": value for key, value in fit.items()})
        out[f"constant{suffix}"] = math.exp(fit["intercept"])
    return out


def sweep_to_folder(
    grid: SweepGrid,
    out: str | Path,
    *,
    headline_bias: str = "calibrated",
    on_step: Callable[[int, int], None] | None = None,
) -> dict:
    """Run ``grid`` and write ``out/results.csv``, ``out/samples.csv`` (per-sample errors,
    :data:`SAMPLE_COLUMNS`), ``out/recovery.png`` and ``out/summary.json``.

    The summary holds the fitted law for ``headline_bias`` (keys ``slope``, ``intercept``,
    ``r2``, ... at top level and under ``fit``), the fits of every bias rule (all points and
    in-regime points only; Gaussian weights, top layer of one-layer runs), the grid and the
    file paths. The table is written before fitting, so a failed fit keeps the runs.
    """
    from shadownets.io import save_dataframe_csv, save_json
    from shadownets.theory.plots import plot_recovery

    if headline_bias not in grid.bias:
        raise ValueError(f"headline_bias {headline_bias!r} is not among the grid's bias rules "
                         f"{grid.bias}")
    out = Path(out)
    files = {"results": out / "results.csv", "samples": out / "samples.csv",
             "figure": out / "recovery.png", "summary": out / "summary.json"}
    df, samples = sweep_tables(grid, on_step=on_step)
    save_dataframe_csv(files["results"], df)  # first: a failed fit must not lose the runs
    save_dataframe_csv(files["samples"], samples)
    fits = {}
    for rule in grid.bias:
        for tag, only in (("all", False), ("in_regime", True)):
            try:
                fits[f"{rule}/{tag}"] = fit_law(df, bias=rule, in_regime_only=only)
            except ValueError as exc:  # too few points for this rule
                fits[f"{rule}/{tag}"] = {"error": str(exc)}
    fit = fits[f"{headline_bias}/all"]
    if "error" in fit:
        raise ValueError(f"cannot fit the law for bias {headline_bias!r}: {fit['error']} "
                         f"(the runs are in {files['results']})")
    plot_recovery(df, fit, files["figure"])
    keys = ("slope", "slope_lo", "slope_hi", "intercept", "r2", "slope_log", "slope_lo_log",
            "slope_hi_log", "r2_log")
    summary = {**{k: fit[k] for k in keys},
               "fit": fit, "fits": fits, "grid": asdict(grid), "n_rows": len(df),
               "files": {k: str(v) for k, v in files.items()}}
    save_json(files["summary"], summary)
    return summary
