"""Seeded, stratified index selection: train/val/test splits, subsets and label budgets.

Every function returns int64 indices (sorted ascending) and depends only on the labels and the
seed, so the same call always gives the same answer.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["stratified_split", "stratified_subset", "label_budget", "resolve_size"]


def _check_labels(y: Tensor) -> Tensor:
    if not isinstance(y, Tensor) or y.ndim != 1:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a 1-D integer tensor of labels, got {shape}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"y: expected an integer dtype, got {y.dtype}")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"y: labels must be non-negative, got minimum {int(y.min())}")
    return y.to(torch.int64)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    return seed


def resolve_size(size: int | float, total: int, *, name: str) -> int:
    """Turn a count (int) or a fraction in [0, 1) (float) of ``total`` into a count."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"{name}: expected an int count or a float fraction, got {size!r}")
    if isinstance(size, float):
        if not 0.0 <= size < 1.0:
            raise ValueError(f"{name}: a fraction must lie in [0, 1), got {size}")
        return int(round(size * total))
    if not 0 <= size <= total:
        raise ValueError(f"{name}: a count must lie in [0, {total}], got {size}")
    return size


def _class_members(y: Tensor, generator: torch.Generator) -> list[Tensor]:
    """Indices of each class, in a seeded random order."""
    members = []
    for c in range(int(y.max()) + 1 if y.numel() else 0):
        idx = torch.nonzero(y == c).flatten()
        members.append(idx[torch.randperm(idx.numel(), generator=generator)])
    return members


def _proportional_counts(sizes: list[int], n_take: int) -> list[int]:
    """Largest-remainder allocation of ``n_take`` in proportion to ``sizes``."""
    total = sum(sizes)
    exact = [n_take * s / total for s in sizes]
    counts = [int(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda c: (-(exact[c] - counts[c]), c))
    for c in order[: n_take - sum(counts)]:
        counts[c] += 1
    return counts


def stratified_subset(y: Tensor, n_take: int, *, seed: int) -> Tensor:
    """Pick ``n_take`` indices with class proportions as close to those of ``y`` as possible.

    Parameters
    ----------
    y : Tensor of shape (N,)
        Integer labels.
    n_take : int
        Number of indices, ``0 <= n_take <= N``.
    seed : int
        Seed of the selection.

    Returns
    -------
    Tensor of shape (n_take,)
        Sorted int64 indices into ``y``.
    """
    y = _check_labels(y)
    seed = _check_seed(seed)
    if isinstance(n_take, bool) or not isinstance(n_take, int) or not 0 <= n_take <= y.numel():
        raise ValueError(f"n_take: expected an int in [0, {y.numel()}], got {n_take!r}")
    if n_take == 0:
        return torch.empty(0, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    members = _class_members(y, generator)
    counts = _proportional_counts([m.numel() for m in members], n_take)
    picked = torch.cat([m[:k] for m, k in zip(members, counts, strict=True)])
    return picked.sort().values


def stratified_split(y: Tensor, n_second: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """Split indices of ``y`` in two disjoint stratified parts, the second of size ``n_second``.

    Returns
    -------
    first, second : Tensor of shape (N - n_second,) and (n_second,)
        Sorted int64 indices; together they are a partition of ``range(N)``.
    """
    second = stratified_subset(y, n_second, seed=seed)
    mask = torch.ones(y.numel(), dtype=torch.bool)
    mask[second] = False
    return torch.nonzero(mask).flatten(), second


def label_budget(y: Tensor, n_labels: int, *, seed: int) -> Tensor:
    """Choose ``n_labels`` examples to keep labeled, as equally spread over classes as possible.

    Each class gets ``n_labels // K`` examples, the remainder going to randomly chosen (seeded)
    classes; a class with too few examples gives all it has and the rest is spread over the
    others.

    Parameters
    ----------
    y : Tensor of shape (N,)
        Integer labels in ``[0, K)``.
    n_labels : int
        Budget, ``1 <= n_labels <= N``.
    seed : int
        Seed of the choice.

    Returns
    -------
    Tensor of shape (n_labels,)
        Sorted int64 indices into ``y``.
    """
    y = _check_labels(y)
    seed = _check_seed(seed)
    if isinstance(n_labels, bool) or not isinstance(n_labels, int) or n_labels < 1:
        raise ValueError(f"n_labels: expected a positive int, got {n_labels!r}")
    if n_labels > y.numel():
        raise ValueError(
            f"n_labels: the budget {n_labels} exceeds the {y.numel()} examples available"
        )
    generator = torch.Generator().manual_seed(seed)
    members = _class_members(y, generator)
    capacity = [m.numel() for m in members]
    counts = [0] * len(members)
    left = n_labels
    while left > 0:  # water-filling: equal shares among classes that still have examples
        open_ = [c for c in range(len(members)) if counts[c] < capacity[c]]
        share = left // len(open_)
        if share == 0:  # fewer left than open classes: one more each for a seeded choice
            order = torch.randperm(len(open_), generator=generator).tolist()
            for i in order[:left]:
                counts[open_[i]] += 1
            break
        for c in open_:
            add = min(share, capacity[c] - counts[c])
            counts[c] += add
            left -= add
    picked = torch.cat([m[:k] for m, k in zip(members, counts, strict=True)])
    return picked.sort().values
