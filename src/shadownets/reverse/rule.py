"""The base of reverse rules: a traced node bound to its module (:class:`Site`), the
unpooling context, and the :class:`Rule` interface. Knows no layer types (see
:mod:`shadownets.reverse.ops`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, fx, nn

__all__ = ["Site", "UnpoolContext", "Rule", "call_original"]


@dataclass(frozen=True)
class Site:
    """A traced node with what a rule needs to know about it.

    Attributes
    ----------
    node : fx.Node
    module : nn.Module or None
        The called module for ``call_module`` nodes.
    name : str
        Display name (module path, or fx node name for functional calls).
    shapes : mapping fx.Node -> tuple of int
        Per-sample shapes of every tensor-valued node of the trace.
    data : frozenset of fx.Node
        Nodes that carry data from the model input.
    """

    node: fx.Node
    module: nn.Module | None
    name: str
    shapes: Mapping[fx.Node, tuple[int, ...]]
    data: frozenset


@dataclass(frozen=True)
class UnpoolContext:
    """How max pools are undone during one generation."""

    unpool: str
    switches: Mapping[str, Tensor] | None
    generator: torch.Generator | None


def call_original(site: Site, args: tuple, kwargs: dict) -> Any:
    """Run the node as the traced model would."""
    node = site.node
    if node.op == "call_module":
        return site.module(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    self_obj, *rest = args
    return getattr(self_obj, node.target)(*rest, **kwargs)


class Rule:
    """Base reverse rule bound to a :class:`Site` (see module docstring for the roles)."""

    role: ClassVar[str] = "linear"
    #: What the layer is, for code that walks a net by layer type (the audit): one of
    #: ``"operator"`` (weighted: Linear, ConvNd — a linear operator with :meth:`apply` /
    #: :meth:`apply_t`), ``"activation"`` (ReLU and ReLU-like), ``"normalisation"``
    #: (BatchNorm: a per-channel affine map), ``"pooling"`` (max / average pools, padding),
    #: ``"reshape"``, ``"identity"`` (identity, dropout), ``"scale"`` (times a number),
    #: ``"combine"`` (add, sub, cat: several inputs) or ``"other"`` (parameter-free linear
    #: calls such as mean, sum, permute).
    family: ClassVar[str] = "other"

    def __init__(self, site: Site) -> None:
        self.site = site

    @property
    def kind(self) -> str:
        node = self.site.node
        if node.op == "call_module":
            return type(self.site.module).__name__
        if node.op == "call_function":
            return getattr(node.target, "__name__", str(node.target))
        return str(node.target)

    def data_args(self) -> list[fx.Node]:
        """Data inputs, in the order of :meth:`transpose`'s contributions."""
        first = self.site.node.args[0]
        return [first] if isinstance(first, fx.Node) and first in self.site.data else []

    def in_shape(self) -> tuple[int, ...]:
        return self.site.shapes[self.site.node.args[0]]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.site.shapes[self.site.node]

    def forward(self, args: tuple, kwargs: dict, *, bias: bool,
                record: dict[str, Tensor] | None) -> Tensor:
        """Output of the node; ``bias=False`` drops additive constants of the affine map."""
        return call_original(self.site, args, kwargs)

    def transpose(self, g: Tensor, ctx: UnpoolContext) -> list[tuple[fx.Node, Tensor]]:
        """Contributions (data input, Aᵀ g) of the node's linear part."""
        raise NotImplementedError

    def bias_term(self) -> Tensor | None:
        """Additive constant of the forward map, broadcastable to (batch, *out_shape)."""
        return None
