"""Reverse rules: adjoint identities against torch.func.vjp, fuzzed over layer geometry."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from shadownets.reverse import NotReversibleError
from shadownets.reverse.graph import TracedNet
from shadownets.reverse.ops import UnpoolContext

DT = torch.float64


def _rule_and_shapes(module: nn.Module, x: torch.Tensor):
    net = TracedNet(nn.Sequential(module), x)
    node = net.by_name["0"]
    return net.rules[node], node


def _transpose(module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, unpool="spread",
               switches=None) -> torch.Tensor:
    rule, _ = _rule_and_shapes(module, x)
    ctx = UnpoolContext(unpool, switches, None)
    ((_, out),) = rule.transpose(y, ctx)
    return out


def _vjp(f, x, y):
    _, pull = torch.func.vjp(f, x)
    return pull(y)[0]


def _check_adjoint(linear, module, x):
    """<A x, y> == <x, Aᵀ y> and Aᵀ y == vjp(A)(y)."""
    ax = linear(x)
    y = torch.randn_like(ax)
    aty = _transpose(module, x, y)
    assert aty.shape == x.shape
    torch.testing.assert_close(aty, _vjp(linear, x, y), rtol=1e-9, atol=1e-9)
    lhs, rhs = (ax * y).sum().detach(), (x * aty).sum().detach()
    assert math.isclose(float(lhs), float(rhs), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(dim=st.integers(1, 3), groups=st.integers(1, 3), cin_per=st.integers(1, 2),
       cout_per=st.integers(1, 2), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), extra=st.integers(0, 3),
       seed=st.integers(0, 2**16))
def test_conv_transpose_is_adjoint(dim, groups, cin_per, cout_per, kernel, stride, padding,
                                   dilation, extra, seed):
    torch.manual_seed(seed)
    conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dim]
    conv = conv_cls(groups * cin_per, groups * cout_per, kernel, stride=stride, padding=padding,
                    dilation=dilation, groups=groups, bias=True).to(DT)
    size = max(1, dilation * (kernel - 1) + 1 - 2 * padding) + extra
    if dim == 3:
        size = min(size, 5)
        size = max(size, dilation * (kernel - 1) + 1 - 2 * padding)
    x = torch.randn(2, groups * cin_per, *([size] * dim), dtype=DT)
    _check_adjoint(lambda t: conv._conv_forward(t, conv.weight, None), conv, x)


@pytest.mark.parametrize("kernel,stride,padding,size", [
    ((11, 11), (4, 4), (2, 2), (35, 35)),  # AlexNet's conv1 shape, smaller input
    ((7, 7), (2, 2), (3, 3), (16, 15)),  # ResNet's stem
    ((3, 4), (3, 2), (0, 2), (10, 9)),  # kernel smaller than the stride in one dim
    ((1, 1), (2, 2), (0, 0), (7, 8)),  # a strided 1x1 shortcut: rows never read
])
def test_strided_conv2d_adjoint_by_sub_pixel_convolution(kernel, stride, padding, size):
    """The strided 2-D adjoint runs as one stride-1 conv and a pixel shuffle: against vjp."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, kernel, stride=stride, padding=padding).to(DT)
    x = torch.randn(2, 3, *size, dtype=DT)
    _check_adjoint(lambda t: conv._conv_forward(t, conv.weight, None), conv, x)


@settings(max_examples=60, deadline=None)
@given(n_in=st.integers(1, 7), n_out=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_linear_transpose_is_adjoint(n_in, n_out, seed):
    torch.manual_seed(seed)
    lin = nn.Linear(n_in, n_out).to(DT)
    x = torch.randn(3, n_in, dtype=DT)
    _check_adjoint(lambda t: F.linear(t, lin.weight), lin, x)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("padding_mode", ["reflect", "circular", "replicate"])
def test_conv_with_padding_modes_and_same_padding(padding_mode):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode=padding_mode).to(DT)
    x = torch.randn(2, 2, 6, 5, dtype=DT)
    _check_adjoint(lambda t: conv._conv_forward(t, conv.weight, None), conv, x)
    same = nn.Conv2d(2, 3, 4, padding="same").to(DT)
    _check_adjoint(lambda t: same._conv_forward(t, same.weight, None), same, x)


