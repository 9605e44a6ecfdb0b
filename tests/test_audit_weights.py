"""Tests for shadownets.audit.weights: weight statistics of one layer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shadownets.audit.operator import LayerOperator
from shadownets.audit.weights import (
    entry_stats,
    rip_constant,
    row_incoherence,
    weight_stats,
)


def _linear(w: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    return lin


def test_entry_stats_gaussian_and_uniform():
    g = torch.Generator().manual_seed(0)
    kurt, ks = entry_stats(torch.randn(200_00, generator=g))
    assert abs(kurt) < 0.1 and ks < 0.02
    kurt_u, ks_u = entry_stats(torch.rand(200_00, generator=g))
    assert kurt_u == pytest.approx(-1.2, abs=0.05)  # closed form for a uniform
    assert ks_u > 0.04


def test_incoherence_linear_brute_force():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 9, generator=g, dtype=torch.float64)
    best = max(abs(float(w[i] @ w[j] / (w[i].norm() * w[j].norm())))
               for i in range(6) for j in range(6) if i != j)
    value, exact = row_incoherence(LayerOperator(_linear(w.float()), (9,)))
    assert exact and value == pytest.approx(best, rel=1e-5)


def test_incoherence_duplicated_rows_is_one():
    w = torch.randn(5, 8)
    w[3] = -2 * w[1]
    value, _ = row_incoherence(LayerOperator(_linear(w), (8,)))
    assert value == pytest.approx(1.0)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_interior_incoherence_matches_interior_rows(stride):
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=0, bias=False)
    op = LayerOperator(conv, (2, 9, 9))
    a = op.dense()  # without padding every row is a whole shifted kernel
    exact, _ = row_incoherence(op, dense=a)
    interior, flag = row_incoherence(op)
    assert not flag
    assert interior == pytest.approx(exact, rel=1e-6)


def test_rip_zero_for_orthonormal_rows_and_large_for_duplicates():
    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(40, 20, generator=g))
    ortho = LayerOperator(_linear(3.0 * q.T), (40,))  # A Aᵀ = 9 I: ‖Aᵀh‖² = 9‖h‖²
    assert rip_constant(ortho, 5, draws=64, generator=g) < 1e-5
    w = torch.randn(20, 40, generator=g)
    w[1:] = w[0]
    assert rip_constant(LayerOperator(_linear(w), (40,)), 5, draws=64, generator=g) > 1.0


def test_weight_stats_record_for_gaussian_layer():
    g = torch.Generator().manual_seed(4)
    lin = _linear(torch.randn(200, 400, generator=g) / 20)
    stats, spec = weight_stats(LayerOperator(lin, (400,)), rip_k=10, generator=g)
    assert spec.exact and stats.spectrum_exact
    assert stats.mp_ks < 0.06 and abs(stats.excess_kurtosis) < 0.1
    assert stats.row_norm_cv < 0.1
    # the top singular value sits near the MP edge σ(√n_out + √n_in)
    assert stats.top_singular_value == pytest.approx(stats.mp_top_singular_value, rel=0.08)
    assert stats.mp_top_singular_value == pytest.approx((math.sqrt(200) + math.sqrt(400)) / 20,
                                                        rel=0.03)


def test_errors():
    op = LayerOperator(_linear(torch.randn(4, 3)), (3,))
    with pytest.raises(ValueError, match=r"k must be in \[1, n_out=4\], got 5"):
        rip_constant(op, 5)
    with pytest.raises(ValueError, match="draws must be >= 1, got 0"):
        rip_constant(op, 2, draws=0)


def test_normal_ks_matches_scipy():
    from scipy import stats

    g = torch.Generator().manual_seed(5)
    w = 2 * torch.randn(3000, generator=g, dtype=torch.float64) + 1
    z = ((w - w.mean()) / w.std(unbiased=False)).numpy()
    _, ks = entry_stats(w)
    assert ks == pytest.approx(stats.kstest(z, "norm").statistic, rel=1e-6)
