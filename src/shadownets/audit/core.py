"""The audit: input adapters → per-layer records → one DataFrame (plots live in ``plots``).

Column order of the table (one row per audited layer, bottom to top):

1. identity — ``layer`` (activation point audited, the ReLU output), ``module`` (its
   Linear/Conv), ``kind``, ``feeds`` (where "one layer down" ends: the ReLU output below, or
   ``"input"``), ``input_shape`` (the module's input), ``code_shape`` (``"CxHxW"`` strings),
   ``n_in``, ``n_out`` (the module's operator), ``n_inputs``, ``active_frac`` (mean fraction
   of active units of ``h``), ``scale_one``, ``scale_one_theory``, ``scale_input`` (the
   factor fitted on the generated input of the trained net, see ``AuditConfig.fit_scale``);
2. reversibility — for each setting ``s`` in ``one``, ``one_theory``, ``input`` (see
   :mod:`shadownets.audit.reversibility`) and each metric ``q`` in ``rel_err``, ``cos``,
   ``f1``: ``q_s``, ``q_s_lo``, ``q_s_hi`` for the trained net, then for each null kind ``k``
   (``gaussian``, ``shuffle``): ``q_s_k``, ``q_s_k_lo``, ``q_s_k_hi`` (means over inputs and
   null nets with percentile bootstrap intervals);
3. ratios — for each setting and null kind: ``ratio_s_k``, ``ratio_s_k_lo``, ``ratio_s_k_hi``
   (trained mean rel-error / geometric mean of the null nets' mean rel-errors, with a
   ``level`` prediction interval for the trained net as one more null draw on the same
   inputs — :func:`shadownets.audit.stats.ratio_estimate`; NaN bounds with one null net),
   then ``ratio_s_k_ci_lo``, ``ratio_s_k_ci_hi`` (the ``level`` confidence interval of the
   ratio to the typical null net — :func:`shadownets.audit.stats.typical_ratio_estimate`:
   the one "random-like" is judged on);
4. verdict, on setting ``verdict_on`` (rule in :class:`AuditConfig`, code in
   :mod:`shadownets.audit.verdict`) — for each null kind ``k``: ``log_ratio_k``,
   ``log_ratio_se_k``, ``log_ratio_df_k`` (the tested estimate), the Holm-adjusted
   ``p_inside_k``, ``p_above_k``, ``p_below_k`` and ``verdict_k``; then ``verdict``
   (``"random-like"``, ``"worse than random"``, ``"better than random"`` or
   ``"undetermined"``), ``random_like`` (bool), ``to_decide`` (null nets per kind that would
   decide an undetermined layer if estimate and spread stayed as observed; inf: no number
   would; NaN: decided, or unknown with one null net), ``inputs_to_decide`` (inputs that
   would, assuming only the input part of the spread shrinks) and, for each null kind,
   ``input_var_k`` (that input part, so the verdict can be decided again from the file);
5. weight statistics (when ``weight_stats``) — ``excess_kurtosis``, ``normal_ks``, ``mp_ks``,
   ``mp_ks_gaussian``, ``spectrum_exact``, ``top_singular_value``, ``mp_top_singular_value``,
   ``incoherence``, ``incoherence_gaussian``, ``incoherence_exact``, ``row_norm_cv``,
   ``rip_delta``, ``rip_delta_gaussian``, ``rip_k`` (``*_gaussian``: the first Gaussian null
   net, the reference for what a random layer of that shape and structure gives).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from shadownets.audit.adapters import as_inputs, subset_inputs
from shadownets.audit.config import AuditConfig
from shadownets.audit.nulls import null_net
from shadownets.audit.operator import LayerOperator, Spectrum
from shadownets.audit.reversibility import (
    SETTINGS,
    Site,
    SiteMeasurement,
    find_sites,
    measure_net,
)
from shadownets.audit.stats import (
    METRICS,
    bootstrap_mean,
    input_variance,
    ratio_estimate,
    ratio_interval,
    typical_ratio_estimate,
)
from shadownets.audit.verdict import decide_family
from shadownets.audit.weights import WeightStats, weight_stats
from shadownets.reverse.graph import TracedNet
from shadownets.stats import Estimate

__all__ = ["AuditResult", "LayerSpectrum", "audit", "run_audit"]


@dataclass(frozen=True)
class LayerSpectrum:
    """A layer's spectrum with the entry variance its Marchenko–Pastur law uses."""

    spectrum: Spectrum
    variance: float