@settings(max_examples=50, deadline=None)
@given(dim=st.integers(1, 3), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 1), ceil_mode=st.booleans(), include_pad=st.booleans(),
       extra=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_avg_pool_transpose_is_adjoint(dim, kernel, stride, padding, ceil_mode, include_pad,
                                       extra, seed):
    torch.manual_seed(seed)
    padding = min(padding, kernel // 2)
    cls = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dim]
    pool = cls(kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=include_pad)
    x = torch.randn(2, 2, *([kernel + extra] * dim), dtype=DT)
    _check_adjoint(pool, pool, x)


@pytest.mark.parametrize("module", [
    nn.AdaptiveAvgPool2d((3, 2)), nn.AdaptiveAvgPool1d(3), nn.AdaptiveAvgPool2d(1),
    nn.Flatten(), nn.Unflatten(1, (2, 35)), nn.Identity(), nn.Dropout(0.3), nn.ZeroPad2d(1),
])
def test_structural_transposes_are_adjoint(module):
    torch.manual_seed(0)
    x = torch.randn(2, 2, 7, 5, dtype=DT)
    if isinstance(module, nn.AdaptiveAvgPool1d):
        x = torch.randn(2, 2, 7, dtype=DT)
    if isinstance(module, nn.Unflatten):
        x = torch.randn(2, 70, dtype=DT)
    module.eval()
    _check_adjoint(module, module, x)


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (4, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 5, 5)),
                                       (nn.BatchNorm3d, (4, 3, 2, 3, 2))])
def test_batchnorm_transpose_is_linear_part(cls, shape):
    torch.manual_seed(0)
    bn = cls(3).to(DT)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(*shape, dtype=DT)
    _check_adjoint(lambda t: bn(t) - bn(torch.zeros_like(t)), bn, x)


