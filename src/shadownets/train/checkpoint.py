"""Checkpoints of training runs: safetensors only, written atomically, never unpickled.

A run folder holds

- ``checkpoint.safetensors`` — everything resume needs in ONE atomically replaced file: model
  weights (``model.*``), optimizer tensors (``optim.<param index>.<name>``), RNG states
  (``rng.<name>``) and, in the safetensors metadata under ``"shadownets"``, a JSON state: format,
  model spec, training config, epoch, optimizer param groups and metric history;
- ``model.safetensors`` — the weights alone, with the model spec in its metadata, for
  ``--model zoo:NAME --weights run/model.safetensors`` or ``--model zoo:RUN_FOLDER``;
- ``state.json`` — a readable copy of the JSON state.

Because each file is replaced with :func:`os.replace`, a crash while writing leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shadownets.io import atomic_write_with, save_json, to_jsonable
from shadownets.train.models import ZooNet, create_model

__all__ = [
    "FORMAT",
    "Checkpoint",
    "model_spec",
    "save_checkpoint",
    "load_checkpoint",
    "save_weights",
    "load_run_model",
    "optimizer_tensors",
    "load_optimizer_tensors",
]

#: Format tag stored in every checkpoint's JSON state.
FORMAT = "shadownets-train-checkpoint/1"
CHECKPOINT_FILE = "checkpoint.safetensors"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.json"
_META_KEY = "shadownets"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model_state : dict of str to Tensor
        The model's ``state_dict``.
    optim_tensors : dict of str to Tensor
        Optimizer tensors keyed ``"<param index>.<name>"`` (see :func:`optimizer_tensors`).
    rng : dict of str to Tensor
        RNG states (uint8 tensors) keyed by name.
    state : dict
        The JSON state (format, model spec, config, epoch, param groups, history).
    """

    model_state: dict[str, torch.Tensor]
    optim_tensors: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    state: dict[str, Any]


def model_spec(model: nn.Module) -> dict[str, Any]:
    """What rebuilds a zoo model: ``{"name", "kwargs", "input_shape", "num_classes"}``."""
    if not isinstance(model, ZooNet):
        raise ValueError(f"model must be a zoo model (ZooNet); got {type(model).__name__}")
    return {"name": model.zoo_name, "kwargs": dict(model.zoo_kwargs),
            "input_shape": list(model.input_shape), "num_classes": model.num_classes}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor],
                                                                  list[dict[str, Any]]]:
    """Split an optimizer's state into tensors (for safetensors) and JSON param groups.

    Returns
    -------
    tensors : dict of str to Tensor
        ``"<param index>.<name>"`` → state tensor (non-tensor scalars become 0-d float64).
    groups : list of dict
        ``optimizer.state_dict()["param_groups"]`` as plain JSON values.
    """
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value), dtype=torch.float64)
            tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous().clone()
    groups = json.loads(json.dumps(sd["param_groups"]))
    return tensors, groups


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           groups: list[dict[str, Any]]) -> None:
    """Inverse of :func:`optimizer_tensors`: load the state into ``optimizer`` in place."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    # JSON turned tuples (Adam's betas) into lists; give them back as tuples.
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v)
               for k, v in group.items()} for group in groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _save_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    text = json.dumps(to_jsonable(meta), allow_nan=False)
    return atomic_write_with(path, lambda p: save_file(tensors, str(p),
                                                       metadata={_META_KEY: text}))


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_weights(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model``'s weights with its spec in the metadata, atomically."""
    return _save_safetensors(Path(path), _cpu(model.state_dict()),
                             {"format": FORMAT, "model": model_spec(model)})


def save_checkpoint(run_dir: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, state: dict[str, Any],
                    rng: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the run's checkpoint, weights and readable state, each atomically.

    Parameters
    ----------
    run_dir : path-like
        The run folder (created if needed).
    model : ZooNet
        The bare model (not a DDP wrapper).
    optimizer : torch.optim.Optimizer or None
    state : dict
        JSON-able state (config, epoch, history, ...); format, model spec and param groups are
        added here.
    rng : dict of str to Tensor, optional
        RNG states to store.

    Returns
    -------
    Path
        Path of ``checkpoint.safetensors``.
    """
    run_dir = Path(run_dir)
    tensors = {f"model.{k}": v for k, v in _cpu(model.state_dict()).items()}
    groups: list[dict[str, Any]] = []
    if optimizer is not None:
        opt_t, groups = optimizer_tensors(optimizer)
        tensors.update({f"optim.{k}": v for k, v in opt_t.items()})
    for name, value in (rng or {}).items():
        tensors[f"rng.{name}"] = value.detach().cpu().contiguous().clone()
    full = {**state, "format": FORMAT, "model": model_spec(model), "param_groups": groups}
    path = _save_safetensors(run_dir / CHECKPOINT_FILE, tensors, full)
    save_weights(run_dir / WEIGHTS_FILE, model)
    save_json(run_dir / STATE_FILE, {k: v for k, v in full.items() if k != "param_groups"})
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if _META_KEY not in meta:
        raise ValueError(f"{path} is not a shadownets checkpoint (no {_META_KEY!r} metadata)")
    state = json.loads(meta[_META_KEY])
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {state.get('format')!r}; "
                         f"expected {FORMAT!r}")
    return load_file(str(path)), state


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint (a run folder or its ``checkpoint.safetensors``) without unpickling."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    tensors, state = _read(path)
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "optim": {}, "rng": {}}
    for key, value in tensors.items():
        prefix, rest = key.split(".", 1)
        parts[prefix][rest] = value
    return Checkpoint(parts["model"], parts["optim"], parts["rng"], state)


def load_run_model(path: str | os.PathLike) -> ZooNet:
    """Rebuild a trained zoo model from a run folder or a ``model.safetensors`` file.

    Parameters
    ----------
    path : path-like
        A run folder written by :func:`shadownets.train.fit` or one of its safetensors files.

    Returns
    -------
    ZooNet
        The model with its trained weights, in eval mode.
    """
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    tensors, state = _read(path)
    spec = state["model"]
    model = create_model(spec["name"], tuple(spec["input_shape"]), int(spec["num_classes"]),
                         **spec["kwargs"])
    model_state = {k.split(".", 1)[1] if k.startswith("model.") else k: v
                   for k, v in tensors.items() if not k.startswith(("optim.", "rng."))}
    model.load_state_dict(model_state)
    return model.eval()