@dataclass
class AuditResult:
    """Everything an audit produced.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per layer; columns as documented in :mod:`shadownets.audit.core`.
    spectra : dict
        ``spectra[layer][net]`` (net ``"trained"`` or ``"gaussian"``) -> LayerSpectrum.
    generated : dict
        ``generated[layer]`` -> tensor (n_examples, *input_shape): network inputs generated
        from the trained net's codes (setting ``input``).
    real : torch.Tensor of shape (n_examples, *input_shape)
        The real inputs those were generated from.
    config : AuditConfig
    timings : dict
        Seconds spent on ``"trained"``, ``"nulls"`` and ``"weights"``.
    """

    table: pd.DataFrame
    spectra: dict[str, dict[str, LayerSpectrum]] = field(default_factory=dict)
    generated: dict[str, torch.Tensor] = field(default_factory=dict)
    real: torch.Tensor | None = None
    config: AuditConfig = field(default_factory=AuditConfig)
    timings: dict[str, float] = field(default_factory=dict)


def _shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def _identity(site: Site, op: LayerOperator, meas: SiteMeasurement) -> dict[str, object]:
    return {
        "layer": site.name, "module": site.module, "kind": site.kind,
        "feeds": site.feeds if site.feeds is not None else "input",
        "input_shape": _shape_str(site.input_shape), "code_shape": _shape_str(site.code_shape),
        "n_in": op.n_in, "n_out": op.n_out, "n_inputs": int(meas.active.shape[0]),
        "active_frac": float(np.mean(meas.active) / max(op.n_out, 1)),
        **{f"scale_{s}": meas.scales.get(s, float("nan")) for s in SETTINGS},
    }


def _triple(name: str, est: tuple[float, float, float]) -> dict[str, float]:
    return {name: est[0], f"{name}_lo": est[1], f"{name}_hi": est[2]}


def _reversibility_columns(trained: SiteMeasurement, nulls: dict[str, list[SiteMeasurement]],
                           cfg: AuditConfig, seed: int
                           ) -> tuple[dict[str, object], dict[str, Estimate], dict[str, float]]:
    """The metric and ratio columns of one layer, with the verdict setting's log-ratio
    estimates and input variances per null kind (for :func:`decide_family`)."""
    row: dict[str, object] = {}
    kw = {"reps": cfg.bootstrap, "level": cfg.level, "seed": seed}
    nan3 = (float("nan"),) * 3

    def null_stack(kind: str, s: str, q: str) -> np.ndarray | None:
        stack = [m.metrics[s][q] for m in nulls[kind] if s in m.metrics]
        return np.stack(stack) if stack else None

    for s in SETTINGS:
        for q in METRICS:
            vals = trained.metrics.get(s, {}).get(q)
            row |= _triple(f"{q}_{s}", bootstrap_mean(vals, **kw) if vals is not None else nan3)
            for kind in nulls:
                d = null_stack(kind, s, q)
                row |= _triple(f"{q}_{s}_{kind}",
                               bootstrap_mean(d, **kw) if d is not None else nan3)
    nan_est = Estimate(float("nan"), float("nan"), float("nan"), 0, float("nan"))
    estimates: dict[str, Estimate] = {}
    input_var: dict[str, float] = {}
    for s in SETTINGS:
        a = trained.metrics.get(s, {}).get("rel_err")
        for kind in nulls:
            d = null_stack(kind, s, "rel_err")
            est = ratio_estimate(a, d) if a is not None and d is not None else nan_est
            row |= _triple(f"ratio_{s}_{kind}", ratio_interval(est, cfg.level))
            _, ci_lo, ci_hi = ratio_interval(typical_ratio_estimate(est), cfg.level)
            row |= {f"ratio_{s}_{kind}_ci_lo": ci_lo, f"ratio_{s}_{kind}_ci_hi": ci_hi}
            if s == cfg.verdict_on:
                estimates[kind] = est
                input_var[kind] = input_variance(d) if d is not None else float("nan")
    return row, estimates, input_var


