"""The inversion methods: one shadow pass, rMLE optimisation (cold or warm), a learned inverse.

Every method takes the activations ``h`` of a batch at one layer (plus, for the white-box
shadow, the max-pool switches recorded while encoding) and returns reconstructions in the
normalised input space, clipped to the valid range (the images of pixel values 0 and 1, see
:class:`shadownets.invert.metrics.ValueScale`).

* :func:`shadow_pass` — the shadow net of :func:`shadownets.reverse.reverse` with ρ = 1 and α
  calibrated (on auxiliary inputs when the caller has them, else on the attacked inputs).
* :func:`optimise` — regularised maximum-likelihood inversion (rMLE; He, Zhang & Lee, ACSAC
  2019; Mahendran & Vedaldi, CVPR 2015) with Adam, from any start: zeros (``optimize``) or the
  shadow reconstruction (``warm``). See :class:`shadownets.invert.config.InvertConfig` for the
  objective and the defaults.
* :func:`learned_pass` — the inverse network of :mod:`shadownets.invert.learned` (imported
  only when used).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, fx, nn

from shadownets.invert.config import InvertConfig
from shadownets.invert.metrics import ValueScale, psnr, relative_sq_error
from shadownets.reverse.graph import TracedNet
from shadownets.reverse.shadow import ShadowNet, shadow_of

__all__ = ["MethodOutput", "feature_map", "build_shadow", "shadow_pass", "total_variation",
           "objective", "optimise", "learned_pass", "CURVE_COLUMNS"]

#: Columns of the curve rows :func:`optimise` records (one row per image and recorded step).
CURVE_COLUMNS: tuple[str, ...] = ("image", "step", "seconds", "objective", "psnr")


@dataclass(frozen=True, eq=False)
class MethodOutput:
    """What one method produced on a batch.

    Attributes
    ----------
    x : Tensor of shape (n, *input_shape)
        Reconstructions, normalised space, clipped to the valid range.
    seconds : float
        Wall time of the inversion of all ``n`` images (excluding ``setup_seconds``; for
        ``warm`` including the shadow pass it starts from).
    setup_seconds : float
        One-off cost: the shadow's calibration, the inverse network's training.
    steps : int
        Optimisation steps (0 for one-pass methods).
    curves : list of dict
        Rows with :data:`CURVE_COLUMNS` (``seconds`` per image, cumulative); empty for
        one-pass methods.
    """

    x: Tensor
    seconds: float
    setup_seconds: float = 0.0
    steps: int = 0
    curves: list[dict] = field(default_factory=list)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@contextmanager
def _progress(enabled: bool, total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (a no-op when off or stderr is not a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def feature_map(net: TracedNet, layer: str) -> fx.GraphModule:
    """``f_L``: the traced model cut at ``layer``, a module mapping inputs (batch,
    *input_shape) to the activations at ``layer`` (batch, *code_shape).

    The nodes of the trace up to ``layer`` with ``layer``'s value as the output (dead nodes
    removed): the model's own modules and parameters, run natively (differentiable, at the
    speed of the model's forward), unlike :meth:`ShadowNet.lift`, which interprets the trace.
    """
    stop = net.node(layer, "layer")
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in net.gm.graph.nodes:
        if node.op == "output":
            break
        env[node] = graph.node_copy(node, lambda n: env[n])
        if node is stop:
            break
    graph.output(env[stop])
    cut = fx.GraphModule(net.gm, graph)
    cut.graph.eliminate_dead_code()
    cut.recompile()
    return cut


# ---------------------------------------------------------------------- shadow
def build_shadow(model: nn.Module, net: TracedNet, layer: str, calib_x: Tensor, *,
                 known: bool, unpool: str) -> ShadowNet:
    """The calibrated shadow net of ``model`` from ``layer`` down to the input.

    Equivalent to ``reverse(model, x[:1], layer, rho=1.0, alpha="calibrated", unpool=...)``
    then ``.calibrate(calib_x)``, on a trace shared by the caller.

    Parameters
    ----------
    net : TracedNet
        The trace of ``model``.
    calib_x : Tensor of shape (m, *input_shape)
        Inputs α is calibrated on (auxiliary data of the same kind, or the attacked inputs).
    known : bool
        Undo max pools with the switches recorded while encoding (white-box); else ``unpool``.
    unpool : {"nearest", "spread"}
        How max pools are undone when ``known`` is False (also used in calibration).
    """
    shadow = shadow_of(model, net, layer, rho=1.0, alpha="calibrated",
                       unpool="switches" if known else unpool)
    return shadow.calibrate(calib_x, generator=torch.Generator(calib_x.device).manual_seed(0))


def shadow_pass(shadow: ShadowNet, h: Tensor, switches: dict | None, scale: ValueScale, *,
                batch_size: int) -> MethodOutput:
    """One pass of ``shadow`` from codes ``h`` (batch, *code_shape), clipped to the valid range.

    ``switches`` (from :meth:`ShadowNet.encode`, same batch) are used only by a shadow built
    with known switches. Batches of ``batch_size``; the time is that of ``generate`` and the
    clip (encoding is not part of an attack: the attacker receives ``h``).
    """
    known = shadow.unpool == "switches" and switches is not None
    out = torch.empty(h.shape[0], *shadow.input_shape, dtype=h.dtype, device=h.device)
    seconds = 0.0
    with torch.no_grad():
        for sl in _chunks(h.shape[0], batch_size):
            sw = {k: v[sl] for k, v in switches.items()} if known else None
            _sync(h.device)
            t0 = time.perf_counter()
            out[sl] = scale.clip(shadow.generate(h[sl], switches=sw))
            _sync(h.device)
            seconds += time.perf_counter() - t0
    return MethodOutput(out, seconds)


# ---------------------------------------------------------------------- rMLE
def total_variation(x: Tensor) -> Tensor:
    """He et al.'s squared total variation per sample (β = 2), differentiable.

    Over each spatial axis, the mean of the squared differences of neighbouring values, summed
    over the axes.

    Parameters
    ----------
    x : Tensor of shape (batch, C, *spatial) (or (batch, D): no spatial axis, TV = 0)

    Returns
    -------
    Tensor of shape (batch,)
    """
    tv = x.new_zeros(x.shape[0])
    for dim in range(2, x.ndim):
        if x.shape[dim] > 1:
            tv = tv + torch.diff(x, dim=dim).pow(2).flatten(1).mean(1)
    return tv


def objective(lift: Callable[[Tensor], Tensor], x: Tensor, h: Tensor,
              config: InvertConfig) -> Tensor:
    """The rMLE objective per image (see :class:`InvertConfig`).

    Parameters
    ----------
    lift : callable
        ``f_L``: inputs (batch, *input_shape) -> activations (batch, *code_shape).
    x : Tensor of shape (batch, *input_shape)
    h : Tensor of shape (batch, *code_shape)

    Returns
    -------
    Tensor of shape (batch,)
    """
    value = relative_sq_error(lift(x), h)
    if config.tv_weight:
        value = value + config.tv_weight * total_variation(x)
    if config.l2_weight:
        value = value + config.l2_weight * x.flatten(1).pow(2).mean(1)
    return value


def optimise(lift: Callable[[Tensor], Tensor], h: Tensor, start: Tensor, scale: ValueScale,
             config: InvertConfig, *, ref_unit: Tensor | None = None,
             start_seconds: float = 0.0, progress: bool = False,
             description: str = "rMLE") -> MethodOutput:
    """Minimise the rMLE objective with Adam from ``start``, batch by batch.

    Parameters
    ----------
    lift : callable
        ``f_L`` (differentiable).
    h : Tensor of shape (n, *code_shape)
        The activations to invert.
    start : Tensor of shape (n, *input_shape)
        Starting inputs (normalised space); step 0 of the curves is exactly this.
    scale : ValueScale
        Maps to pixel values; the result is clipped to its valid range.
    config : InvertConfig
        ``steps``, ``lr``, ``adam_eps``, ``amsgrad``, ``tv_weight``, ``l2_weight``,
        ``batch_size``, ``record_every``.
    ref_unit : Tensor of shape (n, *input_shape), optional
        The true inputs as pixel values: with it the curves carry each recorded step's PSNR
        (of the clipped iterate), else NaN.
    start_seconds : float
        Per-image time already spent to get ``start`` (the shadow pass of ``warm``): added to
        the curves' ``seconds`` and to the total.
    progress : bool
        Show a rich progress bar on stderr (when it is a terminal).

    Returns
    -------
    MethodOutput
        Curves recorded at step 0, every ``record_every`` steps and at the last step; the
        objective recorded at step ``s`` is that of the iterate after ``s`` updates.
    """
    n = h.shape[0]
    out = torch.empty_like(start)
    rows: list[dict] = []
    seconds = start_seconds * n
    total = config.steps * len(range(0, n, config.batch_size))
    with _progress(progress, total, description) as bar:
        done = 0
        for sl in _chunks(n, config.batch_size):
            idx = np.arange(n)[sl]
            hb = h[sl].detach()
            x = start[sl].detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=config.lr, eps=config.adam_eps,
                                   amsgrad=config.amsgrad)
            elapsed = 0.0
            for step in range(config.steps + 1):
                _sync(x.device)
                t0 = time.perf_counter()
                value = objective(lift, x, hb, config)
                _sync(x.device)
                elapsed += time.perf_counter() - t0
                if step % config.record_every == 0 or step == config.steps:
                    with torch.no_grad():
                        clipped = scale.clip(x.detach())
                        p = (psnr(ref_unit[sl], scale.to_unit(clipped)) if ref_unit is not None
                             else np.full(len(idx), np.nan))
                    obj = value.detach().double().cpu().numpy()
                    per_image = start_seconds + elapsed / len(idx)
                    rows.extend({"image": int(i), "step": step, "seconds": per_image,
                                 "objective": float(o), "psnr": float(q)}
                                for i, o, q in zip(idx, obj, p, strict=True))
                if step == config.steps:
                    break
                t0 = time.perf_counter()
                # the gradient of x alone: the model's own .grad are left untouched
                (x.grad,) = torch.autograd.grad(value.sum(), [x])
                opt.step()
                _sync(x.device)
                elapsed += time.perf_counter() - t0
                done += 1
                bar(done)
            with torch.no_grad():
                out[sl] = scale.clip(x.detach())
            seconds += elapsed
    return MethodOutput(out, seconds, steps=config.steps, curves=rows)


# ---------------------------------------------------------------------- learned inverse
def learned_pass(model: nn.Module, layer: str, aux: Tensor, h: Tensor, scale: ValueScale,
                 config: InvertConfig, *, progress: bool = False) -> MethodOutput:
    """Train the inverse network on ``aux`` (:func:`shadownets.invert.learned.train_inverse`)
    and apply it to ``h`` (batch, *code_shape); its training time is ``setup_seconds``."""
    try:
        from shadownets.invert.learned import train_inverse
    except ModuleNotFoundError as exc:
        if exc.name != "shadownets.invert.learned":
            raise
        raise NotImplementedError("method 'learned' needs shadownets.invert.learned, which is "
                                  "not in this installation; use shadow, optimize or warm"
                                  ) from None
    inverse = train_inverse(model, layer, aux, config=config, progress=progress)
    out = torch.empty(h.shape[0], *aux.shape[1:], dtype=h.dtype, device=h.device)
    seconds = 0.0
    with torch.no_grad():
        for sl in _chunks(h.shape[0], config.batch_size):
            _sync(h.device)
            t0 = time.perf_counter()
            out[sl] = scale.clip(inverse.invert(h[sl]).to(h.dtype))
            _sync(h.device)
            seconds += time.perf_counter() - t0
    return MethodOutput(out, seconds, setup_seconds=float(inverse.train_seconds))
