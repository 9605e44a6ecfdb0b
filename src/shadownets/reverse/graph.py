"""Tracing a model with torch.fx, its activation points, and the sub-graph to reverse.

:class:`TracedNet` holds the fx trace of a model (sharing the model's modules and
parameters, never copies), the per-sample shape of every tensor-valued node, and the bound
reverse rule of every node on the data path (from :mod:`shadownets.reverse.ops`). The trace
comes from :func:`shadownets.reverse.tracing.trace`: symbolic when torch.fx can, else on the
example input's shapes (then specialised to its per-sample shape, the batch size kept free).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, fx, nn

from shadownets.reverse.errors import NotReversibleError
from shadownets.reverse.ops import Rule, Site, call_original, rule_for
from shadownets.reverse.tracing import TrainingState, trace

__all__ = ["LayerInfo", "TracedNet", "list_layers", "trace"]


@dataclass(frozen=True)
class LayerInfo:
    """One activation point of a traced model.

    Attributes
    ----------
    name : str
        Module path (``"features.3"``) or fx node name for functional calls (``"relu_1"``).
    kind : str
        ``"Linear"``, ``"Conv2d"``, ``"ReLU"``, ``"MaxPool2d"``, ``"flatten"``, ``"add"``, ...
    shape : tuple of int
        Per-sample output shape.
    reversible : bool
        True when every op from the model input up to here has a reverse rule, i.e.
        ``reverse(model, x, name)`` works with ``to=None``.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    reversible: bool


def _has_tensor(value: Any) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_tensor(v) for v in value)
    return False


