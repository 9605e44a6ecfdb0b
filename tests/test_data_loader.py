"""Tests for make_loader: batches, seeded shuffles, argument checks."""

from __future__ import annotations

import pytest
import torch

from shadownets.data import make_loader

X = torch.arange(10, dtype=torch.float32).view(10, 1)
Y = torch.arange(10)


def _order(loader) -> list[int]:
    return [int(v) for _, yb in loader for v in yb]


def test_no_shuffle_keeps_order_and_drop_last():
    assert _order(make_loader(X, Y, batch_size=4, shuffle=False)) == list(range(10))
    sizes = [len(yb) for _, yb in make_loader(X, Y, batch_size=4, shuffle=False, drop_last=True)]
    assert sizes == [4, 4]


def test_shuffle_seeded_reproducible_and_epochs_differ():
    a = make_loader(X, Y, batch_size=3, shuffle=True, seed=5)
    b = make_loader(X, Y, batch_size=3, shuffle=True, seed=5)
    first, second = _order(a), _order(a)
    assert first == _order(b) and second == _order(b)
    assert sorted(first) == list(range(10)) and first != second
    assert _order(make_loader(X, Y, batch_size=3, shuffle=True, seed=6)) != first


def test_batches_pair_x_with_y():
    for xb, yb in make_loader(X, Y, batch_size=4, shuffle=True, seed=0):
        assert torch.equal(xb[:, 0].long(), yb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size: expected a positive int, got 0"),
        ({"y": torch.arange(9)}, "y: expected a tensor of shape \\(10,\\), got \\(9,\\)"),
        ({"x": [1, 2]}, "x: expected a tensor of shape \\(N, ...\\), got list"),
        ({"seed": -1}, "seed: expected None or a non-negative int, got -1"),
    ],
)
def test_errors(kwargs, match):
    args = {"x": X, "y": Y, "batch_size": 2, "shuffle": True, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_loader(args.pop("x"), args.pop("y"), **args)
