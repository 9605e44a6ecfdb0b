"""Tests for shadownets.audit.spectral: the Marchenko–Pastur law and KS distances to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate
from torch import nn

from shadownets.audit.operator import LayerOperator
from shadownets.audit.spectral import ks_to_mp, mp_cdf, mp_edges, mp_pdf


@pytest.mark.parametrize("ratio", [0.1, 0.5, 1.0])
def test_cdf_matches_quadrature_of_pdf(ratio):
    a, b = mp_edges(ratio)
    for t in np.linspace(a, b, 7)[1:-1]:
        expected, _ = integrate.quad(lambda s: float(mp_pdf(np.array(s), ratio)), a, t,
                                     limit=200)
        assert mp_cdf(np.array(t), ratio) == pytest.approx(expected, abs=2e-4)
    assert mp_cdf(np.array([a - 1e-3, b + 1e-3]), ratio).tolist() == [0.0, 1.0]


def test_edges_closed_form():
    assert mp_edges(0.25) == pytest.approx((0.25, 2.25))


def _op_with_weight(w: torch.Tensor) -> LayerOperator:
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    return LayerOperator(lin, (w.shape[1],))


def test_ks_small_for_gaussian_large_for_low_rank():
    g = torch.Generator().manual_seed(0)
    gauss = _op_with_weight(0.3 * torch.randn(300, 600, generator=g))
    low = _op_with_weight(torch.randn(300, 4, generator=g) @ torch.randn(4, 600, generator=g))
    ks_gauss = ks_to_mp(gauss.spectrum(), gauss.entry_moments()[1])
    ks_low = ks_to_mp(low.spectrum(), low.entry_moments()[1])
    assert ks_gauss < 0.05
    assert ks_low > 0.9


def test_errors():
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        mp_edges(1.5)
    op = _op_with_weight(torch.eye(3))
    with pytest.raises(ValueError, match="variance must be > 0, got 0"):
        ks_to_mp(op.spectrum(), 0)
