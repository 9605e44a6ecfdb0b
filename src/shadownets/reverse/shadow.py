"""The shadow net: a trained model's generative reverse with tied (transposed) weights.

Generation walks the traced graph from ``layer`` down to ``to``. At each generated linear op
A (Linear / ConvNd), with ``h`` the generated activation at its output::

    generated = ReLU_if_mirrored(α · Aᵀ(h)) ⊙ z,    z ~ Bernoulli(ρ)  (no 1/ρ rescale)

where the ReLU is applied at every point where the forward net had a ReLU output (once all
contributions to that point are summed: fan-outs become sums, sums become copies). Other
linear ops (BatchNorm, pools, reshapes, adds) are transposed exactly with no α and no mask.
Max pools are unpooled with the encoder's switches, or without them ("nearest" by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, fx, nn

from shadownets.reverse.graph import TracedNet
from shadownets.reverse.ops import UNPOOL_MODES, UnpoolContext

__all__ = ["Encoding", "ShadowNet", "point_stats", "reverse", "shadow_of"]


@dataclass(frozen=True, eq=False)
class Encoding:
    """A real input encoded up to the shadow net's layer.

    Attributes
    ----------
    h : Tensor of shape (batch, *code_shape)
        Activations at ``layer``.
    switches : dict str -> LongTensor or None
        Max-pool switches recorded on the way up (keyed by pool name), ``None`` without pools.
    """

    h: Tensor
    switches: dict | None


def _per_op(value: float | Sequence[float], n: int, arg: str) -> list[float]:
    values = [value] * n if isinstance(value, (int, float)) else list(value)
    if len(values) != n:
        raise ValueError(f"{arg}: expected one value per generated linear op ({n}), "
                         f"got {len(values)}")
    return [float(v) for v in values]


def _broadcasts(shape: tuple[int, ...], want: tuple[int, ...]) -> bool:
    try:
        return torch.broadcast_shapes(shape, want) == want
    except RuntimeError:
        return False


def _bernoulli(like: Tensor, rho: float, generator: torch.Generator | None) -> Tensor:
    """0/1 mask with the shape, dtype and device of ``like``; each entry 1 with prob. ``rho``.

    ``rand < ρ`` (computed in place) is several times faster than ``bernoulli_`` on CPU.
    """
    u = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return u.lt_(rho)


def _rms(t: Tensor) -> float:
    """RMS of ``t``, accumulated in its own dtype (float32: ~1e-7 relative, and no float64
    copy of a big activation), as a Python float."""
    return math.sqrt(float(t.detach().square().mean()))


def point_stats(net: TracedNet, env: dict, rows: int | None = None
                ) -> dict[str, tuple[float, bool]]:
    """``(rms, nonnegative)`` of each tensor value of a forward pass, keyed by point name.

    Parameters
    ----------
    net : TracedNet
    env : dict fx.Node -> value
        What :meth:`TracedNet.run` returned (values of shape (batch, ...)).
    rows : int, optional
        Use only the first ``rows`` inputs of each value.

    Returns
    -------
    dict str -> (float, bool)
        What :meth:`ShadowNet.calibrate_encoded` reads.
    """
    out: dict[str, tuple[float, bool]] = {}
    for node, value in env.items():
        if isinstance(value, Tensor) and node in net.names and value.ndim >= 1:
            v = value if rows is None else value[:rows]
            out[net.names[node]] = (_rms(v), bool((v >= 0).all()))
    return out


class ShadowNet(nn.Module):
    """Generative reverse of a traced model between two activation points.

    Build it with :func:`reverse`. The model is held as the submodule ``model``: parameters
    are shared, so optimizer steps on the model change the shadow too.

    Attributes
    ----------
    layer, to : str, str or None
    input_shape : tuple of int
        Per-sample shape of the activation at ``to`` (the model input when ``to`` is None).
    code_shape : tuple of int
        Per-sample shape of the activation at ``layer``.
    rhos : list of float
        Keep probability per generated linear op, top-down.

    Notes
    -----
    The attribute ``to`` (the API's name) hides ``nn.Module.to``: move the *model* instead
    (``model.to(device)``); the shadow net shares its modules and follows.
    """

    def __init__(self, model: nn.Module, net: TracedNet, layer: fx.Node, to: fx.Node,
                 nodes: list[fx.Node], *, rho: float | Sequence[float],
                 alpha: str | float | Sequence[float], unpool: str,
                 forward_bias: bool) -> None:
        super().__init__()
        self.model = model
        self._net, self._layer, self._to = net, layer, to
        self._nodes = nodes
        self._steps = nodes[::-1]  # top-down
        self._ops = [n for n in self._steps if n is not to and net.rules[n].role == "weighted"]
        self.layer = net.names[layer]
        self.to = None if to is net.input else net.names[to]
        self.input_shape = net.shapes[to]
        self.code_shape = net.shapes[layer]
        self.unpool = unpool
        self.forward_bias = forward_bias
        self.rhos = _per_op(rho, len(self._ops), "rho")
        if any(not 0.0 < r <= 1.0 for r in self.rhos):
            raise ValueError(f"rho: each keep probability must lie in (0, 1], got {self.rhos}")
        self._has_pools = any(net.rules[n].role == "maxpool" for n in nodes if n is not to)
        self._alpha_cache: dict[int, tuple[tuple, float]] = {}
        if isinstance(alpha, str):
            if alpha not in ("theory", "calibrated"):
                raise ValueError(f"alpha: expected 'theory', 'calibrated' or a number, "
                                 f"got {alpha!r}")
            self.alpha_mode, self._alpha_values = alpha, None
        else:
            values = _per_op(alpha, len(self._ops), "alpha")
            if any(not (math.isfinite(a) and a > 0) for a in values):
                raise ValueError(f"alpha: each value must be finite and > 0, got {values}")
            self.alpha_mode, self._alpha_values = "fixed", values

    # ------------------------------------------------------------------ α
    def _theory_alpha(self, i: int) -> float:
        rule = self._net.rules[self._ops[i]]
        w = rule.weight
        key = (w.data_ptr(), w._version, w.dtype, w.device)
        cached = self._alpha_cache.get(i)
        if cached is None or cached[0] != key:
            sigma2 = float(w.detach().double().pow(2).mean())
            value = 2.0 / (self.rhos[i] * rule.fan_in() * sigma2) if sigma2 > 0 else 1.0
            self._alpha_cache[i] = (key, value)
            return value
        return cached[1]

    @property
    def alphas(self) -> list[float]:
        """α per generated linear op, top-down ("theory" values follow the current weights)."""
        if self.alpha_mode == "theory":
            return [self._theory_alpha(i) for i in range(len(self._ops))]
        if self._alpha_values is None:
            raise RuntimeError("alpha='calibrated': call calibrate(x) with real inputs "
                               "before generating")
        return list(self._alpha_values)

    # ------------------------------------------------------------------ generation
    def _check_batch(self, t: Tensor, shape: tuple[int, ...], arg: str) -> None:
        if not isinstance(t, Tensor) or tuple(t.shape[1:]) != tuple(shape) or t.ndim < 1:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{arg}: expected a tensor of shape (batch, "
                             f"{', '.join(map(str, shape))}), got {got}")

    def _walk(self, h: Tensor, ctx: UnpoolContext, alphas: Sequence[float],
              masks: Sequence[Tensor | None] | None, generator: torch.Generator | None,
              stop: fx.Node | None = None, record: dict | None = None) -> Tensor:
        net = self._net
        acc: dict[fx.Node, Tensor] = {self._layer: h}
        # in-place ops only on tensors the walk created, and only when autograd is off and
        # no intermediate value is being recorded
        in_place = not torch.is_grad_enabled() and record is None
        h_storage = h.untyped_storage().data_ptr()
        k = 0
        for node in self._steps:
            g = acc.pop(node)
            rule = net.rules.get(node)
            if node is not self._layer and rule is not None and rule.role == "relu":
                own = in_place and g.untyped_storage().data_ptr() != h_storage
                g = g.relu_() if own else torch.relu(g)
            if record is not None:
                record[node] = g
            if node is self._to or node is stop:
                return g
            if self.forward_bias and rule.bias_term() is not None:
                g = g + rule.bias_term().to(g.dtype)
            weighted = rule.role == "weighted"
            pairs = rule.transpose(g, ctx, alphas[k]) if weighted else rule.transpose(g, ctx)
            for arg, c in pairs:
                if weighted:
                    if masks is None and self.rhos[k] < 1.0:
                        z = _bernoulli(c, self.rhos[k], generator)
                        # c is fresh from the transpose: mask in place unless autograd records
                        c = c.mul_(z) if in_place else c * z
                    elif masks is not None and masks[k] is not None:
                        c = c * masks[k]
                    k += 1
                acc[arg] = acc[arg] + c if arg in acc else c
        raise AssertionError("the walk never reached `to`")  # pragma: no cover

    def generate(self, h: Tensor, *, switches: dict | None = None,
                 generator: torch.Generator | None = None,
                 masks: Sequence[Tensor] | None = None) -> Tensor:
        """Generate activations at ``to`` from codes at ``layer``.

        Parameters
        ----------
        h : Tensor of shape (batch, *code_shape)
        switches : dict, optional
            Max-pool switches from :meth:`encode` (same batch); used when ``unpool`` is
            "switches". Without them max pools are unpooled with "nearest" (deterministic,
            and the max pool of the result gives back the code for non-overlapping pools).
        generator : torch.Generator, optional
            Source of the dropout masks and of random unpooling.
        masks : sequence of Tensor, optional
            z per generated linear op (top-down), each broadcastable to (batch, *shape of
            that op's input); ``None`` entries mean no mask. Overrides sampling.

        Returns
        -------
        Tensor of shape (batch, *input_shape)
        """
        self._check_batch(h, self.code_shape, "h")
        if masks is not None:
            masks = list(masks)
            if len(masks) != len(self._ops):
                raise ValueError(f"masks: expected {len(self._ops)} tensors (one per generated "
                                 f"linear op, top-down), got {len(masks)}")
            for i, (z, node) in enumerate(zip(masks, self._ops, strict=True)):
                want = (h.shape[0], *self._net.shapes[self._net.rules[node].data_args()[0]])
                if z is not None and not _broadcasts(tuple(z.shape), want):
                    raise ValueError(f"masks[{i}]: shape {tuple(z.shape)} does not broadcast "
                                     f"to {want}")
        if switches is not None and not isinstance(switches, dict):
            raise ValueError(f"switches: expected a dict from encode(), got "
                             f"{type(switches).__name__}")
        ctx = UnpoolContext(self.unpool, switches if self.unpool == "switches" else None,
                            generator)
        return self._walk(h, ctx, self.alphas, masks, generator)

    def forward(self, h: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Same as ``generate(h, generator=generator)``."""
        return self.generate(h, generator=generator)

    # ------------------------------------------------------------------ encoding
    def _forward_all(self, x: Tensor, record: dict | None) -> dict:
        self._check_batch(x, self._net.shapes[self._net.input], "x")
        return self._net.run(self._net.input, x, self._layer, record=record, keep=())

    def encode(self, x: Tensor) -> Encoding:
        """Run the model on ``x`` (batch, *model_input_shape) up to ``layer``.

        The model runs in its current mode: call ``model.eval()`` first for BatchNorm /
        Dropout to behave as the shadow net assumes.
        """
        record: dict[str, Tensor] = {}
        env = self._forward_all(x, record)
        return Encoding(env[self._layer], record if self._has_pools else None)

    def reconstruct(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """``generate(encode(x).h, switches=encode(x).switches)``: (batch, *input_shape)."""
        enc = self.encode(x)
        return self.generate(enc.h, switches=enc.switches, generator=generator)

    def lift(self, z: Tensor, *, bias: str = "trained") -> Tensor:
        """Forward pass of the model from the activation at ``to`` up to ``layer``.

        Parameters
        ----------
        z : Tensor of shape (batch, *input_shape)
        bias : {"trained", "none"}
            Keep the model's additive constants (biases, BatchNorm shifts) or drop them.

        Returns
        -------
        Tensor of shape (batch, *code_shape)
        """
        if bias not in ("trained", "none"):
            raise ValueError(f"bias: expected 'trained' or 'none', got {bias!r}")
        self._check_batch(z, self.input_shape, "z")
        env = self._net.run(self._to, z, self._layer, bias=bias == "trained", only=self._nodes,
                            keep=())
        return env[self._layer]

    def calibrate(self, x: Tensor, *, generator: torch.Generator | None = None) -> ShadowNet:
        """Set α per op so that generated activations match real RMS norms, in one walk.

        Encodes ``x`` (batch, *model_input_shape), then walks down from the real code with
        the real switches; at each generated linear op (ops above already calibrated) its
        contribution with α = 1 is compared with the real activation at the op's input point,
        and α is set so that their RMS norms agree (the contribution ReLU-ed first where the
        real activations are all >= 0 or the point is a ReLU output). In a chain the op's
        contribution *is* the generated activation there, so this is the same α as
        re-generating down to each op in turn; at a join (a skip connection: several
        contributions to one point) each op's own contribution is matched. Dropout masks come
        from ``generator`` (default: a generator seeded with 0).

        Returns
        -------
        self
        """
        with torch.no_grad():
            record: dict[str, Tensor] = {}
            points = [self._net.rules[n].data_args()[0] for n in self._ops]
            env = self._net.run(self._net.input, self._checked(x), self._layer, record=record,
                                keep=points)
            stats = point_stats(self._net, env)
            return self.calibrate_encoded(env[self._layer], stats, switches=record,
                                          generator=generator)

    def calibrate_encoded(self, h: Tensor, stats: dict[str, tuple[float, bool]], *,
                          switches: dict | None = None,
                          generator: torch.Generator | None = None) -> ShadowNet:
        """:meth:`calibrate` from an encoding made elsewhere (the audit encodes a batch once
        for all its layers).

        Parameters
        ----------
        h : Tensor of shape (batch, *code_shape)
            Real codes at ``layer``.
        stats : dict
            ``stats[point] = (rms, nonnegative)`` of the real activations at every generated
            op's input point (names as in :func:`list_layers`), from the same inputs: see
            :func:`point_stats`.
        switches : dict, optional
            The encoding's max-pool switches (same batch).
        generator : torch.Generator, optional
            Source of the dropout masks (default: a generator seeded with 0).

        Returns
        -------
        self
        """
        self._check_batch(h, self.code_shape, "h")
        net = self._net
        missing = [net.names[p] for p in (net.rules[n].data_args()[0] for n in self._ops)
                   if net.names[p] not in stats]
        if missing:
            raise ValueError(f"stats: no entry for the activation point(s) {missing}")
        with torch.no_grad():
            if generator is None:
                generator = torch.Generator(device=h.device).manual_seed(0)
            ctx = UnpoolContext(self.unpool, switches if self.unpool == "switches" else None,
                                generator)
            masks: list[Tensor | None] = []
            for node, rho in zip(self._ops, self.rhos, strict=True):
                shape = (h.shape[0], *net.shapes[net.rules[node].data_args()[0]])
                masks.append(None if rho >= 1.0 else
                             _bernoulli(h.new_empty(shape), rho, generator))
            values, _ = self._calibrate_in_one_walk(h, stats, ctx, masks)
        self.alpha_mode, self._alpha_values = "calibrated", values
        return self

    def calibrate_and_generate(self, h: Tensor, stats: dict[str, tuple[float, bool]], *,
                               rows: int, switches: dict | None = None) -> Tensor:
        """:meth:`calibrate_encoded` on the first ``rows`` codes of ``h``, and generation from
        all of them, in one walk (ρ = 1 at every op: no dropout masks to draw).

        The same α as ``calibrate_encoded(h[:rows], ...)`` and the same generated activations
        as ``generate(h, switches=switches)`` afterwards (up to float rounding), for the cost
        of one generation.

        Returns
        -------
        Tensor of shape (batch, *input_shape)
        """
        self._check_batch(h, self.code_shape, "h")
        if any(r < 1.0 for r in self.rhos):
            raise ValueError(f"calibrate_and_generate needs rho = 1 at every op, got "
                             f"{self.rhos}; use calibrate_encoded() then generate()")
        if not 1 <= int(rows) <= h.shape[0]:
            raise ValueError(f"rows must be in [1, {h.shape[0]}], got {rows}")
        with torch.no_grad():
            ctx = UnpoolContext(self.unpool, switches if self.unpool == "switches" else None,
                                None)
            values, out = self._calibrate_in_one_walk(h, stats, ctx, [None] * len(self._ops),
                                                      rows=int(rows))
        self.alpha_mode, self._alpha_values = "calibrated", values
        return out

    def _checked(self, x: Tensor) -> Tensor:
        self._check_batch(x, self._net.shapes[self._net.input], "x")
        return x

    def _calibrate_in_one_walk(self, h: Tensor, stats: dict[str, tuple[float, bool]],
                               ctx: UnpoolContext, masks: list[Tensor | None],
                               rows: int | None = None) -> tuple[list[float], Tensor]:
        """The walk of :meth:`calibrate_encoded`: at each generated op, its contribution with
        α = 1 (up to a ReLU at its input point, which is positively homogeneous) on the first
        ``rows`` codes (all: None) gives α, applied at once. Returns the α and the generated
        activations at ``to``."""
        net = self._net
        acc: dict[fx.Node, Tensor] = {self._layer: h}
        values: list[float] = []
        k = 0
        for node in self._steps:
            g = acc.pop(node)
            rule = net.rules.get(node)
            if node is not self._layer and rule is not None and rule.role == "relu":
                g = torch.relu(g)
            if node is self._to:
                return values, g
            if self.forward_bias and rule.bias_term() is not None:
                g = g + rule.bias_term().to(g.dtype)
            weighted = rule.role == "weighted"
            pairs = rule.transpose(g, ctx, 1.0) if weighted else rule.transpose(g, ctx)
            for arg, c in pairs:
                if weighted:
                    if masks[k] is not None:
                        c = c * masks[k]
                    real_rms, nonneg = stats[net.names[arg]]
                    point_rule = net.rules.get(arg)
                    relu = nonneg or (point_rule is not None and point_rule.role == "relu")
                    part = c if rows is None else c[:rows]
                    g_rms = _rms(torch.relu(part) if relu else part)
                    value = real_rms / g_rms if g_rms > 0 else self._theory_alpha(k)
                    values.append(value)
                    c = c * value
                    k += 1
                acc[arg] = acc[arg] + c if arg in acc else c
        raise AssertionError("the walk never reached `to`")  # pragma: no cover

    def extra_repr(self) -> str:
        return (f"layer={self.layer!r}, to={self.to!r}, code_shape={self.code_shape}, "
                f"input_shape={self.input_shape}, ops={len(self._ops)}, "
                f"alpha={self.alpha_mode!r}, unpool={self.unpool!r}")


def reverse(model: nn.Module, example_input: Tensor, layer: str, *, to: str | None = None,
            rho: float | Sequence[float] = 1.0,
            alpha: str | float | Sequence[float] = "theory", unpool: str = "switches",
            forward_bias: bool = False) -> ShadowNet:
    """Build the shadow (generative) net of ``model`` from ``layer`` down to ``to``.

    Parameters
    ----------
    model : nn.Module
        Feed-forward net traceable by torch.fx, one tensor input.
    example_input : Tensor of shape (batch, *input_shape)
        Used once to trace shapes (eval mode, no grad).
    layer : str
        Activation point the codes live at (see :func:`list_layers`).
    to : str, optional
        Activation point to generate (default: the model input). Every path from the model
        input to ``layer`` must pass through it.
    rho : float or sequence of float, default 1.0
        Dropout keep probability per generated linear op (top-down), in (0, 1].
    alpha : "theory", "calibrated", float or sequence of float, default "theory"
        "theory": 2 / (ρ · fan_in · σ²) with σ² the mean squared weight; "calibrated": set by
        :meth:`ShadowNet.calibrate` (required before generating).
    unpool : {"switches", "spread", "random", "nearest"}, default "switches"
        How max pools are undone ("switches" falls back to "nearest" without switches).
    forward_bias : bool, default False
        Add each op's forward additive constant (bias, BatchNorm shift) to the generated
        activation at the op's output, before transposing it.

    Returns
    -------
    ShadowNet

    Raises
    ------
    NotReversibleError
        An op between ``to`` and ``layer`` has no reverse rule, or the model cannot be traced.
    """
    if unpool not in UNPOOL_MODES:
        raise ValueError(f"unpool: expected one of {', '.join(UNPOOL_MODES)}, got {unpool!r}")
    if not isinstance(forward_bias, bool):
        raise ValueError(f"forward_bias: expected a bool, got {forward_bias!r}")
    if not isinstance(rho, (int, float)) and not isinstance(rho, Sequence):
        raise ValueError(f"rho: expected a float or a sequence of floats, got {rho!r}")
    if not isinstance(alpha, (str, int, float, Sequence)):
        raise ValueError(f"alpha: expected 'theory', 'calibrated' or number(s), got {alpha!r}")
    return shadow_of(model, TracedNet(model, example_input), layer, to=to, rho=rho,
                     alpha=alpha, unpool=unpool, forward_bias=forward_bias)


def shadow_of(model: nn.Module, net: TracedNet, layer: str, *, to: str | None = None,
              rho: float | Sequence[float] = 1.0,
              alpha: str | float | Sequence[float] = "theory", unpool: str = "switches",
              forward_bias: bool = False) -> ShadowNet:
    """:func:`reverse` on a model already traced (``net = TracedNet(model, example)``).

    For callers that build many shadow nets of one model (the audit: several per layer):
    the trace, its shapes and rules are shared instead of re-traced for each. Arguments are
    checked as in :func:`reverse`.
    """
    if unpool not in UNPOOL_MODES:
        raise ValueError(f"unpool: expected one of {', '.join(UNPOOL_MODES)}, got {unpool!r}")
    layer_node = net.node(layer, "layer")
    to_node = net.input if to is None else net.node(to, "to")
    nodes = net.subgraph(layer_node, to_node)
    return ShadowNet(model, net, layer_node, to_node, nodes, rho=rho, alpha=alpha,
                     unpool=unpool, forward_bias=forward_bias)
