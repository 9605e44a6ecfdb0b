"""``run_tying``: train untied, tied and linear autoencoders over seeds and measure the ties.

One call trains, for each seed, the models of ``config.models`` on the same data and batches
(model data: a generative net drawn per seed), records the alignment of every layer through
training, and scores the final models on held-out data. Every table is tidy, one row per
observation, with the documented columns:

:data:`ALIGNMENT_COLUMNS` (``alignment``) — per data × model × seed × layer, the final
    alignment over the live units (:func:`shadownets.tying.alignment.layer_alignment`);
:data:`UNIT_COLUMNS` (``units``) — per unit: live, cosine, null cosine, norms, gain
    ``⟨D[:, i], E[i, :]⟩``; on model data (layer 1 of the untied and linear models) also the
    W column its encoder row is matched to, the cosines of E row and D column with it, and
    ``gain_over_alpha = gain / (α‖W_j‖²)`` (theory: E = Wᵀ and D = αW give 1);
:data:`CURVE_COLUMNS` (``curves``) — the alignment at epoch 0, every ``record_every`` epochs
    and the last (untied and linear models);
:data:`ERROR_COLUMNS` (``errors``) — held-out fraction of variance unexplained, from the
    clean input (``reconstruction``) and from a corrupted one (``denoising``: the run's noise,
    one fixed draw per seed);
:data:`MATCH_COLUMNS` (``matching``, model data only) — per model × seed, the Hungarian
    matches of encoder rows and of decoder columns to W's columns, the same for a random
    Gaussian matrix (the matching null), and the median gains over α, learned and of the
    least-squares decoder of the true codes (``oracle_over_alpha``: what a linear decoder can
    reach on this model);
:data:`SUMMARY_COLUMNS` (``summary``) — mean over seeds with a t interval of each quantity
    (long format; ``layer`` 0 for the whole model), and the paired ``tied − untied``
    differences of the errors.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from shadownets.stats import interval, t_estimate
from shadownets.tying import alignment as al
from shadownets.tying.config import Noise, TyingConfig
from shadownets.tying.data import TyingData, load_tying_data
from shadownets.tying.model import Autoencoder
from shadownets.tying.training import (
    build,
    corrupt,
    fraction_unexplained,
    live_units,
    oracle_decoder,
    train,
)

__all__ = ["TyingResult", "run_tying", "summarise", "headline_table", "ALIGNMENT_COLUMNS",
           "UNIT_COLUMNS", "CURVE_COLUMNS", "ERROR_COLUMNS", "MATCH_COLUMNS", "SUMMARY_COLUMNS",
           "HEADLINE_COLUMNS", "NO_NOISE"]

_STATS = ("n_units", "n_live", "median_cosine", "mean_cosine", "null_median", "c", "residual",
          "null_c", "null_residual")
ALIGNMENT_COLUMNS: tuple[str, ...] = ("data", "model", "seed", "layer", *_STATS)
UNIT_COLUMNS: tuple[str, ...] = ("data", "model", "seed", "layer", "unit", "live", "cosine",
                                 "null_cosine", "encoder_norm", "decoder_norm", "gain",
                                 "w_unit", "encoder_w_cosine", "decoder_w_cosine",
                                 "gain_over_alpha")
CURVE_COLUMNS: tuple[str, ...] = ("data", "model", "seed", "epoch", "layer", "median_cosine",
                                  "null_median", "c", "residual", "n_live", "loss")
ERROR_COLUMNS: tuple[str, ...] = ("data", "model", "seed", "reconstruction", "denoising")
MATCH_COLUMNS: tuple[str, ...] = ("data", "model", "seed", "n_live", "n_matched",
                                  "encoder_w_median", "decoder_w_median", "random_w_median",
                                  "gain_over_alpha", "oracle_over_alpha", "alpha")
SUMMARY_COLUMNS: tuple[str, ...] = ("data", "model", "layer", "quantity", "n_seeds", "mean",
                                    "sd", "lo", "hi")

#: The linear control is trained without corruption (Kunin et al.'s setting).
NO_NOISE = Noise("none", 0.0)
#: ``on_step(done, total)`` after each trained model.
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class TyingResult:
    """Everything :func:`run_tying` produced (tables: see the module docstring).

    Attributes
    ----------
    alignment, units, curves, errors, matching, summary : pandas.DataFrame
    info : dict
        The data's provenance per seed, α, the corruption, seconds per model.
    config : TyingConfig
    """

    alignment: pd.DataFrame
    units: pd.DataFrame
    curves: pd.DataFrame
    errors: pd.DataFrame
    matching: pd.DataFrame
    summary: pd.DataFrame
    info: dict[str, Any]
    config: TyingConfig

    @property
    def headline(self) -> pd.DataFrame:
        """One row per model × layer (:func:`headline_table`)."""
        return headline_table(self.summary)


def _null_generator(seed: int, layer: int) -> torch.Generator:
    """The null's derangement for (seed, layer): the same at every recording."""
    return torch.Generator().manual_seed(1_000_003 * seed + layer)