@settings(max_examples=80, deadline=None)
@given(dim=st.integers(1, 3), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 1), dilation=st.integers(1, 2), ceil_mode=st.booleans(),
       extra=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_switch_unpool_is_max_pool_gradient(dim, kernel, stride, padding, dilation, ceil_mode,
                                            extra, seed):
    torch.manual_seed(seed)
    padding = min(padding, kernel // 2)
    cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[dim]
    pool = cls(kernel, stride, padding, dilation=dilation, ceil_mode=ceil_mode)
    x = torch.randn(2, 2, *([dilation * (kernel - 1) + 1 + extra] * dim), dtype=DT)
    out, idx = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dim](
        x, kernel, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)
    y = torch.randn_like(out)
    got = _transpose(pool, x, y, unpool="switches", switches={"0": idx})
    torch.testing.assert_close(got, _vjp(pool, x, y), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(kernel=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 1),
       extra=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_spread_unpool_is_avg_pool_transpose(kernel, stride, padding, extra, seed):
    torch.manual_seed(seed)
    padding = min(padding, kernel // 2)
    pool = nn.MaxPool2d(kernel, stride, padding)
    avg = nn.AvgPool2d(kernel, stride, padding, count_include_pad=True)
    x = torch.randn(2, 3, kernel + extra, kernel + extra + 1, dtype=DT)
    y = torch.randn_like(avg(x))
    torch.testing.assert_close(_transpose(pool, x, y, unpool="spread"), _vjp(avg, x, y))
    nearest = _transpose(pool, x, y, unpool="nearest")
    torch.testing.assert_close(nearest, _vjp(avg, x, y) * kernel * kernel)


def test_random_unpool_places_each_value_once_in_its_window():
    pool = nn.MaxPool2d(2)
    x = torch.randn(3, 2, 6, 6)
    y = torch.rand(3, 2, 3, 3) + 0.5
    gen = torch.Generator().manual_seed(1)
    rule, _ = _rule_and_shapes(pool, x)
    ((_, out),) = rule.transpose(y, UnpoolContext("random", None, gen))
    torch.testing.assert_close(F.max_pool2d(out, 2), y)  # one value per window, the rest 0
    assert int((out != 0).sum()) == y.numel()
    gen2 = torch.Generator().manual_seed(1)
    ((_, again),) = rule.transpose(y, UnpoolContext("random", None, gen2))
    torch.testing.assert_close(out, again)


def test_switches_of_the_wrong_batch_are_refused():
    pool = nn.MaxPool2d(2)
    x = torch.randn(2, 1, 4, 4)
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match=r"switches\['0'\]: expected shape"):
        _transpose(pool, x, torch.randn(3, 1, 2, 2), unpool="switches", switches={"0": idx})


@pytest.mark.parametrize("module,match", [
    (nn.Tanh(), "module Tanh at '0' has no reverse rule"),
    (nn.BatchNorm1d(3, track_running_stats=False), "no running statistics"),
    (nn.MaxPool1d(2, return_indices=True), "return_indices"),
])
def test_unsupported_modules_name_themselves(module, match):
    net = TracedNet(nn.Sequential(module), torch.randn(4, 3, 4))
    assert match in net.errors[net.by_name["0"]] or pytest.fail(str(net.errors))
    assert all(info.name != "0" for info in net.layers())


class _Repeat(nn.Module):
    def forward(self, x):
        return x.repeat(1, 3, 1, 1)


class _Expand(nn.Module):
    def forward(self, x):
        return x.expand(-1, 4, -1, -1)


@pytest.mark.parametrize("module, node", [(_Repeat(), "repeat"), (_Expand(), "expand")])
def test_repeat_and_expand_transposes_are_adjoint(module, node):
    """A grey input copied to RGB (x.repeat / x.expand) is reversible to the input."""
    torch.manual_seed(0)
    x = torch.randn(2, 1, 4, 5, dtype=DT)
    net = TracedNet(module, x)
    rule = net.rules[net.by_name[node]]
    y = torch.randn_like(module(x))
    ((_, aty),) = rule.transpose(y, UnpoolContext("spread", None, None))
    torch.testing.assert_close(aty, _vjp(module, x, y), rtol=1e-9, atol=1e-9)
    assert float((module(x) * y).sum()) == pytest.approx(float((x * aty).sum()))


@pytest.mark.parametrize("module, family", [
    (nn.Linear(3, 2), "operator"), (nn.Conv2d(1, 1, 1), "operator"), (nn.ReLU(), "activation"),
    (nn.GELU(), "activation"), (nn.ReLU6(), "activation"), (nn.PReLU(), "activation"),
    (nn.BatchNorm2d(2), "normalisation"), (nn.MaxPool2d(2), "pooling"),
    (nn.AdaptiveAvgPool2d(1), "pooling"), (nn.Flatten(), "reshape"), (nn.Dropout(), "identity"),
    (nn.Tanh(), None), (nn.LSTM(2, 2), None)])
def test_every_rule_states_its_family(module, family):
    from shadownets.reverse.ops import _MODULES, FAMILIES, module_family

    assert module_family(module) == family
    assert all(cls.family in FAMILIES for cls in _MODULES.values())


@pytest.mark.parametrize("act,kind", [(nn.LeakyReLU(0.1), "LeakyReLU"), (nn.GELU(), "GELU"),
                                      (nn.ReLU(inplace=True), "ReLU")])
def test_relu_like_activations_are_mirrored_as_relu(act, kind):
    rule, _ = _rule_and_shapes(act, torch.randn(2, 3))
    assert rule.role == "relu" and rule.kind == kind
    g = torch.randn(2, 3)
    ((_, out),) = rule.transpose(g, UnpoolContext("switches", None, None))
    torch.testing.assert_close(out, g)  # the ReLU itself is applied by the shadow net


def test_functional_linear_is_refused_with_advice():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))

        def forward(self, x):
            return F.linear(x, self.w)

    net = TracedNet(Functional(), torch.randn(2, 3))
    (msg,) = net.errors.values()
    assert "function linear at node 'linear'" in msg and "nn.Linear" in msg
    with pytest.raises(NotReversibleError, match="not reversible"):
        net.subgraph(net.by_name["linear"], net.input)
