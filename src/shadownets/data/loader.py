"""``make_loader``: a seeded torch DataLoader over in-memory tensors."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["make_loader"]


def make_loader(x: Tensor, y: Tensor, *, batch_size: int, shuffle: bool,
                seed: int | None = None, drop_last: bool = False) -> DataLoader:
    """Mini-batches of ``(x, y)``; the shuffle order depends only on ``seed``.

    Parameters
    ----------
    x : Tensor of shape (N, ...)
    y : Tensor of shape (N,)
    batch_size : int
        Positive.
    shuffle : bool
        Reshuffle every epoch, from a generator seeded with ``seed`` (``None`` means 0), so
        the sequence of epochs is reproducible.
    seed : int, optional
    drop_last : bool, default False

    Returns
    -------
    DataLoader
        Yields ``(x_batch, y_batch)`` of shapes (B, ...) and (B,), in the main process.
    """
    if not isinstance(x, Tensor) or x.ndim < 1:
        raise ValueError(f"x: expected a tensor of shape (N, ...), got {type(x).__name__}")
    if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0]:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a tensor of shape ({x.shape[0]},), got {shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed: expected None or a non-negative int, got {seed!r}")
    generator = torch.Generator().manual_seed(0 if seed is None else seed) if shuffle else None
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=bool(shuffle),
                      drop_last=bool(drop_last), generator=generator)
