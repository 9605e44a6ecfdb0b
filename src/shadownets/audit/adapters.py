"""Input adapters: whatever the user hands the audit becomes one float tensor of real inputs."""

from __future__ import annotations

import os

import torch

from shadownets.data import presets
from shadownets.data.inputs import load_inputs, subset_indices

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "as_inputs",
    "subset_inputs",
    "load_data_spec",
    "resolve_torchvision_spec",
    "resolve_timm_spec",
]

IMAGENET_MEAN = presets.IMAGENET_MEAN
IMAGENET_STD = presets.IMAGENET_STD


def as_inputs(data: object) -> torch.Tensor:
    """Real inputs as a float tensor of shape (batch, ...).

    Parameters
    ----------
    data : torch.Tensor, numpy array or shadownets.data.DataSplits
        A tensor/array of inputs (batch first), or data splits (their ``x_test`` is used).
    """
    x = getattr(data, "x_test", data)
    if not isinstance(x, torch.Tensor):
        try:
            import numpy as np

            if isinstance(x, np.ndarray):
                x = torch.from_numpy(x)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"data must be a tensor of inputs (batch, ...) or a DataSplits, got "
            f"{type(data).__name__}"
        )
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"data must have shape (batch >= 2, ...), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError("data must be finite (found NaN or inf)")
    return x


def subset_inputs(x: torch.Tensor, n: int, *, seed: int) -> torch.Tensor:
    """A seeded random subset of ``n`` rows of ``x`` (all of them, in order, if fewer)."""
    return x[subset_indices(x.shape[0], n, seed=seed)]


def load_data_spec(spec: str, *, input_shape: tuple[int, ...] | None = None,
                   data_dir: str | os.PathLike | None = None,
                   preset: str | presets.ImagePreset | None = None,
                   limit: int | None = None, seed: int | None = None) -> torch.Tensor:
    """Real inputs named on the command line: :func:`shadownets.data.load_inputs`.

    Parameters
    ----------
    spec : str
        A data-set name from :func:`shadownets.data.list_datasets` (its test split),
        ``photos`` (the photographs bundled with scikit-image) or ``folder:PATH`` (images in
        ``PATH`` and ``PATH/<class>/``).
    input_shape : tuple of int, optional
        (C, H, W) the model expects, for folders and photos (default 3x224x224).
    data_dir : path-like, optional
        Data-set cache folder.
    preset : str, ImagePreset or None
        Image preset for folders and photos (``"imagenet"``: resize 256, centre crop 224,
        ImageNet mean/std; ``"resize"``: stretched to ``input_shape``); None: ``"imagenet"``
        for a 3x224x224 (or unknown) input shape, else ``"resize"``.
    limit, seed : int, optional
        Keep at most ``limit`` inputs, a seeded random subset with ``seed`` (the rows
        :func:`subset_inputs` would keep), decoding only those.

    Returns
    -------
    Tensor of shape (N, C, H, W), float32
    """
    return load_inputs(spec, input_shape=input_shape, preset=preset, data_dir=data_dir,
                       limit=limit, seed=seed)


def resolve_torchvision_spec(name: str, kwargs: dict) -> torch.nn.Module:
    """``torchvision:NAME`` -> ``torchvision.models.NAME(**kwargs)``.

    Without a ``weights`` kwarg the pretrained ``"DEFAULT"`` weights are requested
    (torchvision reads them from its cache, downloading if allowed); pass
    ``{"weights": null}`` with ``--weights FILE`` to load a local state dict instead.
    """
    try:
        import torchvision.models as models
    except ImportError as exc:
        raise ValueError(
            f"model: torchvision:{name} needs torchvision, which is not installed "
            f"(pip install torchvision) ({exc})"
        ) from None
    factory = getattr(models, name, None)
    if not callable(factory):
        known = sorted(n for n in dir(models) if n.islower() and not n.startswith("_")
                       and callable(getattr(models, n)))
        raise ValueError(f"model: torchvision has no model {name!r}; known: {known[:30]}")
    kwargs = dict(kwargs)
    kwargs.setdefault("weights", "DEFAULT")
    return factory(**kwargs)


def resolve_timm_spec(name: str, kwargs: dict) -> torch.nn.Module:
    """``timm:NAME`` -> ``timm.create_model(NAME, **kwargs)`` (``pretrained=True`` by default)."""
    try:
        import timm
    except ImportError as exc:
        raise ValueError(
            f"model: timm:{name} needs timm, which is not installed (pip install timm) ({exc})"
        ) from None
    kwargs = dict(kwargs)
    kwargs.setdefault("pretrained", True)
    return timm.create_model(name, **kwargs)
