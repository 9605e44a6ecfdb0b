"""Pieces shared by the torchvision-layout architectures: the activation choice and the
checks of their constructor arguments.

Every activation here is a parameter-free module, so swapping ReLU for another one leaves
the state-dict keys (torchvision's) unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["ACTIVATIONS", "make_activation", "check_activation", "check_num_classes",
           "check_dropout", "check_flag"]

#: name -> factory of a fresh module; in place where torch supports it (as torchvision's ReLU).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "gelu": lambda: nn.GELU(),
    "leaky_relu": lambda: nn.LeakyReLU(negative_slope=0.01, inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
}


def check_activation(activation: Any) -> str:
    """``activation`` if it names an entry of :data:`ACTIVATIONS`, else one ValueError line."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"activation: expected one of {known}, got {activation!r}")
    return activation


def make_activation(activation: str) -> nn.Module:
    """A new module for ``activation`` (one of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[check_activation(activation)]()


def check_num_classes(num_classes: Any) -> int:
    """``num_classes`` as an int >= 1 (bools refused)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected an int >= 1, got {num_classes!r}")
    return num_classes


def check_dropout(dropout: Any) -> float:
    """``dropout`` as a float probability in [0, 1]."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0.0 <= dropout <= 1.0):
        raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout!r}")
    return float(dropout)


def check_flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool, else one ValueError line naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    return value
