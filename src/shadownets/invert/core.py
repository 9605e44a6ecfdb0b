"""``invert`` (one layer) and ``leakage`` (every layer): reconstruct a net's inputs from a
hidden layer's activations and score the reconstructions.

Tables are tidy. :attr:`InversionResult.table` has one row per image and method variant,
columns :data:`TABLE_COLUMNS`:

``layer, method, switches``
    The activation point; ``shadow`` / ``optimize`` / ``warm`` / ``learned``; the max-pool
    switches the shadow used — ``known`` (recorded while encoding: white-box), ``unknown``
    (undone with ``config.unpool``), ``none`` (no max pool below the layer); ``warm`` carries
    those of the shadow it starts from, the others ``n/a``. With max pools below the layer
    the shadow is reported with known *and* unknown switches; ``config.switches`` says which
    one ``warm`` starts from.
``image``
    Index of the input in ``x``.
``psnr, ssim``
    In dB, and scikit-image's SSIM, on pixel values in [0, 1] (data range 1; see
    :mod:`shadownets.invert.metrics`).
``feature_error``
    ``‖f_L(x̂) − h‖² / ‖h‖²``.
``correct``
    1.0 if the net's top-1 class on ``x̂`` is the label (or, without labels, the net's class on
    ``x``), else 0.0; NaN when the net's output is not (batch, classes).
``seconds``
    Wall time per image of the inversion (the batch's time / its size; ``warm`` includes its
    shadow pass); ``setup_seconds``: one-off cost (calibration, the inverse net's training).
``steps``
    Optimisation steps (0 for one-pass methods).

:func:`summarise_table` gives the per-variant means with t intervals (:data:`SUMMARY_COLUMNS`);
that is :attr:`LeakageResult.table`, one row per layer and variant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from shadownets.invert.config import METHODS, InvertConfig
from shadownets.invert.methods import (
    CURVE_COLUMNS,
    MethodOutput,
    build_shadow,
    feature_map,
    learned_pass,
    optimise,
    shadow_pass,
)
from shadownets.invert.metrics import ValueScale, feature_error, psnr, ssim, summarise
from shadownets.reverse.graph import TracedNet
from shadownets.reverse.shadow import shadow_of

__all__ = ["InversionResult", "LeakageResult", "invert", "leakage", "summarise_table",
           "TABLE_COLUMNS", "SUMMARY_COLUMNS", "CURVES_COLUMNS", "DEFAULT_METHODS"]

#: Columns of :attr:`InversionResult.table` (see the module docstring).
TABLE_COLUMNS: tuple[str, ...] = ("layer", "method", "switches", "image", "psnr", "ssim",
                                  "feature_error", "correct", "seconds", "setup_seconds",
                                  "steps")
#: Columns of :func:`summarise_table` / :attr:`LeakageResult.table`: means over images with
#: ``_lo`` / ``_hi`` t intervals at ``config.level``; ``accuracy`` is the mean of ``correct``;
#: ``depth`` the layer's rank (1 = lowest) among the layers inverted.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "layer", "depth", "kind", "method", "switches", "n", "psnr", "psnr_lo", "psnr_hi", "ssim",
    "ssim_lo", "ssim_hi", "feature_error", "feature_error_lo", "feature_error_hi", "accuracy",
    "accuracy_lo", "accuracy_hi", "seconds_per_image", "setup_seconds", "steps")
#: Columns of the curves (optimisation methods only; ``seconds`` per image, cumulative).
CURVES_COLUMNS: tuple[str, ...] = ("layer", "method", "switches", *CURVE_COLUMNS)
#: Methods :func:`leakage` runs by default.
DEFAULT_METHODS: tuple[str, ...] = ("shadow", "optimize", "warm")


@dataclass(frozen=True, eq=False)
class InversionResult:
    """Everything :func:`invert` produced.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per image × method variant, :data:`TABLE_COLUMNS`.
    reconstructions : Tensor of shape (n_variants, n, *input_shape)
        Normalised space, clipped to the valid range; row ``i`` is ``variants[i]``.
    variants : tuple of (str, str)
        ``(method, switches)`` of each row of ``reconstructions``.
    originals : Tensor of shape (n, *input_shape)
        The inputs that were inverted.
    curves : pandas.DataFrame
        :data:`CURVES_COLUMNS`, one row per image and recorded step of ``optimize`` / ``warm``.
    timings : dict str -> float
        Total seconds: ``trace``, ``encode``, ``calibrate``, ``learned_train`` and each variant
        (``"shadow/known"``, ``"optimize"``, ...).
    info : dict
        ``calibrated_on`` ("aux" or "inputs"), ``accuracy_vs`` ("labels" or "prediction"),
        ``scale`` (the ValueScale's source), ``unpool``, ``n``.
    scale : ValueScale
    config : InvertConfig
    """

    table: pd.DataFrame
    reconstructions: Tensor
    variants: tuple[tuple[str, str], ...]
    originals: Tensor
    curves: pd.DataFrame
    timings: dict[str, float]
    info: dict[str, Any]
    scale: ValueScale
    config: InvertConfig

    @property
    def summary(self) -> pd.DataFrame:
        """Per-variant means with t intervals (:func:`summarise_table`)."""
        return summarise_table(self.table, level=self.config.level)


@dataclass(frozen=True, eq=False)
class LeakageResult:
    """Everything :func:`leakage` produced.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per layer × method variant, :data:`SUMMARY_COLUMNS`, layers bottom-up.
    per_image : pandas.DataFrame
        :data:`TABLE_COLUMNS` for every layer.
    curves : pandas.DataFrame
        :data:`CURVES_COLUMNS` for every layer.
    layers : tuple of str
        The layers inverted, bottom-up.
    examples : dict str -> (variants, Tensor)
        Per layer, the variants and the first reconstructions (at most 8 images).
    originals : Tensor of shape (min(n, 8), *input_shape)
    timings : dict str -> float
        Total seconds per layer (and ``trace``).
    info : dict
    scale : ValueScale
    config : InvertConfig
    """

    table: pd.DataFrame
    per_image: pd.DataFrame
    curves: pd.DataFrame
    layers: tuple[str, ...]
    examples: dict[str, tuple[tuple[tuple[str, str], ...], Tensor]]
    originals: Tensor
    timings: dict[str, float]
    info: dict[str, Any]
    scale: ValueScale
    config: InvertConfig = field(default_factory=InvertConfig)


# ---------------------------------------------------------------------- input checks
def _check_tensor(name: str, t: Any, per_sample: tuple[int, ...] | None) -> Tensor:
    if not isinstance(t, Tensor) or not t.is_floating_point() or t.ndim < 2 or t.shape[0] < 1:
        got = (f"{t.dtype} tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor)
               else type(t).__name__)
        raise ValueError(f"{name}: expected a float tensor of shape (batch, *input_shape) with "
                         f"batch >= 1, got {got}")
    if per_sample is not None and tuple(t.shape[1:]) != per_sample:
        raise ValueError(f"{name}: expected inputs of shape (batch, "
                         f"{', '.join(map(str, per_sample))}) for this model, got "
                         f"{tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} non-finite value(s) (nan or inf); give finite inputs")
    return t.detach()


def _check_inputs(model: Any, x: Any, config: Any, labels: Any, aux: Any, scale: Any
                  ) -> tuple[Tensor, Tensor | None, Tensor | None, ValueScale, InvertConfig]:
    """The one input checker of :func:`invert` and :func:`leakage` (layers: by the trace)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    config = InvertConfig() if config is None else config
    if not isinstance(config, InvertConfig):
        raise ValueError(f"config: expected an InvertConfig, got {type(config).__name__}")
    shape = getattr(model, "input_shape", None)
    per_sample = tuple(int(s) for s in shape) if shape is not None else None
    x = _check_tensor("x", x, per_sample)
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (x.shape[0],) or labels.is_floating_point() or labels.dtype == \
                torch.bool:
            raise ValueError(f"labels: expected integer class labels of shape ({x.shape[0]},), "
                             f"got {labels.dtype} of shape {tuple(labels.shape)}")
        labels = labels.to(device=x.device, dtype=torch.int64)
    if aux is not None:
        aux = _check_tensor("aux", aux, tuple(x.shape[1:])).to(device=x.device, dtype=x.dtype)
    if scale is None:
        scale = ValueScale.from_batch(x)
    elif not isinstance(scale, ValueScale):
        raise ValueError(f"scale: expected a ValueScale (mean, std of the data) or None, got "
                         f"{type(scale).__name__}")
    if len(scale.mean) not in (1, x.shape[1] if x.ndim > 2 else 1):
        raise ValueError(f"scale: {len(scale.mean)} mean/std values for inputs with "
                         f"{x.shape[1]} channels; give one per channel (or one)")
    return x, labels, aux, scale, config


def _check_methods(methods: Any) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    try:
        methods = tuple(methods)
    except TypeError:
        raise ValueError(f"methods: expected a sequence of names from {', '.join(METHODS)}, "
                         f"got {methods!r}") from None
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad or len(set(methods)) != len(methods):
        raise ValueError(f"methods: expected distinct names from {', '.join(METHODS)}, got "
                         f"{list(methods)}")
    return methods


def _trace(model: nn.Module, x: Tensor) -> TracedNet:
    try:
        return TracedNet(model, x[:1])
    except RuntimeError as exc:  # the forward pass does not take inputs of this shape
        text = " ".join(str(exc).split())[:300]
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit the model: {text}; give "
                         "inputs of the shape the model was built for") from None


