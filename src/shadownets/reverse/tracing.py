"""Tracing a model into a torch.fx graph: symbolically, or on the example input's shapes.

:func:`trace` first traces symbolically (torch.fx's own tracer: no input needed, a graph valid
for any input shape). When that fails and an example input is given — typically because
``forward`` checks or branches on the input's shape (``if x.shape[-2:] != (28, 28): raise``,
``assert x.dim() == 4``, ``if x.shape[1] == 1: x = x.repeat(1, 3, 1, 1)``) — it traces again
with *concrete shapes*: each traced value carries a fake tensor of the example's shape, dtype
and device but no data (``torch._subclasses.FakeTensorMode``), so Python questions about
shapes get real answers while ops are recorded as usual, as the same ``call_module`` /
``call_function`` / ``call_method`` nodes. Either way a module whose type has a reverse rule
(:mod:`shadownets.reverse.ops`, including types registered later) stays one ``call_module``
node; the first, symbolic attempt is cheaper and gives the same graphs as before.

Specialisation
    The concrete-shape graph is specialised to the example's per-sample shape: every branch
    on a shape goes the way the example's goes, so the trace (and a shadow net built on it)
    holds for inputs of that per-sample shape only. ``x.device`` and ``x.dtype`` are recorded
    like any attribute (a tensor built with them follows the model to another device or
    dtype); compared in Python they take the example's values. The model runs in eval mode
    during that trace (modes restored after).
Batch size
    Stays free. Shape queries (``x.size(0)``, ``x.shape[0]``, ``x.dim()``, and ``len(x)``
    written in a module's ``forward``) stay nodes of the graph, evaluated on every run, and
    the trace is made for two batch sizes (the example's and one more); when the two graphs
    differ, the model uses the batch size as a plain number (``int(x.size(0))``, ``range``,
    a branch on ``x.shape[0]``) and is refused.
Values
    Whatever needs tensor *values* in Python — ``if x.sum() > 0``, ``if (x > 0).any()``,
    ``x.item()``, ``x.tolist()``, ``torch.nonzero(x)``, boolean-mask indexing — is refused
    with a :class:`NotReversibleError` naming the line and data-dependent control flow.
"""

from __future__ import annotations

import builtins
import contextlib
import linecache
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch._subclasses.fake_tensor import (  # the fake tensors torch.export traces with
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensorMode,
)

from shadownets.reverse.errors import NotReversibleError
from shadownets.reverse.ops import module_family

__all__ = ["TrainingState", "trace"]

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONSTANT = re.compile(r"_tensor_constant\d+")


class TrainingState:
    """Context manager: every module in eval mode inside, each one's mode restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.modes = [(m, m.training) for m in model.modules()]

    def __enter__(self) -> None:
        for m, _ in self.modes:
            m.training = False

    def __exit__(self, *exc: object) -> None:
        for m, mode in self.modes:
            m.training = mode


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]


class _Tracer(fx.Tracer):
    """fx tracer that refuses custom autograd Functions instead of tracing through them, and
    keeps every module whose type has a reverse rule as one ``call_module`` node."""

    computing = False  # True while a concrete tracer runs an op on example values

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (super().is_leaf_module(m, module_qualified_name)
                or module_family(m) is not None)

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        saved = torch.autograd.Function.__dict__["apply"]
        tracer = self

        def refuse(cls: type, *args: Any, **kwargs: Any) -> Any:
            if tracer.computing:  # inside a leaf module run on fake tensors, not user code
                return saved.__get__(None, cls)(*args, **kwargs)
            stack = list(getattr(tracer, "module_stack", {}) or {})
            where = stack[-1] if stack and stack[-1] else "the model's forward()"
            raise NotReversibleError(
                f"custom autograd Function {cls.__name__} called in {where!s} is not "
                "reversible (its backward is not a transpose the shadow net can tie)"
            )

        torch.autograd.Function.apply = classmethod(refuse)
        try:
            return super().trace(root, concrete_args)
        finally:
            torch.autograd.Function.apply = saved


# ---------------------------------------------------------------- concrete-shape tracing
def _user_frame() -> tuple[str, int] | None:
    """(file, line) of the innermost frame outside torch and this package (the model code)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not os.path.abspath(name).startswith((_TORCH_DIR, _HERE)):
            return name, frame.f_lineno
        frame = frame.f_back
    return None


def _describe(where: tuple[str, int] | None) -> str:
    if where is None:
        return "in forward()"
    file, line = where
    code = linecache.getline(file, line).strip()
    return f"at {os.path.basename(file)}:{line}" + (f" (`{code[:120]}`)" if code else "")


class _ValueNeeded(Exception):
    """Raised inside a concrete-shape trace when Python needs a tensor's values."""

    def __init__(self, what: str, where: tuple[str, int] | None) -> None:
        super().__init__(f"{what} {_describe(where)}")


