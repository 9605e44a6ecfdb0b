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
from shadownets.audit.operator import LayerOperator
from shadownets.audit.stats import METRICS, per_input_metrics

__all__ = ["SETTINGS", "Site", "SiteMeasurement", "find_sites", "measure_site"]

#: Reversibility settings, in column order.
SETTINGS: tuple[str, ...] = ("one", "one_theory", "input")

#: Rule families (:attr:`shadownets.reverse.ops.Rule.family`) allowed between a weighted
#: layer and its activation in a "block": maps that keep the unit layout.
_BLOCK_FAMILIES = ("normalisation", "identity", "scale")
#: Families allowed between the previous activation and a weighted layer: parameter-free,
#: one-input maps that keep a ReLU output nonnegative (pools, reshapes, identity, dropout).
_PASS_FAMILIES = ("pooling", "reshape", "identity")


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


def _mean_rel_err(h_hat: torch.Tensor, h: torch.Tensor) -> float:
    """Mean over inputs of ``‖ĥ − h‖² / ‖h‖²`` (inputs with ``h = 0`` left out): the
    ``rel_err`` of :func:`shadownets.audit.stats.per_input_metrics`, without the other
    metrics (the scale fit evaluates it many times)."""
    a = h_hat.detach().reshape(h.shape[0], -1)
    b = h.detach().reshape(h.shape[0], -1)
    den = b.square().sum(1, dtype=torch.float64)  # float64 sums, no float64 copies
    keep = den > 0
    if not bool(keep.any()):
        return float("inf")
    err = (a - b).square_().sum(1, dtype=torch.float64)[keep] / den[keep]
    err = err[torch.isfinite(err)]
    return float(err.mean()) if err.numel() else float("inf")