def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor | None:
    """Top-1 classes of ``model`` on ``x`` (None when its output is not (batch, classes))."""
    outs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            y = model(x[start:start + batch_size])
            if not isinstance(y, Tensor) or y.ndim != 2:
                return None
            outs.append(y.argmax(1))
    return torch.cat(outs)


# ---------------------------------------------------------------------- one layer
@dataclass
class _Context:
    """What every method of one layer shares."""

    model: nn.Module
    net: TracedNet
    layer: str
    x: Tensor
    ref_unit: Tensor
    target: Tensor | None
    aux: Tensor | None
    scale: ValueScale
    config: InvertConfig
    progress: bool


def _score(ctx: _Context, lift: Any, h: Tensor, out: MethodOutput, method: str,
           switches: str) -> pd.DataFrame:
    n = ctx.x.shape[0]
    est = ctx.scale.to_unit(out.x)
    with torch.no_grad():
        f = torch.cat([lift(out.x[s:s + ctx.config.batch_size])
                       for s in range(0, n, ctx.config.batch_size)])
    if ctx.target is not None:
        pred = _predict(ctx.model, out.x, ctx.config.batch_size)
        correct = (pred == ctx.target).double().cpu().numpy()
    else:
        correct = np.full(n, np.nan)
    return pd.DataFrame({
        "layer": ctx.layer, "method": method, "switches": switches, "image": np.arange(n),
        "psnr": psnr(ctx.ref_unit, est), "ssim": ssim(ctx.ref_unit, est),
        "feature_error": feature_error(f, h), "correct": correct,
        "seconds": out.seconds / n, "setup_seconds": out.setup_seconds, "steps": out.steps,
    }, columns=list(TABLE_COLUMNS))


