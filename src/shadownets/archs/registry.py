"""Registry of the torchvision-layout architectures: a dict and a decorator (as timm's).

An unknown name or keyword gets one error line listing the known ones.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from torch import nn

__all__ = ["ARCHS", "arch_manifest", "create_arch", "list_archs", "register_arch"]

#: name -> factory taking keyword arguments only.
ARCHS: dict[str, Callable[..., nn.Module]] = {}


def register_arch(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register the keyword-only factory ``fn(**kwargs) -> nn.Module`` as ``name``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in ARCHS:
            raise ValueError(f"architecture name {name!r} is already registered")
        ARCHS[name] = fn
        return fn

    return decorator


def list_archs() -> list[str]:
    """Names of the registered architectures, sorted."""
    return sorted(ARCHS)


def _keywords(fn: Callable[..., nn.Module]) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def create_arch(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered architecture ``name`` (random initialisation, train mode).

    Parameters
    ----------
    name : str
        One of :func:`list_archs`.
    **kwargs
        The entry's keywords (``num_classes``, ``dropout`` / ``zero_init_residual``,
        ``activation``, ...; see each factory).

    Returns
    -------
    nn.Module
        Takes images of shape (N, 3, H, W) (ImageNet: H = W = 224), returns
        (N, num_classes) logits. ``arch_name`` / ``arch_kwargs`` record how it was built.

    Raises
    ------
    ValueError
        Unknown name, unknown keyword, or a bad value.
    """
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(list_archs())}")
    allowed = _keywords(ARCHS[name])
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        hint = (" (the input size is not fixed: pass none)"
                if "input_shape" in unknown else "")
        raise ValueError(f"{name}: unknown keyword(s) {', '.join(unknown)}{hint}; accepted: "
                         f"{', '.join(allowed)}")
    try:
        model = ARCHS[name](**kwargs)
    except ValueError as exc:  # a bad value: one line, named after the entry
        raise ValueError(f"{name}: {exc}") from None
    model.arch_name = name
    model.arch_kwargs = dict(kwargs)
    return model


@cache
def _read_manifest(name: str) -> str:
    path = resources.files("shadownets.archs") / "manifests" / f"{name}.json"
    return path.read_text(encoding="utf-8")


def arch_manifest(name: str) -> dict[str, Any]:
    """torchvision's state-dict layout of ``name``: ``{"name", "source", "num_params",
    "num_tensors", "state_dict"}`` with ``state_dict`` an ordered dict key -> shape (list).

    Written by ``scripts/make_arch_manifests.py`` from an independent transcription of
    torchvision's classes, not from this package's code; ``num_params`` counts parameters
    only (no BatchNorm buffers), as torchvision's ``meta["num_params"]`` does.
    """
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(list_archs())}")
    return json.loads(_read_manifest(name))