class TracedNet:
    """A traced model with shapes, names and reverse rules.

    Parameters
    ----------
    model : nn.Module
        Any feed-forward module whose ``forward`` takes one tensor.
    example_input : Tensor of shape (batch, *input_shape)
        Runs once (eval mode, no grad) to record shapes. A ``forward`` that checks or
        branches on its input's shape is traced on this input's shapes: the trace then
        holds for inputs of this per-sample shape (any batch size), as the shapes do.
    """

    def __init__(self, model: nn.Module, example_input: Tensor) -> None:
        if not isinstance(example_input, Tensor) or example_input.ndim < 2:
            got = (tuple(example_input.shape) if isinstance(example_input, Tensor)
                   else type(example_input).__name__)
            raise ValueError(f"example_input: expected a tensor of shape (batch, ...), got {got}")
        self.gm = trace(model, example_input)
        self.nodes = list(self.gm.graph.nodes)
        inputs = [n for n in self.nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise NotReversibleError(
                f"model: forward must take exactly one tensor argument, got "
                f"{len(inputs)} ({', '.join(n.name for n in inputs)})")
        self.input = inputs[0]
        self.modules = dict(self.gm.named_modules())
        with torch.no_grad(), TrainingState(model):
            values = self._run_generic(example_input)
        self.shapes = {n: tuple(v.shape[1:]) for n, v in values.items() if isinstance(v, Tensor)}
        self.data = self._data_nodes(values)
        self.names, self.by_name = self._names()
        self._needed: dict[fx.Node, set[fx.Node]] = {}  # run(): ancestors of each stop node
        self.rules: dict[fx.Node, Rule] = {}
        self.errors: dict[fx.Node, str] = {}
        site_data = frozenset(self.data)
        for node in self.nodes:
            if node in self.data and node.op not in ("placeholder", "output"):
                site = Site(node, self.modules.get(node.target) if node.op == "call_module"
                            else None, self.names[node], self.shapes, site_data)
                value = values.get(node)
                if isinstance(value, Tensor) and (value.ndim == 0 or
                                                  value.shape[0] != example_input.shape[0]):
                    self.errors[node] = (
                        f"{self.names[node]!r} changes the batch dim ({example_input.shape[0]} "
                        f"-> {tuple(value.shape)}); only per-sample ops are reversible")
                    continue
                try:
                    self.rules[node] = rule_for(site)
                except NotReversibleError as exc:
                    self.errors[node] = str(exc)

    # ------------------------------------------------------------------ building
    def _run_generic(self, x: Tensor) -> dict[fx.Node, Any]:
        env: dict[fx.Node, Any] = {}
        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "output":
                break
            else:
                env[node] = self._call_generic(node, env)
        return env

    def _call_generic(self, node: fx.Node, env: dict[fx.Node, Any]) -> Any:
        if node.op == "get_attr":
            obj: Any = self.gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            return obj
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        site = Site(node, self.modules.get(node.target) if node.op == "call_module" else None,
                    node.name, {}, frozenset())
        return call_original(site, args, kwargs)

    def _data_nodes(self, values: dict[fx.Node, Any]) -> set[fx.Node]:
        data = {self.input}
        for node in self.nodes:
            if node.op in ("call_module", "call_function", "call_method") and _has_tensor(
                    values.get(node)) and any(a in data for a in node.all_input_nodes):
                data.add(node)
        return data

    def _names(self) -> tuple[dict[fx.Node, str], dict[str, fx.Node]]:
        names: dict[fx.Node, str] = {}
        by_name: dict[str, fx.Node] = {}
        for node in self.nodes:
            name = node.name
            if node.op == "call_module" and str(node.target) not in by_name:
                name = str(node.target)
            names[node] = name
            by_name[name] = node
        for node in self.nodes:
            by_name.setdefault(node.name, node)
        return names, by_name

    # ------------------------------------------------------------------ queries
    def data_inputs(self, node: fx.Node) -> list[fx.Node]:
        """Data inputs of ``node`` (its rule's, or all of them for an op without a rule)."""
        if node in self.rules:
            return self.rules[node].data_args()
        return [a for a in node.all_input_nodes if a in self.data]

    def reversible(self) -> dict[fx.Node, bool]:
        """Whether every op from the input up to each data node has a rule."""
        ok = {self.input: True}
        for node in self.nodes:
            if node in self.data and node is not self.input:
                ok[node] = node in self.rules and all(ok.get(a, False)
                                                      for a in self.data_inputs(node))
        return ok

    def layers(self) -> list[LayerInfo]:
        """Every activation point with a reverse rule, in forward order."""
        ok = self.reversible()
        return [LayerInfo(self.names[n], self.rules[n].kind, self.shapes[n], ok[n])
                for n in self.nodes if n in self.rules and n in self.shapes]

    def node(self, name: str, arg: str) -> fx.Node:
        """The data node called ``name``; ``arg`` names the argument in errors."""
        if not isinstance(name, str):
            raise ValueError(f"{arg}: expected a layer name (str), got {type(name).__name__}")
        node = self.by_name.get(name)
        if node is None or node not in self.shapes or node not in self.data:
            known = [self.names[n] for n in self.nodes if n in self.rules and n in self.shapes]
            shown = ", ".join(known[:40]) + (" ..." if len(known) > 40 else "")
            raise ValueError(f"{arg}: unknown activation point {name!r}; known: {shown}")
        return node

    def _ancestors(self, node: fx.Node, *, data_only: bool = True) -> set[fx.Node]:
        """``node`` and everything it depends on (through data inputs only, by default)."""
        seen, stack = {node}, [node]
        while stack:
            top = stack.pop()
            for a in self.data_inputs(top) if data_only else top.all_input_nodes:
                if a not in seen:
                    seen.add(a)
                    stack.append(a)
        return seen

    def subgraph(self, layer: fx.Node, to: fx.Node) -> list[fx.Node]:
        """Nodes between ``to`` and ``layer`` (both included), in forward order.

        Raises
        ------
        ValueError
            When ``to`` is not below ``layer`` or some path to ``layer`` avoids ``to``.
        NotReversibleError
            When an op on the way has no reverse rule (all of them are listed).
        """
        above = self._ancestors(layer)
        if to not in above:
            raise ValueError(f"to: {self.names[to]!r} is not below layer {self.names[layer]!r}")
        # every path from the model input to `layer` must pass through `to`
        reach, stack = {self.input}, [self.input]
        users = {n: [u for u in n.users if u in above and n in self.data_inputs(u)]
                 for n in above}
        while stack and to is not self.input:
            for u in users.get(stack.pop(), []):
                if u is not to and u not in reach:
                    reach.add(u)
                    stack.append(u)
        if layer in reach:
            raise ValueError(
                f"to: {self.names[to]!r} does not cut every path from the model input to "
                f"layer {self.names[layer]!r} (a skip connection bypasses it)")
        below, stack = {to}, [to]
        while stack:
            for u in users.get(stack.pop(), []):
                if u not in below:
                    below.add(u)
                    stack.append(u)
        nodes = [n for n in self.nodes if n in below]
        bad = [self.errors.get(n, f"{self.names[n]!r} has no reverse rule")
               for n in nodes if n is not to and n not in self.rules]
        if bad:
            raise NotReversibleError("; ".join(bad))
        return nodes

    # ------------------------------------------------------------------ running
    def run(self, start: fx.Node, value: Tensor, stop: fx.Node, *, bias: bool = True,
            record: dict[str, Tensor] | None = None,
            only: Iterable[fx.Node] | None = None,
            keep: Iterable[fx.Node] | None = None) -> dict[fx.Node, Any]:
        """Forward from ``start`` (given ``value``) up to ``stop``; returns every value.

        Nodes with a rule run through it (``bias=False`` drops additive constants; max pools
        record their switches in ``record``); other nodes run as traced. ``only`` restricts
        the rule-run nodes (others are computed only if their inputs are available).
        ``keep``: return only these values (and ``stop``'s), each other one freed as soon as
        its last user has run — the memory of a deep net's pass is then a few layers', not
        every activation's.
        """
        if stop not in self._needed:
            self._needed[stop] = self._ancestors(stop, data_only=False)
        needed = self._needed[stop]
        only = set(only) if only is not None else None
        env: dict[fx.Node, Any] = {start: value}
        last_use: dict[fx.Node, fx.Node] = {}
        if keep is not None:
            keep = set(keep) | {stop}
            for node in self.nodes:  # forward order: the last assignment is the last user
                if node in needed:
                    for a in node.all_input_nodes:
                        last_use[a] = node
        for node in self.nodes:
            if node in env or node not in needed:
                continue
            if node.op == "placeholder":
                continue
            ready = all(a in env for a in node.all_input_nodes)
            rule = self.rules.get(node)
            if rule is not None and (only is None or node in only):
                if not all(a in env for a in rule.data_args()):
                    continue
                args = fx.node.map_arg(node.args, lambda n: env.get(n))
                kwargs = fx.node.map_arg(node.kwargs, lambda n: env.get(n))
                env[node] = rule.forward(args, kwargs, bias=bias, record=record)
            elif ready:
                env[node] = self._call_generic(node, env)
            if node is stop:
                break
            if keep is not None:
                for a in node.all_input_nodes:
                    if last_use.get(a) is node and a not in keep:
                        env.pop(a, None)
        if keep is not None:
            return {n: v for n, v in env.items() if n in keep}
        return env


def list_layers(model: nn.Module, example_input: Tensor) -> list[LayerInfo]:
    """Every activation point usable as ``layer`` / ``to`` of :func:`reverse`, forward order.

    Parameters
    ----------
    model : nn.Module
    example_input : Tensor of shape (batch, *input_shape)

    Returns
    -------
    list of LayerInfo
    """
    return TracedNet(model, example_input).layers()