def _run_layer(ctx: _Context, methods: tuple[str, ...]) -> tuple[
        list[pd.DataFrame], list[tuple[str, str]], list[Tensor], list[pd.DataFrame],
        dict[str, float], str]:
    cfg, x = ctx.config, ctx.x
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = shadow_of(ctx.model, ctx.net, ctx.layer)  # encodes, with switches (α not used)
    with torch.no_grad():
        enc = base.encode(x)
    h = enc.h.detach()
    lift = feature_map(ctx.net, ctx.layer)  # f_L, differentiable
    timings["encode"] = time.perf_counter() - t0
    tables, variants, recons, curves = [], [], [], []

    def add(out: MethodOutput, method: str, switches: str) -> None:
        tables.append(_score(ctx, lift, h, out, method, switches))
        variants.append((method, switches))
        recons.append(out.x)
        key = method if switches in ("n/a", "none") or method != "shadow" else \
            f"{method}/{switches}"
        timings[key] = out.seconds
        if out.curves:
            frame = pd.DataFrame(out.curves, columns=list(CURVE_COLUMNS))
            frame.insert(0, "switches", switches)
            frame.insert(0, "method", method)
            frame.insert(0, "layer", ctx.layer)
            curves.append(frame)

    calibrated_on = "aux" if ctx.aux is not None else "inputs"
    primary = None
    if "shadow" in methods or "warm" in methods:
        calib = (ctx.aux if ctx.aux is not None else x)[:cfg.calibrate_inputs]
        pooled = enc.switches is not None
        order = [cfg.switches, *(s for s in ("known", "unknown") if s != cfg.switches)]
        timings["calibrate"] = 0.0
        for i, which in enumerate(order if pooled else ["none"]):
            if i > 0 and "shadow" not in methods:
                break  # warm alone needs the primary shadow only
            t1 = time.perf_counter()
            shadow = build_shadow(ctx.model, ctx.net, ctx.layer, calib,
                                  known=which in ("known", "none"), unpool=cfg.unpool)
            setup = time.perf_counter() - t1
            timings["calibrate"] += setup
            out = shadow_pass(shadow, h, enc.switches, ctx.scale, batch_size=cfg.batch_size)
            out = MethodOutput(out.x, out.seconds, setup_seconds=setup)
            if i == 0:
                primary = (out, which)
            if "shadow" in methods:
                add(out, "shadow", which)
    for method in methods:
        if method == "optimize":
            start = torch.zeros_like(x)  # zero in normalised space: the data mean (He et al.)
            out = optimise(lift, h, start, ctx.scale, cfg, ref_unit=ctx.ref_unit,
                           progress=ctx.progress, description=f"optimize {ctx.layer}")
            add(out, "optimize", "n/a")
        elif method == "warm":
            assert primary is not None
            start_out, which = primary
            n = x.shape[0]
            out = optimise(lift, h, start_out.x, ctx.scale, cfg, ref_unit=ctx.ref_unit,
                           start_seconds=start_out.seconds / n, progress=ctx.progress,
                           description=f"warm {ctx.layer}")
            add(MethodOutput(out.x, out.seconds, start_out.setup_seconds, out.steps,
                             out.curves), "warm", which)
        elif method == "learned":
            if ctx.aux is None:
                raise ValueError("method 'learned' needs aux: auxiliary inputs of the same kind "
                                 "(e.g. the training split, disjoint from x) to train the "
                                 "inverse network on")
            out = learned_pass(ctx.model, ctx.layer, ctx.aux, h, ctx.scale, cfg,
                               progress=ctx.progress)
            timings["learned_train"] = out.setup_seconds
            add(out, "learned", "n/a")
    return tables, variants, recons, curves, timings, calibrated_on


