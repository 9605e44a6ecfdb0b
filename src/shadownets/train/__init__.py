"""Training with shadow data: model zoo, ShadowAugmenter, trainer, comparison with verdicts
(win / loss / tie / undetermined, Holm-adjusted, with power).

Importing this package registers the model-spec prefix ``zoo:`` with
:func:`shadownets.specs.register_spec_prefix` (when that module is available), so that
``zoo:lenet`` with kwargs ``{"input_shape": [1, 28, 28], "num_classes": 10, ...}`` builds a zoo
model and ``zoo:runs/my-run`` rebuilds (with weights) a model saved by :func:`fit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from shadownets.train.augment import ShadowAugmenter, ShadowConfig, match_scale
from shadownets.train.checkpoint import load_checkpoint, load_run_model, model_spec
from shadownets.train.compare import (
    DEFAULT_GRIDS,
    CompareConfig,
    CompareResult,
    compare,
    family_verdicts,
    paired_interval,
    summarise,
)
from shadownets.train.config import METHODS, TrainConfig
from shadownets.train.loop import RunResult, TrainingDiverged, evaluate, fit
from shadownets.train.models import (
    ZooNet,
    create_model,
    hidden_layer_names,
    list_models,
    register_model,
    resolve_layer,
)
from shadownets.train.tables import markdown_tables

__all__ = [
    "DEFAULT_GRIDS",
    "METHODS",
    "CompareConfig",
    "CompareResult",
    "RunResult",
    "ShadowAugmenter",
    "ShadowConfig",
    "TrainConfig",
    "TrainingDiverged",
    "ZooNet",
    "compare",
    "create_model",
    "evaluate",
    "family_verdicts",
    "fit",
    "hidden_layer_names",
    "list_models",
    "load_checkpoint",
    "load_run_model",
    "markdown_tables",
    "match_scale",
    "model_spec",
    "paired_interval",
    "register_model",
    "resolve_layer",
    "resolve_zoo_spec",
    "summarise",
]


def resolve_zoo_spec(name: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Resolver of the ``zoo:`` model-spec prefix.

    Parameters
    ----------
    name : str
        A small training-zoo model (:func:`list_models`; then ``kwargs`` must hold
        ``input_shape`` and ``num_classes`` plus the model's options), a torchvision-layout
        architecture (:func:`shadownets.archs.list_archs`: ``alexnet``, ``vgg11_bn``,
        ``vgg16``, ``resnet18``, ``resnet50``; ``kwargs`` are optional, e.g.
        ``{"activation": "gelu"}``, ``num_classes`` defaults to 1000), or a run folder /
        ``model.safetensors`` written by :func:`fit` (then the model is rebuilt from the
        stored spec, with its weights, and ``kwargs`` must be empty).
    kwargs : dict, optional

    Returns
    -------
    nn.Module
    """
    from shadownets.archs import create_arch, list_archs

    kwargs = dict(kwargs or {})
    if name in list_models():
        missing = [k for k in ("input_shape", "num_classes") if k not in kwargs]
        if missing:
            raise ValueError(f"zoo:{name} needs model kwargs {missing} (e.g. "
                             f"'{{\"input_shape\": [1, 28, 28], \"num_classes\": 10}}'); "
                             f"got {sorted(kwargs)}")
        shape = tuple(int(s) for s in kwargs.pop("input_shape"))
        return create_model(name, shape, int(kwargs.pop("num_classes")), **kwargs)
    if name in list_archs():
        try:
            return create_arch(name, **kwargs)
        except ValueError as exc:
            raise ValueError(f"zoo:{exc}") from None
    if Path(name).exists():
        if kwargs:
            raise ValueError(f"zoo:{name} is a run folder: its spec is stored, so model kwargs "
                             f"must be empty; got {sorted(kwargs)}")
        return load_run_model(name)
    raise ValueError(f"zoo: {name!r} is neither a zoo model ({', '.join(list_models())}), a "
                     f"torchvision-layout architecture ({', '.join(list_archs())}) nor an "
                     f"existing run folder")


def _register_zoo_prefix() -> None:
    try:
        from shadownets.specs import register_spec_prefix
    except ImportError:  # specs not installed in this build: nothing to register with
        return
    register_spec_prefix("zoo", resolve_zoo_spec)


_register_zoo_prefix()
