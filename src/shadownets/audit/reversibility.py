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

__all__ = ["SETTINGS", "Site", "SiteMeasurement", "find_sites", "measure_net", "measure_site"]

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
    den = b.square().sum(1).double()  # sums in the codes' dtype: no float64 copies
    keep = den > 0
    if not bool(keep.any()):
        return float("inf")
    err = (a - b).square_().sum(1).double()[keep] / den[keep]
    err = err[torch.isfinite(err)]
    return float(err.mean()) if err.numel() else float("inf")


def _fit_scale(loss) -> float:
    """The factor ``s`` in [1/16, 16] minimising ``loss(log2 s)`` (the mean relative error
    of the lift of ``s · z``): a grid of powers of 2, then three halving refinements (1/8
    octave)."""
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
    return _theory_relu(op.matvec(z), z, c, op)


def _theory_relu(pre: torch.Tensor, z: torch.Tensor, c: float,
                 op: LayerOperator) -> torch.Tensor:
    """:func:`theory_lift` given ``pre = A z``."""
    rows = op.row_norms().to(pre.dtype).reshape(1, *op.output_shape)
    z_norm = z.reshape(z.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (pre.ndim - 1)))
    scale = math.sqrt(math.log(max(op.n_out, 2))) / math.sqrt(op.n_in)
    return torch.relu(pre - c * scale * rows * z_norm)