def _context(model: nn.Module, net: TracedNet, layer: str, x: Tensor, aux: Tensor | None,
             scale: ValueScale, config: InvertConfig, progress: bool,
             target: Tensor | None) -> _Context:
    """``target``: the classes ``correct`` is scored against (labels, else predictions)."""
    return _Context(model, net, layer, x, scale.to_unit(x), target, aux, scale, config,
                    progress)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _empty_curves() -> pd.DataFrame:
    return pd.DataFrame(columns=list(CURVES_COLUMNS))


def invert(model: nn.Module, x: Tensor, layer: str, *, config: InvertConfig | None = None,
           labels: Tensor | None = None, aux: Tensor | None = None,
           scale: ValueScale | None = None, progress: bool = False) -> InversionResult:
    """Reconstruct ``x`` from ``model``'s activations at ``layer`` with ``config.method``.

    Parameters
    ----------
    model : nn.Module
        Any net :func:`shadownets.reverse.reverse` supports; put in eval mode for the call.
    x : Tensor of shape (n, *input_shape)
        The inputs whose activations are inverted (normalised, as the net takes them).
    layer : str
        Activation point (see :func:`shadownets.reverse.list_layers`).
    config : InvertConfig, optional
        Method and settings (default ``InvertConfig()``: the shadow).
    labels : Tensor of shape (n,), optional
        True classes, for the net's accuracy on the reconstructions (without them: agreement
        with the net's own class on ``x``).
    aux : Tensor of shape (m, *input_shape), optional
        Auxiliary inputs of the same kind, disjoint from ``x`` (the attacker's data): the
        shadow is calibrated on them (else on ``x`` itself), and ``learned`` is trained on
        them (required).
    scale : ValueScale, optional
        The data's mean/std mapping ``x`` to pixel values in [0, 1]. Default: the batch's own
        range (``ValueScale.from_batch(x)``).
    progress : bool, default False
        A progress bar on stderr for the optimisation.

    Returns
    -------
    InversionResult

    Raises
    ------
    ValueError
        ``layer`` not in the net (the message lists the known ones), ``x`` / ``aux`` of the
        wrong shape or not finite, bad labels or scale, ``learned`` without ``aux``.
    """
    x, labels, aux, scale, config = _check_inputs(model, x, config, labels, aux, scale)
    with _eval_mode(model):
        t0 = time.perf_counter()
        net = _trace(model, x)
        net.node(layer, "layer")
        trace_s = time.perf_counter() - t0
        target = labels if labels is not None else _predict(model, x, config.batch_size)
        ctx = _context(model, net, layer, x, aux, scale, config, progress, target)
        tables, variants, recons, curves, timings, calibrated_on = _run_layer(
            ctx, (config.method,))
    info = {"calibrated_on": calibrated_on if config.method in ("shadow", "warm") else None,
            "accuracy_vs": "labels" if labels is not None else "prediction",
            "scale": scale.source, "unpool": config.unpool, "n": int(x.shape[0]),
            "layer": layer}
    return InversionResult(
        table=pd.concat(tables, ignore_index=True), reconstructions=torch.stack(recons),
        variants=tuple(variants), originals=x,
        curves=pd.concat(curves, ignore_index=True) if curves else _empty_curves(),
        timings={"trace": trace_s, **timings}, info=info, scale=scale, config=config)


