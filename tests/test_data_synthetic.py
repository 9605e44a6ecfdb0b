"""Tests for the synthetic data set drawn from the random-like generative model."""

from __future__ import annotations

import pytest
import torch

from shadownets.data import SyntheticConfig, make_synthetic
from shadownets.data.synthetic import _world

SMALL = SyntheticConfig(num_classes=4, hidden=64, sparsity=5, side=8, n_train=200, n_test=40)


def test_shapes_balanced_and_deterministic():
    a, b = make_synthetic(SMALL), make_synthetic(SMALL)
    assert a.x_train.shape == (200, 1, 8, 8) and a.x_test.shape == (40, 1, 8, 8)
    assert torch.bincount(a.y_train).tolist() == [50] * 4
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    other = make_synthetic(SyntheticConfig(**{**SMALL.__dict__, "seed": 1}))
    assert not torch.equal(a.x_train, other.x_train)


def test_nonnegative_with_dropout_rate():
    cfg = SyntheticConfig(**{**SMALL.__dict__, "keep": 0.5, "n_train": 2000})
    x = make_synthetic(cfg).x_train
    assert x.min() >= 0
    # a unit is zero when dropped (1 - rho) or when its pre-activation is negative (about 1/2)
    zero = (x == 0).double().mean().item()
    assert 0.70 < zero < 0.80


def test_samples_follow_the_model_exactly():
    # jitter 0 fixes h = prototype; then x = ReLU(alpha W h) * z with z ~ Bernoulli(rho), so
    # where a unit is kept it equals the noiseless layer exactly, and it is kept w.p. rho.
    cfg = SyntheticConfig(num_classes=1, hidden=64, sparsity=5, side=16, keep=0.5, jitter=0.0,
                          n_train=3000, n_test=1)
    x = make_synthetic(cfg).x_train.double().flatten(1)  # (3000, 256)
    protos, weight = _world(cfg, torch.Generator().manual_seed(cfg.seed))
    n = cfg.side ** 2
    clean = torch.relu(2.0 / (cfg.keep * n) * weight @ protos[0])  # (256,)
    kept = x > 0
    torch.testing.assert_close(x[kept], clean.expand_as(x)[kept].to(torch.float32).double())
    on = clean > 0
    rate = kept[:, on].double().mean().item()  # keep rate where the clean unit is active
    assert abs(rate - cfg.keep) < 0.01  # 3000 x ~128 Bernoulli draws: std about 0.0008
    # E||x||^2 over z = rho ||clean||^2 (conditional on W); theory.md's 2||h||^2/(rho n) over W
    expected = cfg.keep * clean.square().sum()
    assert abs(x.square().sum(1).mean() / expected - 1) < 0.02


def test_classes_separable_by_nearest_class_mean():
    d = make_synthetic(SMALL)
    means = torch.stack([d.x_train[d.y_train == c].mean(0).flatten() for c in range(4)])
    pred = torch.cdist(d.x_test.flatten(1), means).argmin(1)
    assert (pred == d.y_test).double().mean() > 0.9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": 0}, "hidden: expected a positive int, got 0"),
        ({"sparsity": 100}, "sparsity: must not exceed hidden=64, got 100"),
        ({"keep": 0.0}, "keep: expected a probability in \\(0, 1\\], got 0.0"),
        ({"jitter": -1.0}, "jitter: expected a non-negative number, got -1.0"),
        ({"seed": -1}, "seed: expected a non-negative int, got -1"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticConfig(**{**SMALL.__dict__, **kwargs})


def test_make_synthetic_rejects_other_config():
    with pytest.raises(ValueError, match="config: expected a SyntheticConfig, got dict"):
        make_synthetic({"hidden": 3})
