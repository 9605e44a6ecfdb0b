"""Reverse rules: the registry from a layer / op type to its rule (the ONLY place that knows
layer types).

A :class:`Rule` is bound to one traced node. It can run the node forward (optionally without
its bias, optionally recording max-pool switches) and it can transpose the node's linear part:
map a generated activation ``g`` at the node's output, shape (batch, *out_shape), to one
contribution per data input, shape (batch, *in_shape).

Roles
-----
``"weighted"``  Linear, Conv1d/2d/3d: the generated linear ops; each gets an α and a dropout
                mask. Their ``transpose(g, ctx, scale)`` returns (scale · A)ᵀ g.
``"linear"``    BatchNorm (linear part of the eval-mode affine map), pools, reshapes, adds,
                concatenations, scaling by a constant, identity / dropout: exact transposes.
``"relu"``      ReLU (module, functional, method, in-place or not) and ReLU-like rectifiers
                (LeakyReLU, GELU, SiLU, ELU, CELU, Softplus, Mish, Hardswish): the shadow net
                applies a ReLU to the generated activation at this point. The rectifier-like
                activations are treated as ReLU on purpose — they are ≈ x for x > 0 and ≈ 0
                below, and the generative model only needs the rectification.
``"maxpool"``   MaxPool1d/2d/3d: unpooled by switches / spread / random / nearest.

Each rule also states its ``family`` (:class:`Rule`): operator, activation, normalisation,
pooling, reshape, identity, scale, combine or other. Code that walks a net by layer type (the
audit: which layers it audits, what may sit between a layer and its activation, which modules
a null net redraws) asks :func:`module_family` / a bound rule's ``family`` instead of keeping
its own list of kinds, and :func:`module_rule` gives the weighted rule of a lone module (its
linear map ``apply`` and adjoint ``apply_t``), so adding a layer type touches this file only.

Activations and their rule (forward: the activation itself; shadow: ReLU on the generated
activation):

==============================  ==========================================================
ReLU, F.relu, .relu(), relu_    exact: the theory's rectifier
ReLU6, F.relu6                  ReLU clipped at 6: a ReLU wherever the net is not saturated
LeakyReLU, PReLU, RReLU (eval)  ReLU plus a small negative slope: treated as ReLU
GELU, SiLU, Mish, Softplus      smooth rectifiers, ≈ x above 0 and ≈ 0 well below: as ReLU
ELU, CELU, SELU, Hardswish      rectifiers with a bounded negative part: as ReLU
==============================  ==========================================================

Anything else (LSTM, Tanh, Sigmoid, Softmax, Hardtanh, matmul, functional F.linear / F.conv
with explicit weights, ...) has no rule; :func:`rule_for` raises :class:`NotReversibleError`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from shadownets.reverse import adjoint
from shadownets.reverse.errors import NotReversibleError
from shadownets.reverse.rule import Rule, Site, UnpoolContext, call_original

__all__ = ["Site", "UnpoolContext", "Rule", "call_original", "register", "rule_for",
           "module_family", "module_rule", "FAMILIES", "UNPOOL_MODES"]

UNPOOL_MODES = ("switches", "spread", "random", "nearest")
#: The values of :attr:`Rule.family`.
FAMILIES = ("operator", "activation", "normalisation", "pooling", "reshape", "identity",
            "scale", "combine", "other")


_MODULES: dict[type, type[Rule]] = {}
_FUNCTIONS: dict[Any, type[Rule]] = {}
_METHODS: dict[str, type[Rule]] = {}


def register(*, modules: tuple = (), functions: tuple = (),
             methods: tuple[str, ...] = ()) -> Callable[[type[Rule]], type[Rule]]:
    """Decorator: register a rule class for module types, function targets and method names."""

    def decorator(cls: type[Rule]) -> type[Rule]:
        for m in modules:
            _MODULES[m] = cls
        for f in functions:
            _FUNCTIONS[f] = cls
        for name in methods:
            _METHODS[name] = cls
        return cls

    return decorator


_FUNCTIONAL_LINEAR = {F.linear, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d,
                      F.conv_transpose2d, F.conv_transpose3d, torch.matmul, torch.mm,
                      torch.bmm, operator.matmul, F.bilinear}


def rule_for(site: Site) -> Rule:
    """The bound rule of a node; raises :class:`NotReversibleError` when there is none."""
    node = site.node
    cls: type[Rule] | None = None
    if node.op == "call_module":
        cls = _module_class(site.module)
        what = f"module {type(site.module).__name__}"
    elif node.op == "call_function":
        cls = _FUNCTIONS.get(node.target)
        fname = getattr(node.target, "__name__", str(node.target))
        what = f"function {fname}"
        if node.target in _FUNCTIONAL_LINEAR:
            raise NotReversibleError(
                f"{what} at node {site.name!r} is not reversible: a linear op with explicit "
                "weight tensors cannot be tied; use the nn.Linear / nn.ConvNd module instead"
            )
    elif node.op == "call_method":
        cls = _METHODS.get(node.target)
        what = f"method .{node.target}()"
    else:
        raise NotReversibleError(f"node {site.name!r} ({node.op}) is not reversible")
    if cls is None:
        raise NotReversibleError(
            f"{what} at {site.name!r} has no reverse rule (supported: Linear, ConvNd, "
            "BatchNorm, ReLU and ReLU-like activations, Max/Avg/AdaptiveAvg pools, "
            "Flatten/view/reshape, add/sub/cat, scaling by a constant, Identity/Dropout)"
        )
    return cls(site)


def _module_class(module: nn.Module) -> type[Rule] | None:
    for klass in type(module).__mro__:
        if klass in _MODULES:
            return _MODULES[klass]
    return None


def module_family(module: nn.Module) -> str | None:
    """The :attr:`Rule.family` of a module's rule (``"operator"``, ``"activation"``,
    ``"normalisation"``, ...), or None when its type has no rule."""
    cls = _module_class(module)
    return None if cls is None else cls.family


def module_rule(module: nn.Module, input_shape: tuple[int, ...]) -> Rule:
    """The rule of ``module`` called alone on inputs of per-sample shape ``input_shape``.

    Raises ValueError when the module's type has no rule or the shape does not fit it.
    """
    cls = _module_class(module)
    if cls is None:
        raise ValueError(f"module {type(module).__name__} has no reverse rule")
    shape = tuple(int(s) for s in input_shape)
    ref = next(iter(module.parameters()), None)
    probe = torch.zeros((1, *shape), dtype=ref.dtype if ref is not None else torch.float32,
                        device=ref.device if ref is not None else None)
    try:
        with torch.no_grad():
            out = module(probe)
    except RuntimeError as exc:
        raise ValueError(f"input_shape {shape} does not fit {type(module).__name__}: "
                         f"{str(exc).splitlines()[0]}") from exc
    graph = fx.Graph()
    x = graph.placeholder("x")
    y = graph.call_module("layer", (x,))
    graph.output(y)
    site = Site(y, module, "layer", {x: shape, y: tuple(out.shape[1:])}, frozenset({x, y}))
    return cls(site)


def _spatial_ones(c: int, ndim: int) -> tuple[int, ...]:
    return (c,) + (1,) * (ndim - 1)


# ---------------------------------------------------------------- weighted: Linear, ConvNd
@register(modules=(nn.Linear,))
class LinearRule(Rule):
    """y = x Wᵀ + b  ->  Aᵀ g = g W."""

    role = "weighted"
    family = "operator"

    @property
    def weight(self) -> Tensor:
        return self.site.module.weight

    def fan_in(self) -> int:
        return int(self.site.module.in_features)

    def apply(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The linear map ``A x`` (no bias), with ``weight`` in place of the layer's if given."""
        return F.linear(x, self.weight if weight is None else weight)

    def apply_t(self, g: Tensor, weight: Tensor | None = None) -> Tensor:
        """The adjoint ``Aᵀ g``, with ``weight`` in place of the layer's if given."""
        return g.matmul(self.weight if weight is None else weight)

    def forward(self, args, kwargs, *, bias, record):
        m = self.site.module
        return F.linear(args[0], m.weight, m.bias if bias else None)

    def transpose(self, g, ctx, scale=1.0):
        w = self.weight if scale == 1.0 else self.weight * scale  # tiny: scale the weight
        return [(self.site.node.args[0], self.apply_t(g, w))]

    def bias_term(self):
        return self.site.module.bias


