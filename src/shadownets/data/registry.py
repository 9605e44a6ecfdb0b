"""Data-set registry: a dict of loader functions and a decorator that fills it (timm style).

A loader is a function ``loader(*, data_dir, download) -> RawData`` that returns the data set
as the source provides it (official train split, optional official test split). Splitting,
sub-sampling and normalisation are done once for every data set by
:func:`shadownets.data.load_dataset`.

A family of data sets spelled ``PREFIX:ARGUMENT`` (``folder:PATH``) is registered with
:func:`register_dataset_prefix`: a factory that turns the whole name into a loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["RawData", "Loader", "register_dataset", "register_dataset_prefix", "list_datasets",
           "get_loader"]


@dataclass(frozen=True, eq=False)
class RawData:
    """A data set as its source provides it.

    Attributes
    ----------
    x_train : Tensor of shape (N, C, H, W)
        uint8 (read as value / 255) or floating point images of the official train split.
    y_train : Tensor of shape (N,)
        Integer labels in ``[0, len(classes))``.
    x_test, y_test : Tensor or None
        The official test split, same layout; ``None`` when the source has none (a test
        split is then carved from ``x_train``).
    classes : tuple of str
        Class names, index = label.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor | None
    y_test: Tensor | None
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("classes: expected at least one class name, got an empty tuple")
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test, y_test: give both or neither, got only one of them")
        _check_pair("train", self.x_train, self.y_train, len(self.classes))
        if self.x_test is not None and self.y_test is not None:
            _check_pair("test", self.x_test, self.y_test, len(self.classes))
            if self.x_test.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(
                    f"x_test: image shape {tuple(self.x_test.shape[1:])} differs from "
                    f"x_train's {tuple(self.x_train.shape[1:])}"
                )


def _check_pair(split: str, x: Tensor, y: Tensor, num_classes: int) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x_{split}: expected a tensor of shape (N, C, H, W), got {shape}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"x_{split}: expected uint8 or floating dtype, got {x.dtype}")
    if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0]:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y_{split}: expected a tensor of shape ({x.shape[0]},), got {shape}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"y_{split}: expected an integer dtype, got {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"y_{split}: labels must lie in [0, {num_classes}), got range "
            f"[{int(y.min())}, {int(y.max())}]"
        )


Loader = Callable[..., RawData]
_REGISTRY: dict[str, Loader] = {}
_PREFIXES: dict[str, tuple[Callable[[str], Loader], str]] = {}  # prefix -> (factory, ARG)


def register_dataset(name: str, *, overwrite: bool = False) -> Callable[[Loader], Loader]:
    """Decorator that registers ``loader(*, data_dir, download) -> RawData`` under ``name``.

    Parameters
    ----------
    name : str
        Non-empty name used by :func:`load_dataset`.
    overwrite : bool, default False
        Replace an existing entry instead of raising.

    Examples
    --------
    >>> @register_dataset("my-folder")  # doctest: +SKIP
    ... def _load(*, data_dir, download):
    ...     x, y, classes = load_image_folder(data_dir)
    ...     return RawData(x, y, None, None, classes)
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: expected a non-empty string, got {name!r}")

    def decorator(loader: Loader) -> Loader:
        if not callable(loader):
            raise ValueError(f"loader: expected a callable, got {type(loader).__name__}")
        if name in _REGISTRY and not overwrite and _REGISTRY[name] is not loader:
            raise ValueError(
                f"name: data set {name!r} is already registered; pass overwrite=True to replace it"
            )
        _REGISTRY[name] = loader
        return loader

    return decorator


def register_dataset_prefix(prefix: str, *, argument: str = "ARG", overwrite: bool = False
                            ) -> Callable[[Callable[[str], Loader]], Callable[[str], Loader]]:
    """Decorator that registers a family of data sets named ``prefix:ARGUMENT``.

    The decorated ``factory(name) -> Loader`` receives the whole name (``"folder:imgs"``) when
    :func:`get_loader` is asked for it, and may refuse it (a ValueError or FileNotFoundError)
    before anything is read.

    Parameters
    ----------
    prefix : str
        Non-empty, without ``:``.
    argument : str, default "ARG"
        What follows the colon, as error messages spell it (``"PATH"``: ``folder:PATH``).
    overwrite : bool, default False
        Replace an existing entry instead of raising.
    """
    if not isinstance(prefix, str) or not prefix.strip() or ":" in prefix:
        raise ValueError(f"prefix: expected a non-empty string without ':', got {prefix!r}")

    def decorator(factory: Callable[[str], Loader]) -> Callable[[str], Loader]:
        if not callable(factory):
            raise ValueError(f"factory: expected a callable, got {type(factory).__name__}")
        if prefix in _PREFIXES and not overwrite and _PREFIXES[prefix][0] is not factory:
            raise ValueError(f"prefix: data-set prefix {prefix!r} is already registered; pass "
                             "overwrite=True to replace it")
        _PREFIXES[prefix] = (factory, argument)
        return factory

    return decorator


def list_datasets() -> list[str]:
    """Names of all registered data sets, sorted (prefixed families not included)."""
    return sorted(_REGISTRY)


def get_loader(name: str) -> Loader:
    """The loader registered under ``name``, or made by the factory of its ``prefix:``; an
    unknown name raises a ValueError listing all."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    prefix, colon, _ = name.partition(":") if isinstance(name, str) else ("", "", "")
    if colon and prefix in _PREFIXES:
        return _PREFIXES[prefix][0](name)
    families = "".join(f", {p}:{_PREFIXES[p][1]}" for p in sorted(_PREFIXES))
    raise ValueError(
        f"name: unknown data set {name!r}; known data sets: {', '.join(list_datasets())}"
        f"{families}"
    )


def call_loader(name: str, data_dir: Path | None, download: bool) -> RawData:
    """Run the loader of ``name`` and check that it returned a :class:`RawData`."""
    raw = get_loader(name)(data_dir=data_dir, download=download)
    if not isinstance(raw, RawData):
        raise ValueError(
            f"name: the loader of data set {name!r} must return RawData, got {type(raw).__name__}"
        )
    return raw
