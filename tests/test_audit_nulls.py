"""Tests for shadownets.audit.nulls: null nets with the same architecture."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shadownets.audit.nulls import NULL_KINDS, null_net, null_nets


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(30, 50), nn.BatchNorm1d(50), nn.ReLU(), nn.Linear(50, 4))


def test_shuffle_keeps_each_tensors_values():
    net = _net()
    null = null_net(net, "shuffle", generator=torch.Generator().manual_seed(1))
    for (name, p), (_, q) in zip(net.named_parameters(), null.named_parameters(), strict=True):
        if name.startswith("1."):  # BatchNorm is left as it is
            assert torch.equal(p, q)
            continue
        values = p.detach().reshape(-1).sort().values
        assert torch.equal(values, q.detach().reshape(-1).sort().values)
        assert not torch.equal(p, q)


def test_gaussian_matches_mean_and_std_per_tensor():
    net = _net()
    with torch.no_grad():
        net[0].weight.mul_(3).add_(0.5)
    null = null_net(net, "gaussian", generator=torch.Generator().manual_seed(2))
    w, v = net[0].weight.detach(), null[0].weight.detach()
    assert float(v.mean()) == pytest.approx(float(w.mean()), abs=0.02)
    assert float(v.std()) == pytest.approx(float(w.std()), rel=0.03)
    assert torch.equal(null[1].weight, net[1].weight)


def test_original_untouched_and_seeded():
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    a = null_nets(net, "gaussian", 2, seed=5)
    b = null_nets(net, "gaussian", 2, seed=5)
    for p, q in zip(before, net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(a[0][0].weight, b[0][0].weight)
    assert not torch.equal(a[0][0].weight, a[1][0].weight)
    assert not a[0].training


def test_errors():
    net = _net()
    with pytest.raises(ValueError, match=r"kind must be one of \['gaussian', 'shuffle'\], got 'x'"):
        null_net(net, "x", generator=torch.Generator())
    with pytest.raises(ValueError, match="generator must be a torch.Generator, got int"):
        null_net(net, "shuffle", generator=3)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        null_nets(net, "shuffle", 0, seed=0)
    assert NULL_KINDS == ("gaussian", "shuffle")