def _weight_columns(trained: WeightStats, null: WeightStats) -> dict[str, object]:
    return {
        "excess_kurtosis": trained.excess_kurtosis, "normal_ks": trained.normal_ks,
        "mp_ks": trained.mp_ks, "mp_ks_gaussian": null.mp_ks,
        "spectrum_exact": trained.spectrum_exact,
        "top_singular_value": trained.top_singular_value,
        "mp_top_singular_value": trained.mp_top_singular_value,
        "incoherence": trained.incoherence, "incoherence_gaussian": null.incoherence,
        "incoherence_exact": trained.incoherence_exact, "row_norm_cv": trained.row_norm_cv,
        "rip_delta": trained.rip_delta, "rip_delta_gaussian": null.rip_delta,
        "rip_k": trained.rip_k,
    }


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def run_audit(model: nn.Module, data: object, *, layers: list[str] | None = None,
              config: AuditConfig | None = None) -> AuditResult:
    """Audit ``model`` layer by layer on real inputs ``data``: see :func:`audit`.

    Returns
    -------
    AuditResult
        The table plus spectra, generated inputs and timings for the plots.
    """
    model = _check_model(model)
    cfg = config if config is not None else AuditConfig()
    if not isinstance(cfg, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(cfg).__name__}")
    if layers is not None and (isinstance(layers, str) or not all(
            isinstance(name, str) for name in layers)):
        raise ValueError(f"layers must be a list of layer names, got {layers!r}")
    x = subset_inputs(as_inputs(data), cfg.n_inputs, seed=cfg.seed)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        return _run(model, x, layers, cfg)
    finally:
        for m, mode in modes:  # each module's own mode back, mixed modes included
            m.training = mode


def _null_seed(cfg: AuditConfig, kind_index: int, j: int) -> int:
    """Seed of null net ``j`` of the ``kind_index``-th kind (as :func:`null_nets` numbers them)."""
    return cfg.seed + 1000 * (kind_index + 1) + j


def _run(model: nn.Module, x: torch.Tensor, layers: list[str] | None,
         cfg: AuditConfig) -> AuditResult:
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(dtype=param.dtype, device=param.device)
    sites = find_sites(model, x[:2], list(layers) if layers is not None else None)
    if not sites:
        raise ValueError("model has no auditable layer (a Linear/Conv followed by an activation "
                         "with a reverse rule: ReLU, GELU, LeakyReLU, SiLU, ...)")
    timings = {"trained": 0.0, "nulls": 0.0, "weights": 0.0}
    site_seed = [cfg.seed + 7919 * idx for idx in range(len(sites))]
    t0 = time.perf_counter()
    traced = TracedNet(model, x[:1])  # one trace per net, shared by its sites' shadow nets
    trained = measure_net(model, x, sites, cfg, seeds=site_seed, traced=traced,
                          keep_examples=cfg.n_examples > 0)
    timings["trained"] += time.perf_counter() - t0
    # null nets one at a time (a copy of a big net each): measure every site, then drop it
    nulls: dict[str, list[list[SiteMeasurement]]] = {k: [[] for _ in sites]
                                                     for k in cfg.null_kinds}
    reference: nn.Module | None = None  # the first Gaussian null: weight-stat reference
    for ki, kind in enumerate(cfg.null_kinds):
        for j in range(cfg.n_null):
            t0 = time.perf_counter()
            net = null_net(model, kind, generator=torch.Generator().manual_seed(
                _null_seed(cfg, ki, j)), inputs=x, batch_size=cfg.batch_size)
            traced = TracedNet(net, x[:1])
            for idx, meas in enumerate(measure_net(net, x, sites, cfg, traced=traced,
                                                   seeds=[s + j + 1 for s in site_seed])):
                nulls[kind][idx].append(meas)
            timings["nulls"] += time.perf_counter() - t0
            if kind == "gaussian" and j == 0:
                reference = net
    rows, weights, spectra, generated = [], [], {}, {}
    estimates, input_var = [], []
    for idx, site in enumerate(sites):
        meas = trained[idx]
        op = LayerOperator(model.get_submodule(site.module), site.input_shape)
        by_kind = {k: nulls[k][idx] for k in cfg.null_kinds}
        rev, est, var = _reversibility_columns(meas, by_kind, cfg, site_seed[idx])
        rows.append(_identity(site, op, meas) | rev)
        estimates.append(est)
        input_var.append(var)
        weights.append({})
        if cfg.weight_stats:
            if reference is None:
                reference = null_net(model, "gaussian", generator=torch.Generator().manual_seed(
                    _null_seed(cfg, 0, 0)), inputs=x, batch_size=cfg.batch_size)
            t0 = time.perf_counter()
            weights[idx] = _layer_weights(reference, site, op, meas, cfg, site_seed[idx],
                                          spectra)
            timings["weights"] += time.perf_counter() - t0
        if meas.generated is not None:
            generated[site.name] = meas.generated
    # one family: every layer x null kind of this call (Holm across it)
    verdicts = decide_family(estimates, factor=cfg.factor, significance=cfg.significance,
                             correction=cfg.correction, input_var=input_var,
                             n_inputs=int(x.shape[0]))
    decided = verdicts.to_dict(orient="records")
    table = pd.DataFrame.from_records(
        [row | decided[i] | weights[i] for i, row in enumerate(rows)])
    real = x[: cfg.n_examples].detach().cpu() if cfg.n_examples else None
    return AuditResult(table, spectra, generated, real, cfg, timings)