def _stats(model: Autoencoder, x_test: Tensor, seed: int) -> list[dict[str, Any]]:
    lives = live_units(model, x_test)
    return [{"layer": ell, **al.layer_alignment(d, e, live, generator=_null_generator(seed, ell))}
            for ell, ((d, e), live) in enumerate(zip(model.pairs(), lives, strict=True), 1)]


def _unit_rows(model: Autoencoder, data: TyingData, x_test: Tensor, seed: int,
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per-unit rows of every layer, and (model data, untied/linear) the matching row."""
    rows, match = [], None
    lives = live_units(model, x_test)
    for ell, ((d, e), live) in enumerate(zip(model.pairs(), lives, strict=True), 1):
        cos = al.unit_cosines(d, e)
        null = torch.full_like(cos, math.nan)
        if int(live.sum()) >= 2:
            idx = torch.nonzero(live).flatten()
            null[idx] = al.null_cosines(d[:, idx], e[idx], _null_generator(seed, ell))
        gain = al.unit_gains(d, e)
        extra = {i: {} for i in range(e.shape[0])}
        if ell == 1 and data.weights is not None and model.kind != "tied" and live.any():
            extra, match = _matching(d, e, live, data, seed, model.kind)
        for i in range(e.shape[0]):
            rows.append({"unit": i, "layer": ell, "live": bool(live[i]),
                         "cosine": float(cos[i]), "null_cosine": float(null[i]),
                         "encoder_norm": float(e[i].norm()), "decoder_norm": float(d[:, i].norm()),
                         "gain": float(gain[i]), **extra.get(i, {})})
    return rows, match


def _matching(d: Tensor, e: Tensor, live: Tensor, data: TyingData, seed: int,
              kind: str) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    w = data.weights.double()  # (n, m)
    idx = torch.nonzero(live).flatten()
    enc = al.match_units(e[idx].T, w)
    dec = al.match_units(d[:, idx], w)
    rand = torch.randn(w.shape[0], idx.numel(), dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed + 7))
    null = al.match_units(rand, w)
    wn2 = w.pow(2).sum(dim=0)  # (m,)
    gains = al.unit_gains(d, e)
    per_unit: dict[int, dict[str, Any]] = {}
    ratios = []
    for r, c, cos in zip(enc.learned.tolist(), enc.reference.tolist(), enc.cosine.tolist(),
                         strict=True):
        unit = int(idx[r])
        ratio = float(gains[unit] / (data.alpha * wn2[c]))
        ratios.append(ratio)
        per_unit[unit] = {"w_unit": c, "encoder_w_cosine": cos,
                          "decoder_w_cosine": float(al.cosine_matrix(d[:, [unit]], w[:, [c]])),
                          "gain_over_alpha": ratio}
    oracle = oracle_decoder(data.x_train, data.codes)  # (n, m), on the scaled data
    oracle_gain = data.scale * (oracle * w).sum(dim=0) / (data.alpha * wn2)
    row = {"model": kind, "n_live": int(idx.numel()), "n_matched": int(enc.learned.size),
           "encoder_w_median": enc.median_cosine, "decoder_w_median": dec.median_cosine,
           "random_w_median": null.median_cosine,
           "gain_over_alpha": float(np.median(ratios)) if ratios else math.nan,
           "oracle_over_alpha": float(oracle_gain.median()), "alpha": data.alpha}
    return per_unit, row


@torch.no_grad()
def _errors(model: Autoencoder, data: TyingData, config: TyingConfig, seed: int,
            mean: Tensor) -> dict[str, float]:
    gen = torch.Generator().manual_seed(10_007 + seed)
    noisy = corrupt(data.x_test, config.corruption, gen)

    def score(x_in: Tensor) -> float:
        if model.kind == "linear":  # trained on centred data
            return fraction_unexplained(model, x_in - mean, data.x_test - mean,
                                        torch.zeros_like(mean))
        return fraction_unexplained(model, x_in, data.x_test, mean)

    return {"reconstruction": score(data.x_test), "denoising": score(noisy)}


def _fit(kind: str, data: TyingData, config: TyingConfig, seed: int, mean: Tensor,
         curves: list[dict[str, Any]]) -> Autoencoder:
    linear = kind == "linear"
    model = build(kind, data.dim, config.hidden, 1 if linear else config.depth, seed)
    x = data.x_train - mean if linear else data.x_train
    x_test = data.x_test - mean if linear else data.x_test

    def record(epoch: int, net: Autoencoder, loss: float) -> None:
        for row in _stats(net, x_test, seed):
            curves.append({"data": data.name, "model": kind, "seed": seed, "epoch": epoch,
                           "loss": loss, **{k: row[k] for k in ("layer", "median_cosine",
                                                                "null_median", "c", "residual",
                                                                "n_live")}})

    noise = NO_NOISE if linear else config.corruption
    train(model, x, noise=noise, l2=config.control_l2 if linear else config.l2,
          epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=seed,
          record_every=config.record_every, on_record=None if kind == "tied" else record)
    return model


def run_tying(config: TyingConfig | None = None, *,
              data_dir: str | os.PathLike | None = None,
              on_step: StepCallback | None = None) -> TyingResult:
    """Train the autoencoders of ``config`` over its seeds and measure how tied they are.

    Parameters
    ----------
    config : TyingConfig, optional
        Default ``TyingConfig()`` (model data, 64 hidden units, dropout 0.5, 3 seeds).
    data_dir : path-like, optional
        Cache folder of a registered data set.
    on_step : callable, optional
        ``on_step(done, total)`` after each trained model (a progress bar).

    Returns
    -------
    TyingResult
        Tidy tables (see the module docstring).

    Raises
    ------
    ValueError
        A bad config or data spec (one line).
    """
    config = TyingConfig() if config is None else config
    if not isinstance(config, TyingConfig):
        raise ValueError(f"config must be a TyingConfig, got {type(config).__name__}")
    data = load_tying_data(config.data, n_train=config.n_train, n_test=config.n_test,
                           seed=config.seed)
    tables: dict[str, list[dict[str, Any]]] = {k: [] for k in ("alignment", "units", "curves",
                                                                "errors", "matching")}
    info: dict[str, Any] = {"data": {}, "seconds": {}, "noise": config.corruption.text,
                            "kind": data.kind, "alpha": data.alpha, "dim": data.dim}
    total, done = len(config.seed_list) * len(config.models), 0
    for seed in config.seed_list:
        if data.kind == "model" and seed != config.seed:
            data = load_tying_data(config.data, n_train=config.n_train, n_test=config.n_test,
                                   seed=seed)
        info["data"][str(seed)] = data.info
        mean = data.x_train.mean(dim=0)  # (d,)
        for kind in config.models:
            t0 = time.perf_counter()
            model = _fit(kind, data, config, seed, mean, tables["curves"])
            x_test = data.x_test - mean if kind == "linear" else data.x_test
            key = {"data": data.name, "model": kind, "seed": seed}
            tables["alignment"] += [{**key, **row} for row in _stats(model, x_test, seed)]
            units, match = _unit_rows(model, data, x_test, seed)
            tables["units"] += [{**key, **row} for row in units]
            if match is not None:
                tables["matching"].append({**key, **match})
            tables["errors"].append({**key, **_errors(model, data, config, seed, mean)})
            info["seconds"][f"{kind}/{seed}"] = time.perf_counter() - t0
            done += 1
            if on_step is not None:
                on_step(done, total)
    frames = {name: pd.DataFrame(rows, columns=list(cols)) for (name, rows), cols in zip(
        tables.items(), (ALIGNMENT_COLUMNS, UNIT_COLUMNS, CURVE_COLUMNS, ERROR_COLUMNS,
                         MATCH_COLUMNS), strict=True)}
    summary = summarise(frames["alignment"], frames["errors"], frames["matching"],
                        level=config.level)
    return TyingResult(**frames, summary=summary, info=info, config=config)


def _estimate_row(key: dict[str, Any], values: np.ndarray, level: float) -> dict[str, Any]:
    est = t_estimate(values)
    lo, hi = interval(est, level)
    return {**key, "n_seeds": est.n, "mean": est.mean, "sd": est.sd, "lo": lo, "hi": hi}


def summarise(alignment: pd.DataFrame, errors: pd.DataFrame,
              matching: pd.DataFrame | None = None, *, level: float = 0.95) -> pd.DataFrame:
    """Mean over seeds with a t interval at ``level`` of every quantity (columns
    :data:`SUMMARY_COLUMNS`; ``layer`` 0: the whole model) and the paired ``tied − untied``
    differences of the errors (model ``"tied-untied"``)."""
    rows = []
    for (data, model, layer), g in alignment.groupby(["data", "model", "layer"], sort=False):
        for q in ("median_cosine", "null_median", "c", "residual", "n_live"):
            rows.append(_estimate_row({"data": data, "model": model, "layer": int(layer),
                                       "quantity": q}, g[q].to_numpy(float), level))
    if matching is not None and not matching.empty:
        for (data, model), g in matching.groupby(["data", "model"], sort=False):
            for q in ("encoder_w_median", "decoder_w_median", "random_w_median",
                      "gain_over_alpha", "oracle_over_alpha"):
                rows.append(_estimate_row({"data": data, "model": model, "layer": 1,
                                           "quantity": q}, g[q].to_numpy(float), level))
    for (data, model), g in errors.groupby(["data", "model"], sort=False):
        for q in ("reconstruction", "denoising"):
            rows.append(_estimate_row({"data": data, "model": model, "layer": 0, "quantity": q},
                                      g[q].to_numpy(float), level))
    for data, g in errors.groupby("data", sort=False):
        wide = g.pivot_table(index="seed", columns="model", values=["reconstruction",
                                                                     "denoising"])
        if "tied" not in wide.columns.get_level_values(1):
            continue
        for q in ("reconstruction", "denoising"):
            diff = (wide[(q, "tied")] - wide[(q, "untied")]).to_numpy(float)
            rows.append(_estimate_row({"data": data, "model": "tied-untied", "layer": 0,
                                       "quantity": q}, diff, level))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


#: Columns of :func:`headline_table`: per data × model × layer, the mean over seeds of the
#: alignment (with the t interval of the median cosine), the model's held-out errors (with
#: theirs), and on model data the W matching and gains.
HEADLINE_COLUMNS: tuple[str, ...] = (
    "data", "model", "layer", "n_seeds", "median_cosine", "median_cosine_lo",
    "median_cosine_hi", "null_median", "c", "residual", "encoder_w_median", "random_w_median",
    "gain_over_alpha", "oracle_over_alpha", "reconstruction", "reconstruction_lo",
    "reconstruction_hi", "denoising", "denoising_lo", "denoising_hi")


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per data × model × layer (columns :data:`HEADLINE_COLUMNS`) from a
    :func:`summarise` table; the errors (whole model) are repeated on each layer's row, the
    ``tied-untied`` differences are left out, and what a run did not measure is NaN."""
    rows = []
    per = summary[summary["model"] != "tied-untied"]
    for (data, model), g in per.groupby(["data", "model"], sort=False):
        get = {(int(r.layer), r.quantity): r for r in g.itertuples()}
        for layer in sorted({int(x) for x in g["layer"] if int(x) > 0}):
            row: dict[str, Any] = {"data": data, "model": model, "layer": layer}
            cos = get.get((layer, "median_cosine"))
            row["n_seeds"] = int(cos.n_seeds) if cos is not None else 0
            for q in ("median_cosine", "reconstruction", "denoising"):
                r = get.get((layer if q == "median_cosine" else 0, q))
                row[q], row[f"{q}_lo"], row[f"{q}_hi"] = ((r.mean, r.lo, r.hi) if r is not None
                                                          else (math.nan,) * 3)
            for q in ("null_median", "c", "residual", "encoder_w_median", "random_w_median",
                      "gain_over_alpha", "oracle_over_alpha"):
                r = get.get((layer, q))
                row[q] = r.mean if r is not None else math.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))
