"""Tests for seeded stratified splits, subsets and label budgets."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shadownets.data.splits import (
    label_budget,
    resolve_size,
    stratified_split,
    stratified_subset,
)


def _labels(counts: list[int], seed: int = 0) -> torch.Tensor:
    y = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


def test_split_is_a_stratified_partition():
    y = _labels([50, 30, 20])
    first, second = stratified_split(y, 20, seed=3)
    assert torch.equal(torch.cat([first, second]).sort().values, torch.arange(100))
    assert torch.bincount(y[second], minlength=3).tolist() == [10, 6, 4]  # exact proportions
    assert torch.bincount(y[first], minlength=3).tolist() == [40, 24, 16]


def test_split_seeded_and_reproducible():
    y = _labels([40, 40, 40])
    a = stratified_split(y, 30, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a, stratified_split(y, 30, seed=1), strict=True))
    assert not torch.equal(a[1], stratified_split(y, 30, seed=2)[1])


def test_subset_largest_remainder_counts():
    # 7 of (5, 3, 2): exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the one left to class 0
    y = _labels([5, 3, 2])
    sub = stratified_subset(y, 7, seed=0)
    assert torch.bincount(y[sub], minlength=3).tolist() == [4, 2, 1]
    assert sub.dtype == torch.int64 and torch.equal(sub, sub.sort().values)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 12), min_size=1, max_size=6).filter(lambda c: sum(c) > 0),
       frac=st.floats(0, 1), seed=st.integers(0, 1000))
def test_subset_properties(counts, frac, seed):
    y = _labels(counts)
    n = int(frac * len(y))
    sub = stratified_subset(y, n, seed=seed)
    assert sub.numel() == n == sub.unique().numel()
    got = torch.bincount(y[sub], minlength=len(counts)).tolist()
    for c, k in zip(counts, got, strict=True):  # within one of the exact proportional share
        assert abs(k - n * c / len(y)) < 1 and k <= c


def test_label_budget_equal_per_class():
    y = _labels([100, 100, 100, 100])
    idx = label_budget(y, 40, seed=0)
    assert torch.bincount(y[idx]).tolist() == [10, 10, 10, 10]
    assert idx.dtype == torch.int64 and idx.unique().numel() == 40


def test_label_budget_remainder_spread_and_seeded():
    y = _labels([50, 50, 50])
    counts = {tuple(torch.bincount(y[label_budget(y, 10, seed=s)], minlength=3).tolist())
              for s in range(20)}
    assert all(sorted(c) == [3, 3, 4] for c in counts)
    assert len(counts) > 1  # the extra example does not always go to the same class
    assert torch.equal(label_budget(y, 10, seed=7), label_budget(y, 10, seed=7))


def test_label_budget_small_class_gives_all_it_has():
    y = _labels([2, 50, 50])
    idx = label_budget(y, 30, seed=0)
    assert torch.bincount(y[idx]).tolist() == [2, 14, 14]


def test_label_budget_whole_set():
    y = _labels([3, 1, 4])
    assert torch.equal(label_budget(y, 8, seed=0), torch.arange(8))


def test_label_budget_larger_seeds_nest_per_class_prefix():
    # the same seeded order per class: a bigger budget keeps the smaller one's examples
    y = _labels([30, 30])
    small, big = label_budget(y, 10, seed=4), label_budget(y, 20, seed=4)
    assert set(small.tolist()) <= set(big.tolist())


def test_label_budget_errors():
    y = _labels([3, 3])
    with pytest.raises(ValueError, match="n_labels: the budget 7 exceeds the 6 examples"):
        label_budget(y, 7, seed=0)
    with pytest.raises(ValueError, match="n_labels: expected a positive int, got 0"):
        label_budget(y, 0, seed=0)
    with pytest.raises(ValueError, match="seed: expected a non-negative int, got -1"):
        label_budget(y, 2, seed=-1)
    with pytest.raises(ValueError, match="y: expected an integer dtype, got torch.float32"):
        label_budget(y.float(), 2, seed=0)
    with pytest.raises(ValueError, match="y: expected a 1-D integer tensor"):
        label_budget(y[None], 2, seed=0)
    with pytest.raises(ValueError, match="y: labels must be non-negative"):
        label_budget(y - 1, 2, seed=0)


def test_subset_and_size_errors():
    y = _labels([3, 3])
    with pytest.raises(ValueError, match="n_take: expected an int in \\[0, 6\\], got 9"):
        stratified_subset(y, 9, seed=0)
    with pytest.raises(ValueError, match="val_size: a fraction must lie in \\[0, 1\\), got 1.5"):
        resolve_size(1.5, 10, name="val_size")
    with pytest.raises(ValueError, match="val_size: a count must lie in \\[0, 10\\], got 11"):
        resolve_size(11, 10, name="val_size")
    with pytest.raises(ValueError, match="val_size: expected an int count or a float fraction"):
        resolve_size("3", 10, name="val_size")
    assert resolve_size(0.25, 10, name="v") == 2 and resolve_size(4, 10, name="v") == 4


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 15), min_size=1, max_size=6).filter(lambda c: sum(c) > 0),
       frac=st.floats(0.01, 1), seed=st.integers(0, 1000))
def test_label_budget_water_filling_property(counts, frac, seed):
    # oracle: brute force over allocations is the water level t with sum(min(c, t)) <= n
    y = _labels(counts)
    n = max(1, int(frac * len(y)))
    got = torch.bincount(y[label_budget(y, n, seed=seed)], minlength=len(counts)).tolist()
    assert sum(got) == n and all(g <= c for g, c in zip(got, counts, strict=True))
    level = max(t for t in range(max(counts) + 1) if sum(min(c, t) for c in counts) <= n)
    for g, c in zip(got, counts, strict=True):
        assert g in (min(c, level), min(c, level + 1))