def _fit_scale(lift, z: torch.Tensor, h: torch.Tensor) -> float:
    """The factor ``s`` in [1/16, 16] minimising the mean relative error of ``lift(s · z)``
    against ``h``: a grid of powers of 2, then three halving refinements (1/8 octave)."""
    def loss(log2s: float) -> float:
        return _mean_rel_err(lift(z * 2.0 ** log2s), h)

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
        used). Default: every weighted layer (a rule of family ``"operator"``) whose output
        reaches an activation (any rule of family ``"activation"``: ReLU, GELU, LeakyReLU,
        ...) through nothing but normalisation / identity / dropout / scaling.

    Returns
    -------
    list of Site
    """
    from shadownets.reverse.graph import TracedNet

    net = TracedNet(model, example)
    ok = net.reversible()
    sites: list[Site] = []
    for node in net.nodes:
        rule = net.rules.get(node)
        if rule is None or rule.family != "operator" or node.op != "call_module":
            continue
        act = _activation_above(net, node)
        if act is None:
            continue
        below = node.args[0] if node.args[0] is not net.input else None
        in_shape = net.shapes[node.args[0]]
        direct = act in node.users
        kind = type(rule.site.module).__name__ + ("" if direct else "+block")
        sites.append(Site(net.names[act], str(node.target), kind, _previous_activation(net, node),
                          None if below is None else net.names[below], tuple(in_shape),
                          tuple(net.shapes[act]), direct, bool(ok.get(act, False))))
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


def _only_user(net, node):
    """The one op that takes ``node`` as data input (None: several or none)."""
    users = [u for u in node.users if u in net.rules and node in net.data_inputs(u)]
    return users[0] if len(users) == 1 and len(node.users) == 1 else None


def _activation_above(net, node):
    """The activation reached from a weighted ``node`` through block ops only, else None."""
    cur = _only_user(net, node)
    while cur is not None:
        family = net.rules[cur].family
        if family == "activation":
            return cur
        if family not in _BLOCK_FAMILIES:
            return None
        cur = _only_user(net, cur)
    return None


def _previous_activation(net, node) -> str | None:
    """The activation output below weighted ``node`` through pass-through ops (None: the
    network input); when something else comes first, the activation point right below."""
    cur = node.args[0]
    while cur is not net.input:
        rule = net.rules.get(cur)
        if rule is not None and rule.family == "activation":
            return net.names[cur]
        if rule is None or rule.family not in _PASS_FAMILIES or len(rule.data_args()) != 1:
            return net.names[node.args[0]]
        cur = rule.data_args()[0]
    return None


def theory_lift(module: nn.Module, z: torch.Tensor, c: float, *,
                op: LayerOperator | None = None) -> torch.Tensor:
    """``ReLU(A z + b)`` with the theory bias ``b_i = −c·(‖A_i‖/√n)·‖z‖·√(ln m)``.

    Parameters
    ----------
    module : a weighted layer (nn.Linear or nn.Conv*)
    z : torch.Tensor of shape (batch, *input_shape)
    c : float
    op : LayerOperator, optional
        The module's operator on ``input_shape`` (built when not given; pass it to reuse its
        cached row norms).

    Returns
    -------
    torch.Tensor of shape (batch, *output_shape)
    """
    if op is None:
        op = LayerOperator(module, tuple(z.shape[1:]))
    pre = op.matvec(z)
    rows = op.row_norms().to(pre.dtype).reshape(1, *op.output_shape)
    z_norm = z.reshape(z.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (pre.ndim - 1)))
    scale = math.sqrt(math.log(max(op.n_out, 2))) / math.sqrt(op.n_in)
    return torch.relu(pre - c * scale * rows * z_norm)


def _shadow(net: nn.Module, traced, x: torch.Tensor, site: Site, to: str | None,
            cfg: AuditConfig):
    from shadownets.reverse.shadow import shadow_of

    shadow = shadow_of(net, traced, site.name, to=to, rho=cfg.rho, alpha=cfg.alpha,
                       unpool=cfg.unpool)
    if cfg.alpha == "calibrated":
        shadow.calibrate(x[: cfg.calibrate_inputs])
    return shadow


def measure_site(net: nn.Module, x: torch.Tensor, site: Site, cfg: AuditConfig, *,
                 seed: int, keep_examples: bool = False, traced=None) -> SiteMeasurement:
    """Reversibility of ``net`` at ``site`` on inputs ``x`` (batch, *input_shape).

    ``net`` must be in eval mode. Dropout masks of the shadow net come from ``seed``. With
    ``cfg.fit_scale`` each setting first fits one factor ``s`` on the first inputs
    (``x[:min(cfg.calibrate_inputs, cfg.fit_inputs)]``) and lifts ``s · z``: the α of a real
    layer is not known (see :mod:`shadownets.reverse`), and a wrong global scale would swamp
    the error. Trained and null nets get the same treatment. The setting ``input`` is not
    fitted when α is calibrated: calibration already matches the generated input's RMS to
    the real one (and fitting it would cost ~15 forward passes to the layer per net).
    ``traced``: the net's :class:`~shadownets.reverse.graph.TracedNet` when the caller
    measures several sites of one net (traced here otherwise).
    """
    from shadownets.reverse.graph import TracedNet
    from shadownets.reverse.shadow import shadow_of

    if traced is None:
        traced = TracedNet(net, x[:1])
    module = net.get_submodule(site.module)
    settings = ["one", "one_theory"] + (["input"] if cfg.to_input else [])
    per: dict[str, dict[str, list[np.ndarray]]] = {s: {m: [] for m in METRICS} for s in settings}
    active: list[np.ndarray] = []
    generated = None
    with torch.no_grad():
        one = _shadow(net, traced, x, site, site.feeds, cfg)
        pre = None  # forward from `feeds` to the module's input (pools, reshapes) when apart
        if site.direct and site.module_input != site.feeds:
            pre = shadow_of(net, traced, site.module_input, to=site.feeds)
        down = None
        if cfg.to_input and site.to_input:  # the same shadow when the layer sits on the input
            down = one if site.feeds is None else _shadow(net, traced, x, site, None, cfg)
        lifts = {"one": lambda z: one.lift(z, bias="trained")}
        if site.direct:
            op = LayerOperator(module, site.input_shape)
            lifts["one_theory"] = lambda z: theory_lift(
                module, pre.lift(z, bias="trained") if pre is not None else z, cfg.theory_c,
                op=op)
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
            h_cal, gens = generate(x[: min(cfg.calibrate_inputs, cfg.fit_inputs)],
                                   torch.Generator(x.device).manual_seed(int(seed) + 1))
            scales |= {s: _fit_scale(f, gens[s], h_cal) for s, f in lifts.items()
                       if s != "input" or cfg.alpha != "calibrated"}
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