class _SiteRun:
    """The shadow nets and lifts of one site of one net, calibrated and scale-fitted once."""

    def __init__(self, net: nn.Module, traced, site: Site, cfg: AuditConfig) -> None:
        from shadownets.reverse.shadow import shadow_of

        self.net, self.traced, self.site, self.cfg = net, traced, site, cfg
        self.module = net.get_submodule(site.module)

        def shadow(to):
            return shadow_of(net, traced, site.name, to=to, rho=cfg.rho, alpha=cfg.alpha,
                             unpool=cfg.unpool)

        self.one = shadow(site.feeds)
        # forward from `feeds` to the module's input (pools, reshapes: no additive constant,
        # positively homogeneous) when the two are apart
        self.pre = (shadow_of(net, traced, site.module_input, to=site.feeds)
                    if site.module_input != site.feeds else None)
        self.down = None
        if cfg.to_input and site.to_input:  # the same shadow when the layer sits on the input
            self.down = self.one if site.feeds is None else shadow(None)
        self.op = LayerOperator(self.module, site.input_shape) if site.direct else None
        self.rule = traced.rules[traced.node(site.module, "layer")]
        self._act = traced.node(site.name, "layer")
        self.lifts = {"one": lambda z: self.one.lift(z, bias="trained")}
        if site.direct:
            self.lifts["one_theory"] = lambda z: theory_lift(self.module, self._pre(z),
                                                             cfg.theory_c, op=self.op)
        if self.down is not None:
            self.lifts["input"] = lambda z: self.down.lift(z, bias="trained")
        self.scales = {s: 1.0 for s in self.lifts}

    def _pre(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.pre is None else self.pre.lift(z, bias="trained")

    def _tail(self, u: torch.Tensor) -> torch.Tensor:
        """The net from the module's linear output ``u`` (bias not yet added) to the site."""
        bias = self.rule.bias_term()
        y = u if bias is None else u + bias.to(u.dtype)
        return self.traced.run(self.rule.site.node, y, self._act, keep=())[self._act]

    def lifted(self, gens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``ĥ`` per setting from the generated inputs, each scaled by its fitted factor.
        ``one`` and ``one_theory`` lift the same ``z``: the module's linear part runs once
        for both (``A·pre(s·z) = s·A·pre(z)``, all of it positively homogeneous)."""
        z = gens["one"]
        zp = self._pre(z)
        u = self.rule.apply(zp)
        out = {"one": self._tail(u * self.scales["one"])}
        if "one_theory" in self.lifts:
            out["one_theory"] = self.scales["one_theory"] * _theory_relu(
                u, zp, self.cfg.theory_c, self.op)
        if "input" in self.lifts:
            out["input"] = self.lifts["input"](self.scales["input"] * gens["input"])
        return out

    def calibrate(self, h: torch.Tensor, stats: dict, switches: dict) -> None:
        """α of the shadow nets from real codes ``h`` and the real activations' ``stats``."""
        if self.cfg.alpha != "calibrated":
            return
        for shadow in {id(s): s for s in (self.one, self.down) if s is not None}.values():
            shadow.calibrate_encoded(h, stats, switches=switches)

    def calibrate_and_generate(self, h: torch.Tensor, stats: dict, switches: dict,
                               rows: int) -> dict[str, torch.Tensor]:
        """:meth:`calibrate` on the first ``rows`` codes and :meth:`generate` from all of
        them in one walk per shadow net (α calibrated, ρ = 1: nothing random to draw)."""
        z = self.one.calibrate_and_generate(h, stats, rows=rows, switches=switches)
        gens = {"one": z, "one_theory": z}
        if self.down is not None:
            gens["input"] = z if self.down is self.one else self.down.calibrate_and_generate(
                h, stats, rows=rows, switches=switches)
        return gens

    def generate(self, h: torch.Tensor, switches: dict, g: torch.Generator
                 ) -> dict[str, torch.Tensor]:
        z = self.one.generate(h, switches=switches, generator=g)
        gens = {"one": z, "one_theory": z}
        if self.down is not None:
            gens["input"] = z if self.down is self.one else self.down.generate(
                h, switches=switches, generator=g)
        return gens

    def fit(self, h: torch.Tensor, gens: dict[str, torch.Tensor]) -> None:
        """One factor per setting on codes ``h`` and the inputs ``gens`` generated from them
        (see :func:`measure_net`). The lift of ``s · z`` is computed from one pass: the
        module's linear part is applied once (everything below it is positively homogeneous),
        and only its bias and what lies above it run for each trial ``s``; the theory lift is
        homogeneous in ``s``."""
        z = gens["one"]
        zp = self._pre(z)
        u = self.rule.apply(zp)  # A · pre(z), no bias
        self.scales["one"] = _fit_scale(
            lambda log2s: _mean_rel_err(self._tail(u * 2.0 ** log2s), h))
        if "one_theory" in self.lifts:
            t = _theory_relu(u, zp, self.cfg.theory_c, self.op)
            self.scales["one_theory"] = _fit_scale(
                lambda log2s: _mean_rel_err(t * 2.0 ** log2s, h))
        if "input" in self.lifts and self.cfg.alpha != "calibrated":
            self.scales["input"] = _fit_scale(
                lambda log2s: _mean_rel_err(self.lifts["input"](gens["input"] * 2.0 ** log2s),
                                            h))


def _rows(switches: dict, n: int) -> dict:
    return {k: v[:n] for k, v in switches.items()}


def measure_net(net: nn.Module, x: torch.Tensor, sites: list[Site], cfg: AuditConfig, *,
                seeds: list[int], keep_examples: bool = False, traced=None
                ) -> list[SiteMeasurement]:
    """Reversibility of ``net`` at every site, on inputs ``x`` (batch, *input_shape).

    ``net`` must be in eval mode. Each batch of inputs is encoded once for all sites (one
    forward pass to the top site, keeping only the sites' codes and the max-pool switches).
    Dropout masks of site ``i``'s shadow nets come from ``seeds[i]``. With ``cfg.alpha ==
    "calibrated"`` the shadow nets are calibrated on the first ``cfg.calibrate_inputs``
    inputs (from the same pass; with ρ = 1 in the same walk that generates the first batch).
    With ``cfg.fit_scale`` each setting then fits one factor ``s`` on the first
    ``min(cfg.calibrate_inputs, cfg.fit_inputs)`` inputs (their generated inputs, the draws
    that are measured) and lifts ``s · z``: the α of a real layer is not known (see
    :mod:`shadownets.reverse`), and a wrong global scale would swamp the error. Trained and
    null nets get the same treatment. The setting ``input`` is not fitted when α is
    calibrated: calibration already matches the generated input's RMS to the real one.
    ``traced``: the net's :class:`~shadownets.reverse.graph.TracedNet` (traced here
    otherwise).

    Returns
    -------
    list of SiteMeasurement, one per site
    """
    from shadownets.reverse.graph import TracedNet
    from shadownets.reverse.shadow import point_stats

    if len(seeds) != len(sites):
        raise ValueError(f"seeds: expected one per site ({len(sites)}), got {len(seeds)}")
    if traced is None:
        traced = TracedNet(net, x[:1])
    nodes = [traced.node(site.name, "layer") for site in sites]
    top = max(nodes, key=traced.nodes.index)
    points = {r.data_args()[0] for r in traced.rules.values() if r.role == "weighted"}
    n_cal = min(cfg.calibrate_inputs, x.shape[0])
    n_fit = min(n_cal, cfg.fit_inputs)
    settings = ["one", "one_theory"] + (["input"] if cfg.to_input else [])
    runs = [_SiteRun(net, traced, site, cfg) for site in sites]
    per = [{s: {m: [] for m in METRICS} for s in settings} for _ in sites]
    active: list[list[np.ndarray]] = [[] for _ in sites]
    generated: list[torch.Tensor | None] = [None for _ in sites]
    gens_of = [torch.Generator(x.device).manual_seed(int(seed)) for seed in seeds]
    with torch.no_grad():
        for start in range(0, x.shape[0], cfg.batch_size):
            xb = x[start:start + cfg.batch_size]
            first = start == 0
            switches: dict = {}
            keep = set(nodes) | (points if first and cfg.alpha == "calibrated" else set())
            env = traced.run(traced.input, xb, top, record=switches, keep=keep)
            codes = [env[node] for node in nodes]
            stats = point_stats(traced, {p: v for p, v in env.items() if p in points},
                                rows=n_cal) if first and cfg.alpha == "calibrated" else {}
            del env
            for i, run in enumerate(runs):
                h = codes[i]
                if first and cfg.alpha == "calibrated" and cfg.rho == 1.0:
                    gens = run.calibrate_and_generate(h, stats, switches, n_cal)
                else:
                    if first:
                        run.calibrate(h[:n_cal], stats, _rows(switches, n_cal))
                    gens = run.generate(h, switches, gens_of[i])
                if first and cfg.fit_scale:  # on the first inputs, before measuring
                    run.fit(h[:n_fit], {k: v[:n_fit] for k, v in gens.items()})
                active[i].append((h.reshape(h.shape[0], -1) > 0).sum(1).cpu().numpy())
                if keep_examples and generated[i] is None and "input" in gens:
                    generated[i] = (run.scales["input"]
                                    * gens["input"][: cfg.n_examples]).detach().cpu()
                lifted = run.lifted(gens)
                for setting in settings:
                    if setting in lifted:
                        vals = per_input_metrics(lifted.pop(setting), h)
                    else:
                        vals = {m: np.full(h.shape[0], np.nan) for m in METRICS}
                    for m in METRICS:
                        per[i][setting][m].append(vals[m])
                del gens
    out = []
    for i, run in enumerate(runs):
        metrics = {s: {m: np.concatenate(per[i][s][m]) for m in METRICS} for s in settings}
        scales = {s: run.scales.get(s, float("nan")) for s in settings}
        out.append(SiteMeasurement(metrics, np.concatenate(active[i]), scales, generated[i]))
    return out


def measure_site(net: nn.Module, x: torch.Tensor, site: Site, cfg: AuditConfig, *,
                 seed: int, keep_examples: bool = False, traced=None) -> SiteMeasurement:
    """:func:`measure_net` at one site (dropout masks from ``seed``)."""
    return measure_net(net, x, [site], cfg, seeds=[seed], keep_examples=keep_examples,
                       traced=traced)[0]
