"""Model specs for the command line: build a model from a string and load its weights safely.

A spec is one of

- ``package.module:factory`` — import the module, call ``factory(**kwargs)``;
- ``path/to/file.py:factory`` — load the file as a module, call ``factory(**kwargs)``;
- ``PREFIX:NAME`` for a prefix registered with :func:`register_spec_prefix`, resolved by
  ``resolver(NAME, kwargs)``. ``zoo`` is registered by :mod:`shadownets.train`, which is
  imported on the first ``zoo:`` spec.

``factory`` may be a dotted attribute path (``Class.build``). Weights are read from a
``.safetensors`` file or from a ``torch.save`` file with ``weights_only=True`` and
``map_location="cpu"`` (GPU-saved checkpoints load; arbitrary objects are never unpickled:
a file holding one is refused with the object's name and how to save a plain state dict).
A checkpoint dict holding the state dict under ``"state_dict"`` or ``"model"`` is accepted,
and a ``"module."`` prefix (DistributedDataParallel) is stripped when the model has none.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import pickle
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "load_model",
    "build_model",
    "load_state_dict",
    "apply_state_dict",
    "register_spec_prefix",
    "list_spec_prefixes",
]

Resolver = Callable[[str, dict], nn.Module]
_PREFIXES: dict[str, Resolver] = {}
#: Prefixes whose resolver is registered by importing a module (imported on first use).
_LAZY_PREFIXES: dict[str, str] = {"zoo": "shadownets.train"}

#: Messages of torch / the C allocator when an allocation fails: such errors are not the
#: user's code failing and are passed on unchanged (the CLI reports them as "not enough memory").
_OOM = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                            and bool(_OOM.search(str(exc))))


def _exc_text(exc: BaseException, limit: int = 300) -> str:
    """``TypeName: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


_SPEC_HELP = ("expected 'package.module:factory', 'path/to/file.py:factory' or "
              "'PREFIX:NAME' with a registered prefix")


def register_spec_prefix(prefix: str, resolver: Resolver, *, overwrite: bool = False) -> None:
    """Let specs ``PREFIX:NAME`` be built by ``resolver(NAME, kwargs) -> nn.Module``.

    Parameters
    ----------
    prefix : str
        An identifier such as ``"zoo"`` (no dots, slashes or colons).
    resolver : callable
    overwrite : bool, default False
        Replace an existing registration instead of raising.
    """
    if not isinstance(prefix, str) or not prefix.isidentifier():
        raise ValueError(f"prefix: expected an identifier such as 'zoo', got {prefix!r}")
    if not callable(resolver):
        raise ValueError(f"resolver: expected a callable, got {type(resolver).__name__}")
    if prefix in _PREFIXES and not overwrite and _PREFIXES[prefix] is not resolver:
        raise ValueError(f"prefix: {prefix!r} is already registered; pass overwrite=True")
    _PREFIXES[prefix] = resolver


def list_spec_prefixes() -> list[str]:
    """Registered spec prefixes, sorted."""
    return sorted(_PREFIXES)


def _import_target(target: str) -> Any:
    if target.endswith(".py") or "/" in target or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"spec: model file not found: {target}")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(f"_shadownets_spec_{digest}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"spec: cannot load {target} as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: SyntaxError, errors raised at import, ...
            if _is_oom(exc):
                raise
            raise ValueError(f"spec: {_exc_text(exc)} while importing {target}; fix the file "
                             "and try again") from exc
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ValueError(f"spec: cannot import module {target!r}: {exc}") from exc
    except Exception as exc:  # the user's module raised while being imported
        if _is_oom(exc):
            raise
        raise ValueError(f"spec: {_exc_text(exc)} while importing module {target!r}; fix the "
                         "module and try again") from exc


def _resolve_factory(spec: str) -> Callable[..., Any]:
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"spec: {_SPEC_HELP}, got {spec!r}")
    obj = _import_target(target)
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(obj) if not n.startswith("_")
                           and callable(getattr(obj, n)))
            shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
            raise ValueError(f"spec: {target!r} has no attribute {attr!r}; callables there: "
                             f"{shown or '(none)'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"spec: {attr!r} in {target!r} is not callable")
    return obj


def build_model(spec: str, kwargs: dict | None = None) -> nn.Module:
    """Build (untrained) the model named by ``spec`` with ``kwargs``; see the module docs."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"spec: {_SPEC_HELP}, got {spec!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ValueError(f"kwargs: expected a dict of keyword arguments, got "
                         f"{type(kwargs).__name__}")
    kwargs = dict(kwargs or {})
    prefix, _, rest = spec.partition(":")
    if prefix not in _PREFIXES and prefix in _LAZY_PREFIXES:
        importlib.import_module(_LAZY_PREFIXES[prefix])  # registers the prefix
    factory = (functools.partial(_PREFIXES[prefix], rest, kwargs) if prefix in _PREFIXES
               else functools.partial(_resolve_factory(spec), **kwargs))
    try:
        model = factory()
    except (ValueError, OSError, NotImplementedError):  # already one clear line
        raise
    except Exception as exc:  # the user's factory (or a stored spec) failed
        if _is_oom(exc):
            raise
        if isinstance(exc, TypeError) and kwargs:  # most often a keyword it does not take
            raise ValueError(f"kwargs: {spec} rejected {kwargs}: {_exc_text(exc)} while "
                             f"calling {spec}; check --model-kwargs") from exc
        raise ValueError(f"spec: {_exc_text(exc)} while calling {spec} with {kwargs}; fix the "
                         "factory or its keyword arguments") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"spec: {spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model



class _CorruptWeights(Exception):
    """A safetensors file whose content differs from the hash stored in it."""


def _check_content_hash(path: Path, tensors: dict[str, Any]) -> None:
    """A file written by ``shadownets train`` stores a hash of its content in its metadata:
    check it (other safetensors files carry none and are taken as they are)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    from shadownets.train.checkpoint import _HASH_KEY, _META_KEY, content_hash

    if _HASH_KEY in meta and meta[_HASH_KEY] != content_hash(tensors, meta.get(_META_KEY, "")):
        raise _CorruptWeights(f"weights: {path} is corrupt: its content does not match the "
                              "hash stored in it; restore it or train again")

def load_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict (on CPU) from ``.safetensors`` or a ``torch.save`` file.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Unreadable file, or not a mapping of names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights: file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
            _check_content_hash(path, obj)
        else:
            with warnings.catch_warnings():  # torch's multi-line notes about the protocol
                warnings.filterwarnings("ignore", message=".*pickle protocol")
                obj = torch.load(path, weights_only=True, map_location="cpu")
    except _CorruptWeights as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # unpickling / format errors of both readers
        raise ValueError(_unreadable(path, exc)) from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"weights: {path} does not hold a state dict (names -> tensors), nor a "
                         "checkpoint with one under 'state_dict' or 'model'")
    return dict(obj)