@register(modules=(nn.Conv1d, nn.Conv2d, nn.Conv3d))
class ConvRule(Rule):
    """Convolution -> transposed convolution with the same kernel (exact output size)."""

    role = "weighted"
    family = "operator"

    @property
    def weight(self) -> Tensor:
        return self.site.module.weight

    def fan_in(self) -> int:
        w = self.site.module.weight
        return int(w.shape[1] * math.prod(w.shape[2:]))

    def apply(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The convolution ``A x`` (no bias), with ``weight`` as kernel if given."""
        return self.site.module._conv_forward(x, self.weight if weight is None else weight,
                                              None)

    def apply_t(self, g: Tensor, weight: Tensor | None = None) -> Tensor:
        """``Aᵀ g``: the transposed convolution with the same kernel (or ``weight``)."""
        m = self.site.module
        w = self.weight if weight is None else weight
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            return adjoint.vjp_transpose(lambda t: m._conv_forward(t, w, None), g,
                                         self.in_shape())
        return adjoint.conv_transpose(g, w, stride=m.stride, padding=m.padding,
                                      dilation=m.dilation, groups=m.groups,
                                      in_size=self.in_shape()[1:])

    def forward(self, args, kwargs, *, bias, record):
        m = self.site.module
        return m._conv_forward(args[0], m.weight, m.bias if bias else None)

    def transpose(self, g, ctx, scale=1.0):
        m = self.site.module
        w = m.weight if scale == 1.0 else m.weight * scale  # tiny: scale the kernel
        return [(self.site.node.args[0], self.apply_t(g, w))]

    def bias_term(self):
        b = self.site.module.bias
        return None if b is None else b.view(_spatial_ones(b.shape[0], len(self.out_shape)))


# ---------------------------------------------------------------- linear, no α
@register(modules=(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
class BatchNormRule(Rule):
    """Eval-mode BatchNorm: y = s ⊙ x + t, s = γ / √(var + ε); Aᵀ g = s ⊙ g."""

    family = "normalisation"

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        if site.module.running_var is None:
            raise NotReversibleError(
                f"module {type(site.module).__name__} at {site.name!r} has no running "
                "statistics (track_running_stats=False), so it is not a fixed linear map"
            )

    def _scale(self) -> Tensor:
        m = self.site.module
        s = torch.rsqrt(m.running_var + m.eps)
        if m.weight is not None:
            s = s * m.weight
        return s.view(_spatial_ones(s.shape[0], len(self.out_shape)))

    def forward(self, args, kwargs, *, bias, record):
        return self.site.module(args[0]) if bias else args[0] * self._scale()

    def transpose(self, g, ctx):
        return [(self.site.node.args[0], g * self._scale())]

    def bias_term(self):
        m = self.site.module
        shift = -m.running_mean.view(_spatial_ones(m.running_mean.shape[0],
                                                   len(self.out_shape))) * self._scale()
        if m.bias is not None:
            shift = shift + m.bias.view(shift.shape)
        return shift


@register(modules=(nn.Flatten, nn.Unflatten),
          functions=(torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze),
          methods=("view", "reshape", "flatten", "squeeze", "unsqueeze"))
class ReshapeRule(Rule):
    """Per-sample reshape: forward and inverse use the recorded shapes."""

    family = "reshape"

    def forward(self, args, kwargs, *, bias, record):
        return args[0].reshape(args[0].shape[0], *self.out_shape)

    def transpose(self, g, ctx):
        return [(self.site.node.args[0], g.reshape(g.shape[0], *self.in_shape()))]


@register(modules=(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                   nn.AlphaDropout),
          functions=(F.dropout, F.dropout1d, F.dropout2d, F.dropout3d),
          methods=("contiguous",))
class IdentityRule(Rule):
    """Identity (dropout is the identity of the eval-mode net)."""

    family = "identity"

    def forward(self, args, kwargs, *, bias, record):
        return args[0]

    def transpose(self, g, ctx):
        return [(self.site.node.args[0], g)]


def _unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` (batch, *out) down to (batch, *shape) — the adjoint of broadcasting."""
    full = (g.shape[0], *shape)
    while g.ndim > len(full):
        g = g.sum(1)
    dims = [i for i in range(1, g.ndim) if full[i] == 1 and g.shape[i] != 1]
    return g.sum(dims, keepdim=True) if dims else g


@register(functions=(operator.add, operator.iadd, torch.add, operator.sub, operator.isub,
                     torch.sub),
          methods=("add", "add_", "sub", "sub_"))
class AddRule(Rule):
    """Sum of data inputs and constants: a sum becomes a copy (sign kept for subtraction)."""

    family = "combine"

    def _signs(self) -> list[tuple[Any, float]]:
        node = self.site.node
        name = getattr(node.target, "__name__", str(node.target))
        minus = "sub" in name
        alpha = float(node.kwargs.get("alpha", 1.0))
        return [(node.args[0], 1.0), (node.args[1], (-1.0 if minus else 1.0) * alpha)]

    def data_args(self):
        return [a for a, _ in self._signs() if isinstance(a, fx.Node) and a in self.site.data]

    def forward(self, args, kwargs, *, bias, record):
        total = None
        for (arg, sign), value in zip(self._signs(), args, strict=False):
            if isinstance(arg, fx.Node) and arg in self.site.data:
                term = value if sign == 1.0 else sign * value
            elif bias:
                term = value if sign == 1.0 else sign * value
            else:
                continue
            total = term if total is None else total + term
        return total

    def transpose(self, g, ctx):
        return [(a, _unbroadcast(sign * g, self.site.shapes[a])) for a, sign in self._signs()
                if isinstance(a, fx.Node) and a in self.site.data]

    def bias_term(self):
        consts = [s * a for a, s in self._signs() if isinstance(a, (int, float))]
        return torch.tensor(sum(consts)) if consts else None


@register(functions=(operator.mul, operator.imul, torch.mul, operator.truediv, torch.div),
          methods=("mul", "mul_", "div", "div_"))
class ScaleRule(Rule):
    """Multiplication or division of one data input by a Python number."""

    family = "scale"

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        a, b = site.node.args[:2]
        name = getattr(site.node.target, "__name__", str(site.node.target))
        if not (isinstance(a, fx.Node) and isinstance(b, (int, float))) and not (
                isinstance(b, fx.Node) and isinstance(a, (int, float)) and "div" not in name):
            raise NotReversibleError(
                f"{name} at {site.name!r} is reversible only as a data tensor times a Python "
                "number"
            )
        self._x = a if isinstance(a, fx.Node) else b
        c = float(b if isinstance(a, fx.Node) else a)
        self._c = 1.0 / c if "div" in name else c

    def data_args(self):
        return [self._x]

    def forward(self, args, kwargs, *, bias, record):
        x = args[0] if isinstance(self.site.node.args[0], fx.Node) else args[1]
        return x * self._c

    def transpose(self, g, ctx):
        return [(self._x, g * self._c)]


@register(functions=(torch.cat, torch.concat))
class CatRule(Rule):
    """Concatenation along a non-batch dim -> split."""

    family = "combine"

    def _dim(self) -> int:
        node = self.site.node
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        ndim = len(self.out_shape) + 1
        dim = dim % ndim
        if dim == 0:
            raise NotReversibleError(f"cat at {self.site.name!r} along the batch dim")
        return dim

    def data_args(self):
        return [a for a in self.site.node.args[0] if a in self.site.data]

    def forward(self, args, kwargs, *, bias, record):
        return torch.cat(args[0], dim=self._dim())

    def transpose(self, g, ctx):
        dim, parts = self._dim(), list(self.site.node.args[0])
        sizes = [self.site.shapes[a][dim - 1] for a in parts]
        pieces = g.split(sizes, dim=dim)
        return [(a, c) for a, c in zip(parts, pieces, strict=True) if a in self.site.data]


@register(modules=(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
                   nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.ZeroPad1d, nn.ZeroPad2d,
                   nn.ZeroPad3d),
          functions=(F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
                     F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, torch.mean, torch.sum,
                     torch.permute, torch.transpose),
          methods=("mean", "sum", "permute", "transpose", "repeat", "expand"))
class LinearCallRule(Rule):
    """Any linear call of one data input: the transpose is its vector-Jacobian product
    (with a fast explicit path for plain average pooling)."""

    family = "pooling"  # the registered modules; functions other than pools are "other"

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        node = site.node
        if node.op != "call_module" and "pool" not in getattr(node.target, "__name__", ""):
            self.family = "other"

    def _call(self, x: Tensor) -> Tensor:
        node = self.site.node
        args = (x, *node.args[1:])
        if any(isinstance(a, fx.Node) for a in args[1:]):
            raise NotReversibleError(f"{self.kind} at {self.site.name!r} has tensor arguments")
        return call_original(self.site, args, dict(node.kwargs))

    def forward(self, args, kwargs, *, bias, record):
        return self._call(args[0])

    def transpose(self, g, ctx):
        m = self.site.module
        x_node = self.site.node.args[0]
        plain = (isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d))
                 and not m.ceil_mode and getattr(m, "divisor_override", None) is None
                 and m.padding in (0, (0,), (0, 0), (0, 0, 0)))
        if plain:
            out = adjoint.pool_spread(g, kernel=m.kernel_size, stride=m.stride, padding=0,
                                      dilation=1, in_size=self.in_shape()[1:])
        else:
            out = adjoint.vjp_transpose(self._call, g, self.in_shape())
        return [(x_node, out)]