class _ConcreteProxy(fx.Proxy):
    """fx proxy whose tracer knows its example value (a fake tensor or a Python value).

    Python conversions (``bool``, ``int``, ``float``, ``len``, use as an index) get the value;
    everything else (``x.shape``, ``x.size(0)``, ``x.device``, ``x + 1``) is recorded.
    """

    def __getattr__(self, k: str) -> Any:
        return _ConcreteAttribute(self, k)

    def __len__(self) -> int:  # of a tensor: its batch size, a shape, not a value
        return len(self.tracer.value(self))

    def __int__(self) -> int:
        return self.tracer.python(self, int, "int()")

    def __index__(self) -> int:
        return self.tracer.python(self, int, "use as an index")

    def __float__(self) -> float:
        return self.tracer.python(self, float, "float()")


class _ConcreteAttribute(fx.proxy.Attribute, _ConcreteProxy):
    """An attribute of a :class:`_ConcreteProxy` (``x.shape``), recorded lazily as fx does."""


class _ShapeTracer(_Tracer):
    """fx tracer running every recorded op on fake tensors of the example's shape.

    Parameters
    ----------
    shape : tuple of int
        Shape of the fake model input, (batch, *input_shape).
    dtype, device
        Those of the example input.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype,
                 device: torch.device) -> None:
        super().__init__()
        self.fake = FakeTensorMode(allow_non_fake_inputs=True)
        with self.fake:
            self.input = torch.empty(shape, dtype=dtype, device=device)
        self.values: dict[fx.Node, Any] = {}
        self.where: dict[fx.Node, tuple[str, int] | None] = {}
        self.refused: _ValueNeeded | None = None  # kept even if the model catches it
        self._inputs = 0

    # ---- fx hooks
    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self)

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict,
                     name: str | None = None, type_expr: Any = None,
                     proxy_factory_fn: Any = None) -> fx.Proxy:
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr,
                                     proxy_factory_fn)
        self.where[proxy.node] = where = _user_frame()
        self.values[proxy.node] = self._evaluate(kind, target, args, kwargs, where)
        return proxy

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        if self.computing:  # a module called while running a leaf on example values
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if self.computing:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def to_bool(self, obj: fx.Proxy) -> bool:
        return self.python(obj, bool, "a branch or assert")

    def iter(self, obj: fx.Proxy) -> Iterator:
        n = len(self.value(obj))
        return iter([obj[i] for i in range(n)])

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        with self._len_recorded(root):
            return super().trace(root, concrete_args)

    # ---- values
    def value(self, proxy: fx.Proxy) -> Any:
        return self.values[proxy.node]

    def python(self, proxy: fx.Proxy, convert: Any, what: str) -> Any:
        """``convert`` applied to the proxy's value; a tensor's values are never read."""
        value = self.value(proxy)
        if isinstance(value, Tensor):
            raise self._refuse(f"{what} on tensor values", _user_frame())
        return convert(value)

    def _refuse(self, what: str, where: tuple[str, int] | None) -> _ValueNeeded:
        self.refused = self.refused or _ValueNeeded(what, where)
        return self.refused

    def _concrete(self, a: Any) -> Any:
        return fx.node.map_aggregate(
            a, lambda v: self.value(v) if isinstance(v, fx.Proxy) else v)

    @contextlib.contextmanager
    def _computing(self) -> Iterator[None]:
        self.computing = True
        try:
            yield
        finally:
            self.computing = False

    def _evaluate(self, kind: str, target: Any, args: tuple, kwargs: dict,
                  where: tuple[str, int] | None) -> Any:
        if kind == "placeholder":
            self._inputs += 1
            if self._inputs == 1:
                return self.input
            if args:  # a default value
                return args[0]
            raise NotReversibleError(
                f"model: forward must take exactly one tensor argument, got more ({target})")
        with self._computing():
            if kind == "get_attr":
                obj: Any = self.root
                for part in str(target).split("."):
                    obj = getattr(obj, part)
                return obj  # a real tensor: the fake mode converts it where it is used
            a, kw = self._concrete(args), self._concrete(kwargs)
            try:
                with self.fake, torch.no_grad():
                    if kind == "call_module":
                        return self.root.get_submodule(target)(*a, **kw)
                    if kind == "call_function":
                        return target(*a, **kw)
                    return getattr(a[0], target)(*a[1:], **kw)
            except (DataDependentOutputException, DynamicOutputShapeException) as exc:
                op = (f".{target}()" if kind == "call_method"
                      else f"{getattr(target, '__name__', target)}()")
                raise self._refuse(f"{op} on tensor values", where) from exc

    @contextlib.contextmanager
    def _len_recorded(self, root: nn.Module) -> Iterator[None]:
        """``len(proxy)`` in the model's own ``forward`` code becomes a graph node (so that
        ``len(x)`` follows the batch size), as ``torch.fx.wrap("len")`` would do."""
        tracer = self

        def len_(obj: Any) -> Any:
            if isinstance(obj, _ConcreteProxy) and obj.tracer is tracer:
                return tracer.create_proxy("call_function", builtins.len, (obj,), {})
            return builtins.len(obj)

        spaces = {}
        for m in root.modules():
            space = getattr(type(m).forward, "__globals__", None)
            if (isinstance(space, dict) and "len" not in space
                    and not str(space.get("__name__", "")).startswith("torch.")):
                spaces[id(space)] = space
        for space in spaces.values():
            space["len"] = len_
        try:
            yield
        finally:
            for space in spaces.values():
                if space.get("len") is len_:
                    del space["len"]


def _signature(tracer: _ShapeTracer, graph: fx.Graph) -> list[tuple]:
    """Per node: op, target and arguments (nodes by position, tensor constants by shape)."""
    index = {n: i for i, n in enumerate(graph.nodes)}
    out = []
    for node in graph.nodes:
        target: Any = node.target
        if node.op == "get_attr" and _CONSTANT.fullmatch(str(target)):
            target = ("constant", tuple(getattr(tracer.values.get(node), "shape", ())))
        args = fx.node.map_arg((node.args, node.kwargs), lambda n: f"%{index[n]}")
        out.append((node.op, target, repr(args)))
    return out


def _check_example_runs(model: nn.Module, x: Tensor) -> None:
    """Run ``model(x)`` (eval, no grad); its own error on ``x`` is the user's to see."""
    try:
        with torch.no_grad(), TrainingState(model):
            model(x)
    except RuntimeError:
        raise  # shape mismatches and failed allocations, as from any forward pass
    except Exception as exc:
        raise ValueError(
            f"example_input: {type(model).__name__}.forward fails on an input of shape "
            f"{tuple(x.shape)}: {type(exc).__name__}: {_one_line(exc)}") from exc