_SAVE_ADVICE = ("save a state dict instead: torch.save(model.state_dict(), path), or "
                "safetensors.torch.save_file(model.state_dict(), path)")


def _unreadable(path: Path, exc: Exception) -> str:
    """One line on why ``path`` was not read; never torch's advice to unpickle it anyway."""
    text = " ".join(str(exc).split())
    found = re.search(r"GLOBAL\s+([A-Za-z_][\w.]*)", text)
    if found:  # the weights-only unpickler met an object it will not build
        return (f"weights: {path} holds a pickled object of type {found.group(1)}; loading "
                f"it would run code from the file, so it is refused; {_SAVE_ADVICE}")
    if "weights_only" in text or isinstance(exc, pickle.UnpicklingError):
        reason = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
        detail = f" ({reason.group(1).strip()})" if reason and reason.group(1).strip() else ""
        return (f"weights: {path} is not a torch checkpoint of tensors only{detail}; it is not "
                "unpickled, since loading other objects could run code from the file; "
                f"{_SAVE_ADVICE}")
    if len(text) > 300:
        text = text[:297] + "..."
    return (f"weights: cannot read {path} as safetensors or a torch checkpoint: "
            f"{text or type(exc).__name__}; give a file written with "
            "torch.save(model.state_dict(), path) or safetensors.torch.save_file(...)")


def _brief(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit
                                       else "")


def apply_state_dict(model: nn.Module, state: Mapping[str, Tensor],
                     source: str = "weights") -> nn.Module:
    """Load ``state`` into ``model`` strictly; a mismatch raises one clear ValueError."""
    own = model.state_dict()
    state = dict(state)
    if state and all(k.startswith("module.") for k in state) and not any(
            k.startswith("module.") for k in own):
        state = {k[len("module."):]: v for k, v in state.items()}
    # BatchNorm's step counter: files saved before torch 0.4.1 (torchvision's published
    # ResNet / VGG-BN weights among them) lack it, and loading sets it to 0 (what torch does)
    missing = sorted(k for k in set(own) - set(state)
                     if not (k.endswith(".num_batches_tracked") or k == "num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_brief(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_brief(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_brief(shapes)}")
        raise ValueError(f"{source}: state dict does not match the model: " + "; ".join(parts))
    for key in set(own) - set(state):  # only step counters are left here
        state[key] = torch.zeros_like(own[key])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # e.g. a tensor the model's own load hook refuses
        if _is_oom(exc):
            raise
        raise ValueError(f"{source}: state dict does not match the model: "
                         f"{_exc_text(exc)}") from exc
    return model


def _check_finite(model: nn.Module) -> None:
    """Refuse a model with NaN or inf in a parameter or floating buffer (names the first)."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() or tensor.is_complex():
            if not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"model has non-finite weights in {name} (NaN or inf); "
                                 "use weights from a run that did not diverge")


def load_model(spec: str, kwargs: dict | None = None,
               weights: str | os.PathLike | None = None) -> nn.Module:
    """Build the model named by ``spec`` and load ``weights`` into it (eval mode).

    Parameters
    ----------
    spec : str
        ``package.module:factory``, ``path/to/file.py:factory`` or ``PREFIX:NAME``.
    kwargs : dict, optional
        Keyword arguments of the factory.
    weights : path, optional
        ``.safetensors`` or ``torch.save`` state dict / checkpoint.

    Returns
    -------
    nn.Module
        On CPU, in eval mode.

    Raises
    ------
    ValueError
        A bad spec, an error raised while importing the module or calling the factory, weights
        that do not fit, or non-finite weights.
    """
    model = build_model(spec, kwargs)
    if weights is not None:
        apply_state_dict(model, load_state_dict(weights), source=f"weights {weights}")
    _check_finite(model)
    return model.eval()
