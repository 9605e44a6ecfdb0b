"""Input adapters: whatever the user hands the audit becomes one float tensor of real inputs."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "as_inputs",
    "subset_inputs",
    "load_data_spec",
    "resolve_torchvision_spec",
    "resolve_timm_spec",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    if x.shape[0] <= n:
        return x
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(x.shape[0], generator=g)[:n].sort().values
    return x[idx]


def load_data_spec(spec: str, *, input_shape: tuple[int, ...] | None = None,
                   data_dir: str | os.PathLike | None = None) -> torch.Tensor:
    """Real inputs named on the command line.

    Parameters
    ----------
    spec : str
        A data-set name from :func:`shadownets.data.list_datasets` (its test split), or
        ``folder:PATH`` — images under ``PATH/<class>/`` (or directly in ``PATH``), resized
        to ``input_shape`` (default 3×224×224) and normalised with the ImageNet mean/std
        (for torchvision-style nets).
    input_shape : tuple of int, optional
        (C, H, W) the model expects, for folders.
    data_dir : path-like, optional
        Data-set cache folder.
    """
    if spec.startswith("folder:"):
        return _load_folder(Path(spec[len("folder:"):]), input_shape or (3, 224, 224))
    from shadownets.data import list_datasets, load_dataset

    names = list_datasets()
    if spec not in names:
        raise ValueError(f"data must be one of {names} or folder:PATH, got {spec!r}")
    return load_dataset(spec, data_dir=data_dir).x_test


def _load_folder(root: Path, input_shape: tuple[int, ...]) -> torch.Tensor:
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise ValueError(f"input_shape must be (1 or 3, H, W) for an image folder, "
                         f"got {input_shape}")
    from shadownets.data import load_image_folder

    c, h, w = (int(s) for s in input_shape)
    has_classes = any(p.is_dir() for p in root.iterdir())
    if has_classes:
        x, _, _ = load_image_folder(root, size=(h, w), grayscale=c == 1)
    else:  # a flat folder of images: treat it as one class
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            link = Path(tmp) / "images"
            os.symlink(root.resolve(), link)
            try:
                x, _, _ = load_image_folder(tmp, size=(h, w), grayscale=c == 1)
            except ValueError as exc:  # name the user's folder, not the temporary link
                raise ValueError(str(exc).replace(str(link), str(root))) from exc
    mean = torch.tensor(IMAGENET_MEAN[:c] if c == 3 else (0.5,)).reshape(1, c, 1, 1)
    std = torch.tensor(IMAGENET_STD[:c] if c == 3 else (0.5,)).reshape(1, c, 1, 1)
    return (x - mean) / std


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
