"""``load_dataset``: any registered data set as normalised, stratified train/val/test splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from shadownets.data.registry import RawData, call_loader, get_loader
from shadownets.data.splits import resolve_size, stratified_split, stratified_subset

__all__ = ["DataSplits", "load_dataset", "DEFAULT_TEST_FRACTION", "DEFAULT_VAL_FRACTION"]

#: Share of all examples set aside as test when the source has no official test split.
DEFAULT_TEST_FRACTION = 0.2
#: Default val share of the official train split (sources with a test split).
DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Normalised train/val/test splits of one data set.

    Attributes
    ----------
    name : str
    x_train, x_val, x_test : Tensor of shape (N_split, C, H, W), float32
        Normalised per channel with the train split's ``mean`` and ``std``.
    y_train, y_val, y_test : Tensor of shape (N_split,), int64
    num_classes : int
    mean, std : tuple of float, length C
        Per-channel statistics of the (raw, [0, 1]-scaled) train split.
    classes : tuple of str
    input_shape : tuple of int
        (C, H, W).
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if tuple(x.shape[1:]) != tuple(self.input_shape) or y.shape != (x.shape[0],):
                raise ValueError(
                    f"x_{split}: expected shape (N, {', '.join(map(str, self.input_shape))}) "
                    f"with labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}"
                )
        if len(self.mean) != self.input_shape[0] or len(self.std) != self.input_shape[0]:
            raise ValueError(f"mean, std: expected {self.input_shape[0]} values each, got "
                             f"{len(self.mean)} and {len(self.std)}")
        if len(self.classes) != self.num_classes:
            raise ValueError(f"classes: expected {self.num_classes} names, got "
                             f"{len(self.classes)}")

    def raw(self, x: Tensor) -> Tensor:
        """Undo the normalisation: ``x * std + mean`` per channel.

        Parameters
        ----------
        x : Tensor of shape (..., C, H, W)

        Returns
        -------
        Tensor of the same shape.
        """
        if not isinstance(x, Tensor) or x.ndim < 3 or x.shape[-3] != len(self.mean):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a tensor of shape (..., {len(self.mean)}, H, W), "
                             f"got {shape}")
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x * std + mean


def _check_args(name: str, data_dir: str | os.PathLike | None, download: bool, seed: int,
                limit_train: int | None) -> Path | None:
    if not isinstance(name, str):
        raise ValueError(f"name: expected a data-set name (str), got {type(name).__name__}")
    get_loader(name)  # unknown name -> ValueError listing the known ones
    if not isinstance(download, bool):
        raise ValueError(f"download: expected True or False, got {download!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    if limit_train is not None and (isinstance(limit_train, bool)
                                    or not isinstance(limit_train, int) or limit_train < 1):
        raise ValueError(f"limit_train: expected None or a positive int, got {limit_train!r}")
    return None if data_dir is None else Path(data_dir).expanduser()


def _as_float(x: Tensor) -> Tensor:
    return x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)


def _channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x64 = x.to(torch.float64)
    mean = x64.mean(dim=(0, 2, 3))
    std = x64.std(dim=(0, 2, 3), unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))  # constant channel: leave scale
    return tuple(mean.tolist()), tuple(std.tolist())


def _pools(raw: RawData, val_size: int | float | None, seed: int) -> dict[str, Tensor | None]:
    """Indices into ``raw.x_train`` of the train, val and test splits (test None: official)."""
    y_all = raw.y_train.to(torch.int64)
    if raw.x_test is None:  # carve test first, then val from the rest
        n_test = resolve_size(DEFAULT_TEST_FRACTION, y_all.numel(), name="test")
        rest, test = stratified_split(y_all, n_test, seed=seed)
        default_val = n_test / rest.numel() if rest.numel() else 0.0
    else:
        rest, test = torch.arange(y_all.numel()), None
        default_val = DEFAULT_VAL_FRACTION
    size = default_val if val_size is None else val_size
    n_val = resolve_size(size, rest.numel(), name="val_size")
    train_local, val_local = stratified_split(y_all[rest], n_val, seed=seed + 1)
    return {"train": rest[train_local], "val": rest[val_local], "test": test}


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = True,
                 seed: int = 0, val_size: int | float | None = None,
                 limit_train: int | None = None) -> DataSplits:
    """Load a registered data set as normalised, stratified train/val/test splits.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`: ``"digits"`` (offline, 1x8x8), ``"mnist"``,
        ``"fashion-mnist"`` (1x28x28), ``"cifar10"`` (3x32x32), ``"mnist1d"`` (offline,
        1x1x40 signals), ``"synthetic"`` (1x16x16),
        ``"folder:PATH"`` (your images in ``PATH/<class>/``, all of one size, kept at that
        size; 1 channel when all are gray; split 60/20/20) or a name added with
        :func:`register_dataset`.
    data_dir : path-like, optional
        Folder holding (or receiving) the data files; default
        ``default_cache_dir() / name``.
    download : bool, default True
        Fetch missing files (checksums verified). Files already in ``data_dir`` are never
        replaced: one whose checksum differs from the published one is used as the user's own,
        with a one-line note (see :mod:`shadownets.data.download`).
    seed : int, default 0
        Seed of every split and subset.
    val_size : int or float, optional
        Validation examples: a count, or a fraction in [0, 1) of the official train split
        (of what remains after the test split for sources without one). Default: 10 % of the
        official train split; for sources without a test split, as many as the test split,
        which is 20 % of everything (so 60/20/20).
    limit_train : int, optional
        Keep a seeded stratified subset of this many training examples.

    Returns
    -------
    DataSplits
        Images float32 (N, C, H, W) normalised with the train split's per-channel mean and
        std (computed after ``limit_train``); labels int64 (N,).
    """
    folder = _check_args(name, data_dir, download, seed, limit_train)
    raw = call_loader(name, folder, download)
    parts = _pools(raw, val_size, seed)
    y_all = raw.y_train.to(torch.int64)
    train = parts["train"]
    if limit_train is not None:
        if limit_train > train.numel():
            raise ValueError(f"limit_train: only {train.numel()} training examples, got "
                             f"limit_train={limit_train}")
        train = train[stratified_subset(y_all[train], limit_train, seed=seed + 2)]
    x_train = _as_float(raw.x_train[train])
    mean, std = _channel_stats(x_train)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def norm(x: Tensor) -> Tensor:
        return ((_as_float(x) - m) / s).contiguous()

    if parts["test"] is None:
        x_test, y_test = raw.x_test, raw.y_test
    else:
        x_test, y_test = raw.x_train[parts["test"]], y_all[parts["test"]]
    return DataSplits(
        name=name,
        x_train=(x_train - m) / s, y_train=y_all[train],
        x_val=norm(raw.x_train[parts["val"]]), y_val=y_all[parts["val"]],
        x_test=norm(x_test), y_test=y_test.to(torch.int64),  # type: ignore[union-attr]
        num_classes=len(raw.classes), mean=mean, std=std, classes=tuple(raw.classes),
        input_shape=tuple(int(s) for s in raw.x_train.shape[1:]),
    )
