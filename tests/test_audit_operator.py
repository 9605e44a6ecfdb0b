"""Tests for shadownets.audit.operator: a layer's true linear operator."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.audit.operator import LayerOperator, is_linear_layer


def _conv_matrix_brute_force(conv: nn.Conv2d, shape: tuple[int, int, int]) -> torch.Tensor:
    """Columns = the conv (no bias) applied to each basis image, one at a time."""
    n = shape[0] * shape[1] * shape[2]
    w = conv.weight.detach().double()
    cols = []
    for j in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[j] = 1.0
        out = F.conv2d(e.reshape(1, *shape), w, None, conv.stride, conv.padding, conv.dilation,
                       conv.groups)
        cols.append(out.reshape(-1))
    return torch.stack(cols, 1)


@pytest.fixture
def conv() -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(2, 3, 3, stride=2, padding=1)


def test_conv_singular_values_match_brute_force_dense_matrix(conv):
    shape = (2, 7, 6)
    op = LayerOperator(conv, shape)
    brute = _conv_matrix_brute_force(conv, shape)
    assert op.dense().shape == brute.shape == (op.n_out, op.n_in)
    torch.testing.assert_close(op.dense(), brute)
    expected = torch.linalg.svdvals(brute)
    spec = op.spectrum()
    assert spec.exact
    torch.testing.assert_close(spec.singular_values, expected)


def test_rmatvec_is_the_transpose(conv):
    op = LayerOperator(conv, (2, 7, 6))
    a = op.dense()
    y = torch.randn(3, *op.output_shape, dtype=torch.float64)
    torch.testing.assert_close(op.rmatvec(y).reshape(3, -1), y.reshape(3, -1) @ a)
    x = torch.randn(3, 2, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(op.matvec(x).reshape(3, -1), x.reshape(3, -1) @ a.T)


def test_norms_and_moments_match_dense(conv):
    op = LayerOperator(conv, (2, 5, 5))
    a = op.dense()
    torch.testing.assert_close(op.row_norms(), a.norm(dim=1))
    torch.testing.assert_close(op.col_norms(), a.norm(dim=0))
    mean, var = op.entry_moments()
    assert mean == pytest.approx(float(a.mean()), abs=1e-12)
    assert var == pytest.approx(float(a.var(unbiased=False)), rel=1e-9)


def test_linear_dense_is_its_weight():
    lin = nn.Linear(5, 4)
    op = LayerOperator(lin, (5,))
    torch.testing.assert_close(op.dense(), lin.weight.detach().double())
    assert (op.n_in, op.n_out, op.output_shape) == (5, 4, (4,))


def test_lanczos_estimate_agrees_with_exact_spectrum():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    op = LayerOperator(conv, (3, 8, 8))
    exact = op.spectrum()
    est = op.spectrum(dense_max=0, steps=40, probes=8, generator=torch.Generator().manual_seed(0))
    assert not est.exact
    assert float(est.weights.sum()) == pytest.approx(1.0)
    assert float(est.values.max()) == pytest.approx(float(exact.values.max()), rel=1e-6)
    # weighted means agree: both estimate trace(G)/p
    assert float((est.values * est.weights).sum()) == pytest.approx(
        float(exact.values.mean()), rel=0.15)


def test_is_linear_layer():
    assert is_linear_layer(nn.Conv1d(1, 1, 1)) and is_linear_layer(nn.Linear(1, 1))
    assert not is_linear_layer(nn.ReLU())


def test_errors():
    with pytest.raises(ValueError,
                       match=r"module must be a weighted layer .*\(nn.Linear or .*got ReLU"):
        LayerOperator(nn.ReLU(), (3,))
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple"):
        LayerOperator(nn.Linear(3, 2), ())
    with pytest.raises(ValueError, match=r"input_shape \(4,\) does not fit Linear"):
        LayerOperator(nn.Linear(3, 2), (4,))


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv1d(2, 3, 4, stride=2, padding=1, dilation=2), (2, 13)),
    (nn.Conv2d(4, 6, 3, stride=(2, 1), padding=2, groups=2), (4, 7, 6)),
    (nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (2, 6, 5)),
    (nn.Conv2d(2, 3, 3, padding="same"), (2, 6, 5)),
    (nn.Conv3d(2, 2, 2, stride=2), (2, 4, 5, 4)),
])
def test_rmatvec_is_the_vjp_of_matvec(layer, shape):
    """The rule's adjoint against torch.func.vjp of the forward map, float64."""
    layer = layer.double()
    op = LayerOperator(layer, shape)
    x = torch.randn(2, *shape, dtype=torch.float64)
    y = torch.randn(2, *op.output_shape, dtype=torch.float64)
    _, pullback = torch.func.vjp(lambda t: layer._conv_forward(t, layer.weight, None), x)
    torch.testing.assert_close(op.rmatvec(y), pullback(y)[0])
    # the adjoint identity <A x, y> = <x, Aᵀ y>
    assert float((op.matvec(x) * y).sum()) == pytest.approx(float((x * op.rmatvec(y)).sum()))


def test_only_operator_rules_are_linear_layers():
    assert not is_linear_layer(nn.BatchNorm2d(3)) and not is_linear_layer(nn.GELU())
    assert not is_linear_layer(nn.LSTM(3, 3))  # no rule at all
