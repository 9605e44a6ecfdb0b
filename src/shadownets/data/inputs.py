"""Data specs: the one parser of what ``--data`` names, and the real inputs it gives a model.

A data spec is one of

``NAME``
    A registered data set (:func:`~shadownets.data.list_datasets`): its test split, normalised
    with its train split's statistics (:func:`~shadownets.data.load_dataset`).
``folder:PATH``
    Images in ``PATH`` and in its sub-folders ``PATH/<class>/`` (one level; any sizes, any
    mix of RGB, grayscale, palette or RGBA files), through an image preset
    (:mod:`shadownets.data.presets`).
``photos``
    The five natural photographs bundled with scikit-image (:mod:`shadownets.data.photos`),
    through an image preset: no download.

For ``folder:PATH`` and ``photos`` the preset defaults to ``"imagenet"`` (resize 256, centre
crop 224, ImageNet mean/std) when the model takes 3 x 224 x 224 inputs or does not say, and to
``"resize"`` (stretched to the model's (H, W)) otherwise. Images are converted to the model's
channels: grayscale replicated to RGB for a 3-channel net, colour turned to luma for a
1-channel one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from shadownets.data.folder import FOLDER_PREFIX, folder_root, list_image_files, read_image
from shadownets.data.presets import ImagePreset, preprocess, resolve_preset

__all__ = ["PHOTOS_SPEC", "DataSpec", "parse_data_spec", "load_inputs", "subset_indices"]

#: The data spec of the bundled photographs.
PHOTOS_SPEC = "photos"


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec.

    Attributes
    ----------
    kind : {"dataset", "folder", "photos"}
    text : str
        The spec as given.
    root : Path or None
        The image folder (kind ``"folder"``), which existed when the spec was parsed.
    """

    kind: str
    text: str
    root: Path | None = None

    @property
    def is_images(self) -> bool:
        """Whether an image preset applies (folders and photos)."""
        return self.kind in ("folder", "photos")


def parse_data_spec(spec: str) -> DataSpec:
    """Parse a data spec (see the module docstring); nothing is read yet.

    Raises
    ------
    ValueError
        Not a string, or an unknown name (the message lists the known ones).
    FileNotFoundError
        ``folder:PATH`` whose folder does not exist.
    """
    from shadownets.data.registry import list_datasets

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data: expected a data set name, photos or folder:PATH, got {spec!r}")
    if spec == PHOTOS_SPEC:
        return DataSpec("photos", spec)
    if spec.startswith(FOLDER_PREFIX):
        return DataSpec("folder", spec, folder_root(spec))
    if spec not in list_datasets():
        raise ValueError(f"data must be one of {', '.join([*list_datasets(), PHOTOS_SPEC])} or "
                         f"folder:PATH, got {spec!r}")
    return DataSpec("dataset", spec)


def subset_indices(total: int, n: int | None, *, seed: int | None) -> Tensor:
    """Which of ``total`` inputs to keep: at most ``n``, in order.

    Parameters
    ----------
    total : int
    n : int or None
        None (or ``n >= total``): all of them.
    seed : int or None
        None: the first ``n``; an int: a seeded random choice of ``n``
        (``randperm(total)[:n]`` from a CPU generator seeded with ``seed``), sorted.

    Returns
    -------
    Tensor of shape (min(n, total),), int64
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"limit: expected None or a positive int, got {n!r}")
    if n is None or total <= n:
        return torch.arange(total)
    if seed is None:
        return torch.arange(n)
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(total, generator=g)[:n].sort().values


def _folder_inputs(root: Path, preset: ImagePreset, channels: int, size: tuple[int, int],
                   limit: int | None, seed: int | None) -> Tensor:
    files, _, _ = list_image_files(root, classes=False)
    keep = subset_indices(len(files), limit, seed=seed).tolist()
    out_h, out_w = preset.output_size(size)
    x = torch.empty(len(keep), channels, out_h, out_w)
    for i, j in enumerate(keep):  # one decoded image in memory at a time
        x[i] = preprocess(read_image(files[j], channels), preset, size)
    return x


def load_inputs(spec: str, *, input_shape: tuple[int, ...] | None = None,
                preset: str | ImagePreset | None = None,
                data_dir: str | os.PathLike | None = None, download: bool = True,
                limit: int | None = None, seed: int | None = None) -> Tensor:
    """Real inputs named by a data spec, for a model taking ``input_shape``.

    Parameters
    ----------
    spec : str
        A registered data-set name, ``folder:PATH`` or ``photos`` (see the module docstring).
    input_shape : tuple of int, optional
        (C, H, W) the model takes, C in {1, 3}, for folders and photos; default
        (3, 224, 224). Ignored for registered data sets (they have their own shape).
    preset : str, ImagePreset or None
        ``"imagenet"``, ``"resize"`` or an :class:`~shadownets.data.presets.ImagePreset`, for
        folders and photos; None picks by ``input_shape`` (see
        :func:`~shadownets.data.presets.resolve_preset`). Refused for registered data sets.
    data_dir : path-like, optional
        Cache folder of a registered data set (see :func:`~shadownets.data.load_dataset`).
    download : bool, default True
        Let a registered data set fetch missing files.
    limit : int, optional
        Keep at most this many inputs (a folder decodes only those): the first ones, or with
        ``seed`` a seeded random subset in order (see :func:`subset_indices`).
    seed : int, optional
        Seed of that subset.

    Returns
    -------
    Tensor of shape (N, C, H, W), float32
        N <= ``limit``; normalised (the data set's train statistics, or the preset's).

    Raises
    ------
    ValueError
        An unknown spec, preset or bad ``input_shape``; a preset for a registered data set; an
        empty folder or an image that does not decode (named); scikit-image missing for
        ``photos``.
    FileNotFoundError
        A ``folder:PATH`` that does not exist.
    """
    parsed = parse_data_spec(spec)
    if not parsed.is_images:
        if preset is not None:
            raise ValueError(f"preset: applies to folder:PATH and photos, not to the data set "
                             f"{spec!r} (it comes normalised with its own train statistics)")
        from shadownets.data.loading import load_dataset

        x = load_dataset(spec, data_dir=data_dir, download=download).x_test
        return x[subset_indices(x.shape[0], limit, seed=seed)]
    chosen, channels, size = resolve_preset(preset, input_shape)
    if parsed.kind == "folder":
        return _folder_inputs(parsed.root, chosen, channels, size, limit, seed)
    from shadownets.data.photos import PHOTO_NAMES, photo_inputs

    keep = subset_indices(len(PHOTO_NAMES), limit, seed=seed).tolist()
    return photo_inputs([PHOTO_NAMES[i] for i in keep], preset=chosen,
                        input_shape=(channels, *size))