def _layer_weights(reference: nn.Module, site: Site, op: LayerOperator, meas: SiteMeasurement,
                   cfg: AuditConfig, seed: int,
                   spectra: dict[str, dict[str, LayerSpectrum]]) -> dict[str, object]:
    k = cfg.rip_k if cfg.rip_k is not None else max(int(np.median(meas.active)), 1)
    kw = {"rip_k": k, "rip_draws": cfg.rip_draws, "dense_max": cfg.dense_max,
          "lanczos_steps": cfg.lanczos_steps, "lanczos_probes": cfg.lanczos_probes}
    ws, spec = weight_stats(op, generator=torch.Generator().manual_seed(seed), **kw)
    ref_op = LayerOperator(reference.get_submodule(site.module), site.input_shape)
    ref, ref_spec = weight_stats(ref_op, generator=torch.Generator().manual_seed(seed), **kw)
    spectra[site.name] = {"trained": LayerSpectrum(spec, op.entry_moments()[1]),
                          "gaussian": LayerSpectrum(ref_spec, ref_op.entry_moments()[1])}
    return _weight_columns(ws, ref)


def audit(model: nn.Module, data: object, *, layers: list[str] | None = None,
          n_inputs: int | None = None, n_null: int | None = None, seed: int | None = None,
          bootstrap: int | None = None, config: AuditConfig | None = None) -> pd.DataFrame:
    """How random-like is a trained net? One row per audited layer.

    For each Linear/Conv layer followed by a ReLU-like activation (bottom to top; ReLU, GELU,
    LeakyReLU, SiLU, ... — every activation with a reverse rule), the audit measures whether
    the forward pass recovers the layer's true activations from inputs generated by the shadow
    net (one layer down and all the way down), compares that with null nets of the same
    architecture (weights re-drawn Gaussian with each tensor's mean and variance, or shuffled),
    states a verdict, and adds weight statistics of the layer's true linear operator.

    Parameters
    ----------
    model : nn.Module
        The net (left in its original train/eval mode afterwards; its weights are not changed).
    data : torch.Tensor of shape (batch, *input_shape), or shadownets.data.DataSplits
        Real inputs (a DataSplits gives its ``x_test``); a seeded subset of ``n_inputs`` is used.
    layers : list of str, optional
        Activation points (ReLU outputs) or Linear/Conv module names; default all auditable.
    n_inputs, n_null, seed, bootstrap : int, optional
        Override the fields of the same name in ``config``.
    config : AuditConfig, optional
        All other settings (defaults: ``AuditConfig()``).

    Returns
    -------
    pandas.DataFrame
        Columns in the order documented in :mod:`shadownets.audit.core`.
    """
    cfg = config if config is not None else AuditConfig()
    if not isinstance(cfg, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(cfg).__name__}")
    overrides = {k: v for k, v in (("n_inputs", n_inputs), ("n_null", n_null), ("seed", seed),
                                   ("bootstrap", bootstrap)) if v is not None}
    cfg = dataclasses.replace(cfg, **overrides)
    return run_audit(model, data, layers=layers, config=cfg).table
