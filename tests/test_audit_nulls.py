"""Tests for shadownets.audit.nulls: null nets with the same architecture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.audit.nulls import NULL_KINDS, null_net, null_nets, reestimate_batchnorm

X = torch.randn(64, 30, generator=torch.Generator().manual_seed(9))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(30, 50), nn.BatchNorm1d(50), nn.ReLU(), nn.Linear(50, 4))


def test_shuffle_keeps_each_tensors_values():
    net = _net()
    null = null_net(net, "shuffle", generator=torch.Generator().manual_seed(1), inputs=X)
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
    null = null_net(net, "gaussian", generator=torch.Generator().manual_seed(2), inputs=X)
    w, v = net[0].weight.detach(), null[0].weight.detach()
    assert float(v.mean()) == pytest.approx(float(w.mean()), abs=0.02)
    assert float(v.std()) == pytest.approx(float(w.std()), rel=0.03)
    assert torch.equal(null[1].weight, net[1].weight)


def test_original_untouched_and_seeded():
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    a = null_nets(net, "gaussian", 2, seed=5, inputs=X)
    b = null_nets(net, "gaussian", 2, seed=5, inputs=X)
    for p, q in zip(before, net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(a[0][0].weight, b[0][0].weight)
    assert not torch.equal(a[0][0].weight, a[1][0].weight)
    assert not a[0].training


def _bn_cnn() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3),
                         nn.BatchNorm2d(5), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 3))


def _batch_stats(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return a.mean((0, 2, 3)), a.var((0, 2, 3), unbiased=True)


@pytest.mark.parametrize("kind", NULL_KINDS)
def test_batchnorm_statistics_reestimated_on_the_inputs(kind):
    net = _bn_cnn()
    with torch.no_grad():  # deliberately odd trained running statistics
        for bn in (net[1], net[4]):
            bn.running_mean.fill_(5.0)
            bn.running_var.fill_(0.01)
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-0.5, 0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    null = null_net(net, kind, generator=torch.Generator().manual_seed(4), inputs=x,
                    batch_size=64)
    # oracle, by hand: each BN's batch statistics of the null net's own pre-BN activations
    with torch.no_grad():
        pre1 = F.conv2d(x, null[0].weight, null[0].bias)
        mean1, var1 = _batch_stats(pre1)
        bn1 = (pre1 - mean1[:, None, None]) / torch.sqrt(
            pre1.var((0, 2, 3), unbiased=False)[:, None, None] + null[1].eps)
        h1 = torch.relu(bn1 * null[1].weight[:, None, None] + null[1].bias[:, None, None])
        mean2, var2 = _batch_stats(F.conv2d(h1, null[3].weight, null[3].bias))
    torch.testing.assert_close(null[1].running_mean, mean1)
    torch.testing.assert_close(null[1].running_var, var1)
    torch.testing.assert_close(null[4].running_mean, mean2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(null[4].running_var, var2, rtol=1e-4, atol=1e-5)
    assert not null.training and null[1].momentum == net[1].momentum
    for k, v in net.state_dict().items():  # the trained model's buffers are untouched
        assert torch.equal(v, before[k]), k


def test_batchnorm_in_batches_is_the_mean_of_batch_statistics():
    net = _bn_cnn()
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    null = reestimate_batchnorm(net, x, batch_size=20)
    with torch.no_grad():
        pre = [null[0](x[:20]), null[0](x[20:])]
    torch.testing.assert_close(null[1].running_mean,
                               (_batch_stats(pre[0])[0] + _batch_stats(pre[1])[0]) / 2)
    assert int(null[1].num_batches_tracked) == 2


def test_errors():
    net = _net()
    with pytest.raises(ValueError, match=r"kind must be one of \['gaussian', 'shuffle'\], got 'x'"):
        null_net(net, "x", generator=torch.Generator())
    with pytest.raises(ValueError, match="generator must be a torch.Generator, got int"):
        null_net(net, "shuffle", generator=3)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        null_nets(net, "shuffle", 0, seed=0)
    with pytest.raises(ValueError, match="model has BatchNorm: pass inputs="):
        null_net(net, "shuffle", generator=torch.Generator())
    assert NULL_KINDS == ("gaussian", "shuffle")