# ---------------------------------------------------------------- ReLU and rectifiers
@register(modules=(nn.ReLU,), functions=(F.relu, torch.relu, torch.relu_, F.relu_),
          methods=("relu", "relu_"))
class ReluRule(Rule):
    """ReLU: mirrored — the shadow net applies ReLU to the generated activation here."""

    role = "relu"
    family = "activation"

    @property
    def kind(self) -> str:
        return "ReLU" if self.site.node.op != "call_method" else "relu"

    def forward(self, args, kwargs, *, bias, record):
        return torch.relu(args[0])  # out of place: recorded activations stay intact

    def transpose(self, g, ctx):
        return [(self.site.node.args[0], g)]


@register(modules=(nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.GELU, nn.SiLU, nn.ELU,
                   nn.CELU, nn.SELU, nn.Softplus, nn.Mish, nn.Hardswish),
          functions=(F.relu6, F.leaky_relu, F.gelu, F.silu, F.elu, F.celu, F.selu, F.softplus,
                     F.mish, F.hardswish))
class ReluLikeRule(ReluRule):
    """Rectifier-like activation: runs as itself forward, mirrored as a ReLU in the shadow."""

    @property
    def kind(self) -> str:
        return Rule.kind.fget(self)

    def forward(self, args, kwargs, *, bias, record):
        kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
        if self.site.node.op == "call_module":
            return self.site.module(args[0])
        return self.site.node.target(*args, **kwargs)