def _default_layers(net: TracedNet) -> list[str]:
    return [i.name for i in net.layers() if i.reversible and i.kind.lower() == "relu"]


def _choose_layers(net: TracedNet, layers: Sequence[str] | None) -> list[str]:
    infos = [i for i in net.layers() if i.reversible]
    known = [i.name for i in infos]
    if layers is None:
        chosen = _default_layers(net)
        if not chosen:
            raise ValueError(f"layers: the net has no reversible ReLU output; name the layers "
                             f"to invert, from: {', '.join(known)}")
        return chosen
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    bad = [name for name in layers if name not in known]
    if not layers or bad:
        raise ValueError(f"layers: unknown or non-reversible activation point(s) "
                         f"{bad or layers}; known: {', '.join(known)}")
    order = {name: i for i, name in enumerate(known)}
    return sorted(dict.fromkeys(layers), key=order.__getitem__)


def leakage(model: nn.Module, x: Tensor, *, layers: Sequence[str] | None = None,
            methods: Sequence[str] = DEFAULT_METHODS, config: InvertConfig | None = None,
            labels: Tensor | None = None, aux: Tensor | None = None,
            scale: ValueScale | None = None, progress: bool = False) -> LeakageResult:
    """How much of ``x`` each layer of ``model`` gives away: :func:`invert` at every layer.

    Parameters
    ----------
    model, x, labels, aux, scale, progress
        As in :func:`invert`.
    layers : sequence of str, optional
        Activation points to invert (any order; run bottom-up). Default: every reversible
        ReLU output (:func:`shadownets.reverse.list_layers`).
    methods : sequence of str, default ("shadow", "optimize", "warm")
        Methods run at every layer (``config.method`` is not read).
    config : InvertConfig, optional
        The settings of every method.

    Returns
    -------
    LeakageResult
        ``table``: layer × method variant → PSNR, SSIM, feature error, accuracy, seconds per
        image, with t intervals (:data:`SUMMARY_COLUMNS`).
    """
    x, labels, aux, scale, config = _check_inputs(model, x, config, labels, aux, scale)
    methods = _check_methods(methods)
    with _eval_mode(model):
        t0 = time.perf_counter()
        net = _trace(model, x)
        chosen = _choose_layers(net, layers)
        timings = {"trace": time.perf_counter() - t0}
        kinds = {i.name: i.kind for i in net.layers()}
        target = labels if labels is not None else _predict(model, x, config.batch_size)
        tables, curves, examples = [], [], {}
        calibrated_on = None
        for name in chosen:
            t1 = time.perf_counter()
            ctx = _context(model, net, name, x, aux, scale, config, progress, target)
            tab, variants, recons, curv, _, calibrated_on = _run_layer(ctx, methods)
            tables.extend(tab)
            curves.extend(curv)
            examples[name] = (tuple(variants), torch.stack([r[:8] for r in recons]))
            timings[name] = time.perf_counter() - t1
    per_image = pd.concat(tables, ignore_index=True)
    summary = summarise_table(per_image, level=config.level, kinds=kinds)
    info = {"calibrated_on": calibrated_on if {"shadow", "warm"} & set(methods) else None,
            "accuracy_vs": "labels" if labels is not None else "prediction",
            "scale": scale.source, "unpool": config.unpool, "n": int(x.shape[0]),
            "methods": list(methods)}
    return LeakageResult(
        table=summary, per_image=per_image,
        curves=pd.concat(curves, ignore_index=True) if curves else _empty_curves(),
        layers=tuple(chosen), examples=examples, originals=x[:8], timings=timings, info=info,
        scale=scale, config=config)


def summarise_table(table: pd.DataFrame, *, level: float = 0.95,
                    kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Means over images with t intervals, one row per layer × method variant.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with :data:`TABLE_COLUMNS`.
    level : float, default 0.95
        Coverage of the intervals (:func:`shadownets.stats.interval`).
    kinds : dict str -> str, optional
        Layer kinds (``"ReLU"``, ...) for the ``kind`` column.

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`, layers in their order of appearance.
    """
    rows = []
    layer_order = list(dict.fromkeys(table["layer"]))
    for (layer, method, switches), g in table.groupby(["layer", "method", "switches"],
                                                      sort=False):
        row: dict[str, Any] = {"layer": layer, "depth": layer_order.index(layer) + 1,
                               "kind": (kinds or {}).get(layer, ""), "method": method,
                               "switches": switches, "n": len(g)}
        for col, name in (("psnr", "psnr"), ("ssim", "ssim"),
                          ("feature_error", "feature_error"), ("correct", "accuracy")):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = summarise(
                g[col].to_numpy(float), level)
        row["seconds_per_image"] = float(g["seconds"].mean())
        row["setup_seconds"] = float(g["setup_seconds"].iloc[0])
        row["steps"] = int(g["steps"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
