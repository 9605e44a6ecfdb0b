"""Alignment measures of shadownets.tying on constructed pairs with known answers, and the
Hungarian matching of learned units to a known W up to permutation and scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shadownets.tying.alignment import (
    best_scale,
    derangement,
    layer_alignment,
    match_units,
    null_cosines,
    relative_residual,
    unit_cosines,
    unit_gains,
)


def _encoder(gen, m=6, n=20):
    return torch.randn(m, n, generator=gen, dtype=torch.float64)


def test_a_tied_pair_has_cosine_one_its_scale_and_no_residual(gen):
    e = _encoder(gen)
    d = 3.0 * e.T
    assert torch.allclose(unit_cosines(d, e), torch.ones(6, dtype=torch.float64), atol=1e-14)
    assert best_scale(d, e) == pytest.approx(3.0, abs=1e-13)
    assert relative_residual(d, e) == pytest.approx(0.0, abs=1e-13)
    assert best_scale(-d, e) == pytest.approx(-3.0, abs=1e-13)  # anti-tied: c < 0, still 0
    assert relative_residual(-d, e) == pytest.approx(0.0, abs=1e-13)
    assert torch.allclose(unit_cosines(-d, e), -torch.ones(6, dtype=torch.float64))


def test_an_untied_pair_gives_the_hand_computed_values():
    e = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])  # (M=2, n=4)
    d = torch.tensor([[1.0, 0], [0, 0], [1.0, 0], [0, 2.0]])  # columns (1,0,1,0), (0,0,0,2)
    cos = unit_cosines(d, e)
    assert cos[0].item() == pytest.approx(1 / math.sqrt(2), abs=1e-15)
    assert cos[1].item() == 0.0
    assert best_scale(d, e) == pytest.approx(0.5)  # <D, Eᵀ> = 1, ‖E‖² = 2
    # D − ½Eᵀ has columns (½,0,1,0), (0,−½,0,2): ‖·‖² = 5.5 against ‖D‖² = 6
    assert relative_residual(d, e) == pytest.approx(math.sqrt(5.5 / 6), abs=1e-15)
    assert relative_residual(d, e, c=0.0) == pytest.approx(1.0)
    assert unit_gains(d, e).tolist() == [1.0, 0.0]


def test_a_zero_unit_has_no_cosine(gen):
    e = _encoder(gen, m=3)
    d = e.T.clone()
    d[:, 1] = 0
    cos = unit_cosines(d, e)
    assert math.isnan(cos[1]) and cos[0] == pytest.approx(1.0) and cos[2] == pytest.approx(1.0)


def test_the_null_pairs_unrelated_units():
    e = torch.eye(8, 30, dtype=torch.float64) * torch.arange(1.0, 9.0)[:, None]
    d = e.T.clone()  # tied, orthogonal rows: every wrong pair has cosine exactly 0
    g = torch.Generator().manual_seed(0)
    assert torch.equal(null_cosines(d, e, g), torch.zeros(8, dtype=torch.float64))
    row = layer_alignment(d, e, generator=torch.Generator().manual_seed(1))
    assert (row["median_cosine"], row["null_median"], row["c"]) == (1.0, 0.0, 1.0)
    assert row["residual"] == pytest.approx(0.0, abs=1e-15)
    assert row["null_c"] == 0.0 and row["null_residual"] == pytest.approx(1.0)


def test_derangements_have_no_fixed_point():
    g = torch.Generator().manual_seed(3)
    for size in (2, 3, 10):
        for _ in range(50):
            perm = derangement(size, g)
            assert sorted(perm.tolist()) == list(range(size))
            assert not (perm == torch.arange(size)).any()
    with pytest.raises(ValueError, match="size >= 2"):
        derangement(1, g)


def test_layer_alignment_leaves_dead_units_out(gen):
    e = _encoder(gen, m=4)
    d = e.T.clone()
    d[:, 3] = -d[:, 3]  # a unit pointing the other way ...
    live = torch.tensor([True, True, True, False])  # ... that is dead: not measured
    row = layer_alignment(d, e, live, generator=torch.Generator().manual_seed(0))
    assert row["n_units"] == 4 and row["n_live"] == 3
    assert row["median_cosine"] == pytest.approx(1.0) and row["residual"] == pytest.approx(0.0)
    row = layer_alignment(d, e, generator=torch.Generator().manual_seed(0))
    assert row["mean_cosine"] == pytest.approx(0.5)  # (1 + 1 + 1 − 1) / 4


def test_shapes_are_checked(gen):
    with pytest.raises(ValueError, match=r"decoder must be \(n, M\) and encoder \(M, n\)"):
        unit_cosines(torch.zeros(5, 3), torch.zeros(3, 4))


@pytest.mark.parametrize("extra", [0, 3])
def test_hungarian_recovers_a_permuted_rescaled_w(extra):
    g = torch.Generator().manual_seed(7)
    n, m = 60, 12
    w = torch.randn(n, m, generator=g, dtype=torch.float64)
    perm = torch.randperm(m, generator=g)
    scales = torch.linspace(0.1, 5.0, m, dtype=torch.float64)
    noisy = w + 0.02 * torch.randn(n, m, generator=g, dtype=torch.float64)
    learned = noisy[:, perm] * scales  # permuted, rescaled and slightly perturbed
    learned = torch.cat([learned, torch.randn(n, extra, generator=g,
                                              dtype=torch.float64)], dim=1)  # unmatched units
    match = match_units(learned, w)
    assert match.learned.tolist() == list(range(m))  # the extra units are left unmatched
    assert match.reference.tolist() == perm.tolist()  # unit r came from column perm[r]
    np.testing.assert_allclose(match.scale, scales.numpy(), rtol=0.02)
    assert match.cosine.min() > 0.99 and match.median_cosine > 0.99


def test_hungarian_respects_sign_and_fewer_units():
    g = torch.Generator().manual_seed(8)
    w = torch.randn(40, 6, generator=g, dtype=torch.float64)
    learned = torch.stack([-w[:, 0], w[:, 4], w[:, 2]], dim=1)  # three units, one sign-flipped
    match = match_units(learned, w)
    assert match.learned.tolist() == [0, 1, 2]
    assert match.reference.tolist()[1:] == [4, 2]
    assert match.reference[0] != 0  # a flipped column is not "the same unit"
    np.testing.assert_allclose(match.cosine[1:], 1.0)