# ---------------------------------------------------------------- max pooling
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_POOL_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")


@register(modules=(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
          functions=(F.max_pool1d, F.max_pool2d, F.max_pool3d))
class MaxPoolRule(Rule):
    """Max pooling: no transpose; unpooled by the mode in :class:`UnpoolContext`."""

    role = "maxpool"
    family = "pooling"

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        m = site.module
        if m is not None:
            params = {k: getattr(m, k) for k in _POOL_ARGS}
            if m.return_indices:
                raise NotReversibleError(f"{self.kind} at {site.name!r} with return_indices")
        else:
            params = dict(zip(_POOL_ARGS, site.node.args[1:], strict=False))
            params.update({k: v for k, v in site.node.kwargs.items() if k in _POOL_ARGS})
            if site.node.kwargs.get("return_indices") or len(site.node.args) > 6:
                raise NotReversibleError(f"{self.kind} at {site.name!r} with return_indices")
        params.setdefault("padding", 0)
        params.setdefault("dilation", 1)
        params.setdefault("ceil_mode", False)
        if params.get("stride") in (None, (), []):
            params["stride"] = params["kernel_size"]
        self.params = params

    def _pool(self, x: Tensor, indices: bool) -> Any:
        p = self.params
        return _MAX_POOL[x.ndim - 2](x, p["kernel_size"], p["stride"], p["padding"],
                                     p["dilation"], ceil_mode=p["ceil_mode"],
                                     return_indices=indices)

    def forward(self, args, kwargs, *, bias, record):
        if record is None:
            return self._pool(args[0], False)
        out, idx = self._pool(args[0], True)
        record[self.site.name] = idx
        return out

    def transpose(self, g, ctx):
        p, in_size = self.params, self.in_shape()[1:]
        mode = ctx.unpool
        if mode == "switches":
            sw = None if ctx.switches is None else ctx.switches.get(self.site.name)
            if sw is None:
                mode = "nearest"  # pure generation: no switches were recorded
            else:
                if sw.shape != g.shape:
                    raise ValueError(
                        f"switches[{self.site.name!r}]: expected shape {tuple(g.shape)} "
                        f"(same batch as h), got {tuple(sw.shape)}")
                out = adjoint.scatter_unpool(g, sw, in_size)
        if mode == "random":
            shape = (g.shape[0], *self.in_shape())
            sw = adjoint.random_switches(shape, kernel=p["kernel_size"], stride=p["stride"],
                                         padding=p["padding"], dilation=p["dilation"],
                                         ceil_mode=p["ceil_mode"], device=g.device,
                                         generator=ctx.generator)
            out = adjoint.scatter_unpool(g, sw, in_size)
        elif mode in ("spread", "nearest"):
            out = adjoint.pool_spread(g, kernel=p["kernel_size"], stride=p["stride"],
                                      padding=p["padding"], dilation=p["dilation"],
                                      in_size=in_size)
            if mode == "nearest":
                ks = p["kernel_size"]
                area = ks ** len(in_size) if isinstance(ks, int) else math.prod(ks)
                out = out * area
        return [(self.site.node.args[0], out)]