def _trace_on_shapes(model: nn.Module, x: Tensor, symbolic_error: str) -> fx.Graph:
    """Concrete-shape trace of ``model`` on fake tensors like ``x`` (batch size kept free)."""
    name = type(model).__name__
    batch, rest = int(x.shape[0]), tuple(x.shape[1:])
    tracers = [_ShapeTracer((b, *rest), x.dtype, x.device) for b in (batch, batch + 1)]
    try:
        with TrainingState(model):
            graphs = [t.trace(model) for t in tracers]
        for t in tracers:
            if t.refused is not None:  # caught by the model's own try/except
                raise t.refused
    except NotReversibleError:
        raise
    except _ValueNeeded as exc:
        raise NotReversibleError(
            f"model: torch.fx could not trace {name}.forward: {exc}; data-dependent control "
            "flow is not reversible (only branches on shapes are)") from exc
    except Exception as exc:
        _check_example_runs(model, x)
        raise NotReversibleError(
            f"model: torch.fx could not trace {name}.forward ({symbolic_error}), nor on the "
            f"example input's shapes {rest} ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    first, second = (_signature(t, g) for t, g in zip(tracers, graphs, strict=True))
    if first != second:
        i = next((i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
                 min(len(first), len(second)))
        k = 0 if i < len(first) else 1
        nodes = list(graphs[k].nodes)
        where = tracers[k].where.get(nodes[min(i, len(nodes) - 1)])
        raise NotReversibleError(
            f"model: {name}.forward uses the batch size as a plain number {_describe(where)} "
            f"(its trace differs between batch sizes {batch} and {batch + 1}); only "
            "per-sample code is reversible: pass x.size(0), x.shape[0] or len(x) to tensor "
            "calls directly, with no int(), range() or branch on them")
    return graphs[0]


def trace(model: nn.Module, example_input: Tensor | None = None) -> fx.GraphModule:
    """fx trace of ``model``: symbolic, else on the example input's shapes (module docstring).

    Parameters
    ----------
    model : nn.Module
    example_input : Tensor of shape (batch, *input_shape), optional
        Without it only the symbolic trace is tried.

    Returns
    -------
    fx.GraphModule
        Sharing the model's modules and parameters.

    Raises
    ------
    NotReversibleError
        The model cannot be traced (data-dependent control flow, a custom autograd Function,
        a batch size used as a plain number, ...).
    ValueError
        ``forward`` itself raises on ``example_input`` (other than a RuntimeError, which is
        passed on).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    before = set(vars(model))
    try:
        try:
            graph = _Tracer().trace(model)
        except NotReversibleError:
            raise
        except Exception as exc:  # fx raises many types for untraceable code
            if example_input is None:
                raise NotReversibleError(
                    f"model: torch.fx could not trace {type(model).__name__}.forward "
                    f"({_one_line(exc)}); data-dependent control flow is not reversible"
                ) from exc
            graph = _trace_on_shapes(model, example_input, _one_line(exc))
        return fx.GraphModule(model, graph)
    finally:  # fx stores tensor constants on the model; the GraphModule holds its own now
        for key in set(vars(model)) - before:
            if _CONSTANT.fullmatch(key):
                delattr(model, key)
