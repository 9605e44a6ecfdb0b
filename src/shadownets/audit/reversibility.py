"""Per-layer reversibility of a net: does the forward pass recover a hidden layer from its shadow?

For one audited layer (a Linear/Conv followed by a ReLU, or a small block ending in a ReLU),
with real inputs ``x`` and the layer's true activations ``h`` (the ReLU output):

* ``one`` — generate the layer's input ``z`` from ``h`` with the shadow net one layer down,
  lift it with the trained bias: ``ĥ = lift(z)``. "One layer down" ends at the previous
  ReLU output (or the network input), so a pool or flatten between that ReLU and the
  Linear/Conv belongs to the layer: the generated ``z`` is then a ReLU output, nonnegative
  like the real one, as in the theory's ``x = ReLU(α W h)``;
* ``one_theory`` — the same ``z``, run forward (trained net) to the Linear/Conv's input
  ``u``, then ``ĥ = ReLU(A u + b)`` with the theory bias ``b_i = −c·(‖A_i‖/√n)·‖u‖·√(ln m)``
  instead of the trained one (``A_i`` the unit's row of the layer's operator, ``n`` its input
  size, ``m`` its number of units) — only when the Linear/Conv feeds its ReLU directly (NaN
  for blocks such as Conv → BatchNorm → ReLU);
* ``input`` — generate the network input all the way down and run the trained net forward.

Each setting gives per-input ``rel_err``, ``cos`` and ``f1`` (see :mod:`shadownets.audit.stats`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from shadownets.audit.config import AuditConfig
from shadownets.audit.operator import LayerOperator, is_linear_layer
from shadownets.audit.stats import METRICS, per_input_metrics

__all__ = ["SETTINGS", "Site", "SiteMeasurement", "find_sites", "measure_site"]

#: Reversibility settings, in column order.
SETTINGS: tuple[str, ...] = ("one", "one_theory", "input")

#: Layer kinds allowed between a Linear/Conv and its ReLU in a "block" (elementwise or
#: per-channel affine maps that keep the unit layout).
_BLOCK_KINDS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Identity", "Dropout",
                "Dropout1d", "Dropout2d", "GroupNorm", "LayerNorm")
_RELU_KINDS = ("ReLU", "relu", "relu_")
#: Parameter-free, one-input layer kinds allowed between the previous ReLU and a Linear/Conv.
_PASS_KINDS = ("Flatten", "flatten", "Unflatten", "Identity", "Dropout", "Dropout1d",
               "Dropout2d", "Dropout3d", "reshape", "view")


@dataclass(frozen=True)
class Site:
    """One audited layer.

    Attributes
    ----------
    name : str
        Activation point audited (the ReLU output ``h``), as understood by ``reverse``.
    module : str
        Qualified name of the Linear/Conv module below it.
    kind : str
        The module's type name, or ``"<type>+block"`` when more than a ReLU follows it.
    feeds : str or None
        Where "one layer down" ends: the previous ReLU output, reached from ``module``
        through pools/reshapes/dropout only (None: the network input). When something else
        (a weighted op, an add) comes first, the activation point right below ``module``.
    module_input : str or None
        Activation point right below ``module`` (None: the network input).
    input_shape, code_shape : tuple of int
        Per-sample shape of the module's input and of ``h``.
    direct : bool
        True when the path is exactly module → ReLU (the theory bias applies).
    to_input : bool
        True when every op from the network input up to ``name`` has a reverse rule (the
        setting ``input`` can be measured).
    """

    name: str
    module: str
    kind: str
    feeds: str | None
    module_input: str | None
    input_shape: tuple[int, ...]
    code_shape: tuple[int, ...]
    direct: bool
    to_input: bool


def _fit_scale(lift, z: torch.Tensor, h: torch.Tensor) -> float:
    """The factor ``s`` in [1/16, 16] minimising the mean relative error of ``lift(s · z)``
    against ``h``: a grid of powers of 2, then three halving refinements (1/8 octave)."""
    def loss(log2s: float) -> float:
        err = per_input_metrics(lift(z * 2.0 ** log2s), h)["rel_err"]
        return float(np.nanmean(err)) if np.isfinite(err).any() else float("inf")

    seen = {float(v): loss(float(v)) for v in range(-4, 5)}
    best = min(seen, key=seen.get)
    for step in (0.5, 0.25, 0.125):
        for cand in (best - step, best + step):
            seen[cand] = loss(cand)
        best = min(seen, key=seen.get)
    return float(2.0 ** best)


@dataclass
class SiteMeasurement:
    """Per-input reversibility figures of one net at one site.

    Attributes
    ----------
    metrics : dict
        ``metrics[setting][metric]`` is an array of shape (inputs,); settings missing from
        the dict were not measured (NaN in the table).
    active : np.ndarray of shape (inputs,)
        Number of active (positive) units of ``h`` per input.
    scales : dict
        ``scales[setting]``: the factor applied to the generated input before lifting
        (1.0 unless ``fit_scale``).
    generated : torch.Tensor or None
        The first generated network inputs (setting ``input``), shape (n_examples, *input).
    """

    metrics: dict[str, dict[str, np.ndarray]]
    active: np.ndarray
    scales: dict[str, float]
    generated: torch.Tensor | None = field(default=None)


def find_sites(model: nn.Module, example: torch.Tensor,
               layers: list[str] | None = None) -> list[Site]:
    """The layers to audit, bottom to top.

    Parameters
    ----------
    model : nn.Module
    example : torch.Tensor of shape (batch, *input_shape)
        A real input batch (used to trace shapes).
    layers : list of str, optional
        Names of activation points (ReLU outputs) or of Linear/Conv modules (their ReLU is
        used). Default: every Linear/Conv whose output reaches a ReLU through nothing but
        normalisation/identity/dropout layers.

    Returns
    -------
    list of Site
    """
    from shadownets.reverse import list_layers

    infos = list(list_layers(model, example))
    modules = dict(model.named_modules())
    sites: list[Site] = []
    for i, info in enumerate(infos):
        mod = modules.get(info.name)
        if mod is None or not is_linear_layer(mod):
            continue
        j = i + 1
        while j < len(infos) and infos[j].kind in _BLOCK_KINDS:
            j += 1
        if j >= len(infos) or infos[j].kind not in _RELU_KINDS:
            continue
        below = infos[i - 1].name if i > 0 else None
        in_shape = tuple(infos[i - 1].shape) if i > 0 else tuple(example.shape[1:])
        kind = type(mod).__name__ + ("" if j == i + 1 else "+block")
        sites.append(Site(infos[j].name, info.name, kind, _previous_relu(infos, i), below,
                          in_shape, tuple(infos[j].shape), j == i + 1,
                          bool(infos[j].reversible)))
    if layers is None:
        return sites
    by_name = {s.name: s for s in sites} | {s.module: s for s in sites}
    chosen = []
    for name in layers:
        if name not in by_name:
            known = [s.name for s in sites] + [s.module for s in sites]
            raise ValueError(
                f"layers: {name!r} is not an auditable layer (a Linear/Conv module followed by "
                f"a ReLU, or that ReLU); auditable names are {sorted(set(known))}"
            )
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def _is_pass(kind: str) -> bool:
    return kind in _PASS_KINDS or "Pool" in kind or "pool" in kind


def _previous_relu(infos: list, i: int) -> str | None:
    """The ReLU output below layer ``i`` through pass-through ops, else its direct input."""
    j = i - 1
    while j >= 0 and _is_pass(infos[j].kind):
        j -= 1
    if j < 0:
        return None
    if infos[j].kind in _RELU_KINDS:
        return infos[j].name
    return infos[i - 1].name


def theory_lift(module: nn.Module, z: torch.Tensor, c: float) -> torch.Tensor:
    """``ReLU(A z + b)`` with the theory bias ``b_i = −c·(‖A_i‖/√n)·‖z‖·√(ln m)``.

    Parameters
    ----------
    module : nn.Linear or nn.Conv*
    z : torch.Tensor of shape (batch, *input_shape)
    c : float

    Returns
    -------
    torch.Tensor of shape (batch, *output_shape)
    """
    op = LayerOperator(module, tuple(z.shape[1:]))
    pre = op.matvec(z)
    rows = op.row_norms().to(pre.dtype).reshape(1, *op.output_shape)
    z_norm = z.reshape(z.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (pre.ndim - 1)))
    scale = math.sqrt(math.log(max(op.n_out, 2))) / math.sqrt(op.n_in)
    return torch.relu(pre - c * scale * rows * z_norm)


def _shadow(net: nn.Module, x: torch.Tensor, site: Site, to: str | None, cfg: AuditConfig):
    from shadownets.reverse import reverse

    shadow = reverse(net, x[:1], site.name, to=to, rho=cfg.rho, alpha=cfg.alpha,
                     unpool=cfg.unpool)
    if cfg.alpha == "calibrated":
        shadow.calibrate(x[: cfg.calibrate_inputs])
    return shadow


def measure_site(net: nn.Module, x: torch.Tensor, site: Site, cfg: AuditConfig, *,
                 seed: int, keep_examples: bool = False) -> SiteMeasurement:
    """Reversibility of ``net`` at ``site`` on inputs ``x`` (batch, *input_shape).

    ``net`` must be in eval mode. Dropout masks of the shadow net come from ``seed``. With
    ``cfg.fit_scale`` each setting first fits one factor ``s`` on the first calibration
    inputs (``x[:min(cfg.calibrate_inputs, 64)]``) and lifts ``s · z``: the α of a real
    layer is not known (see :mod:`shadownets.reverse`), and a wrong global scale would swamp
    the error. Trained and null nets get the same treatment.
    """
    module = net.get_submodule(site.module)
    settings = ["one", "one_theory"] + (["input"] if cfg.to_input else [])
    per: dict[str, dict[str, list[np.ndarray]]] = {s: {m: [] for m in METRICS} for s in settings}
    active: list[np.ndarray] = []
    generated = None
    with torch.no_grad():
        one = _shadow(net, x, site, site.feeds, cfg)
        pre = None  # forward from `feeds` to the module's input (pools, reshapes) when apart
        if site.direct and site.module_input != site.feeds:
            from shadownets.reverse import reverse

            pre = reverse(net, x[:1], site.module_input, to=site.feeds)
        down = None
        if cfg.to_input and site.to_input:  # the same shadow when the layer sits on the input
            down = one if site.feeds is None else _shadow(net, x, site, None, cfg)
        lifts = {"one": lambda z: one.lift(z, bias="trained")}
        if site.direct:
            lifts["one_theory"] = lambda z: theory_lift(
                module, pre.lift(z, bias="trained") if pre is not None else z, cfg.theory_c)
        if down is not None:
            lifts["input"] = lambda z: down.lift(z, bias="trained")

        def generate(xb: torch.Tensor, g: torch.Generator):
            enc = one.encode(xb)  # encode() runs the whole net up to the layer: one code
            z = one.generate(enc.h, switches=enc.switches, generator=g)
            gens = {"one": z, "one_theory": z}
            if down is not None:
                gens["input"] = z if down is one else down.generate(
                    enc.h, switches=enc.switches, generator=g)
            return enc.h, gens

        scales = {s: 1.0 for s in lifts}
        if cfg.fit_scale:
            h_cal, gens = generate(x[: min(cfg.calibrate_inputs, 64)],
                                   torch.Generator(x.device).manual_seed(int(seed) + 1))
            scales = {s: _fit_scale(f, gens[s], h_cal) for s, f in lifts.items()}
        g = torch.Generator(x.device).manual_seed(int(seed))  # on the device it draws on
        for start in range(0, x.shape[0], cfg.batch_size):
            h, gens = generate(x[start:start + cfg.batch_size], g)
            active.append((h.reshape(h.shape[0], -1) > 0).sum(1).cpu().numpy())
            if keep_examples and generated is None and "input" in gens:
                generated = (scales["input"] * gens["input"][: cfg.n_examples]).detach().cpu()
            for setting in settings:
                if setting in lifts:
                    vals = per_input_metrics(lifts[setting](scales[setting] * gens[setting]), h)
                else:
                    vals = {m: np.full(h.shape[0], np.nan) for m in METRICS}
                for m in METRICS:
                    per[setting][m].append(vals[m])
    metrics = {s: {m: np.concatenate(per[s][m]) for m in METRICS} for s in settings}
    scales = {s: scales.get(s, float("nan")) for s in settings}
    return SiteMeasurement(metrics, np.concatenate(active), scales, generated)
