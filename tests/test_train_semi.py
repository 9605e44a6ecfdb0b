"""Tests for the semi-supervised methods (shadownets.train.semi and their use in fit)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.train import semi
from shadownets.train.config import METHOD_FIELDS, SEMI_SUPERVISED, TrainConfig
from shadownets.train.loop import fit


@pytest.fixture(scope="module")
def digits():
    from shadownets.data import load_dataset

    return load_dataset("digits")


def test_unlabeled_pool_is_the_rest_of_the_split():
    labeled = torch.tensor([0, 3, 5])
    pool = semi.unlabeled_pool(10, labeled, None, seed=0)
    assert pool.tolist() == [1, 2, 4, 6, 7, 8, 9]
    some = semi.unlabeled_pool(10, labeled, 4, seed=1)
    assert len(some) == 4 and set(some.tolist()) <= set(pool.tolist())
    assert torch.equal(some, semi.unlabeled_pool(10, labeled, 4, seed=1))  # seeded


def test_divergences_closed_forms():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    p = F.softmax(logits, dim=1)
    assert float(semi.divergence(p, logits, "kl")) == pytest.approx(0.0, abs=1e-7)
    q_logits = torch.zeros(2, 3)  # uniform prediction
    kl = float((p * (p.log() - math.log(1 / 3))).sum(1).mean())
    assert float(semi.divergence(p, q_logits, "kl")) == pytest.approx(kl, rel=1e-6)
    mse = float(((p - 1 / 3) ** 2).sum(1).mean())
    assert float(semi.divergence(p, q_logits, "mse")) == pytest.approx(mse, rel=1e-6)
    with pytest.raises(ValueError, match=r"consistency must be one of \['kl', 'mse'\]"):
        semi.divergence(p, logits, "js")


def test_pseudo_labels_only_where_confident():
    target = torch.tensor([[0.97, 0.02, 0.01], [0.5, 0.3, 0.2]])
    logits = torch.tensor([[0.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
    u = torch.zeros(2, 4)
    loss = semi.unlabeled_loss("pseudo-label", nn.Identity(), u, logits, consistency="kl",
                               pseudo_threshold=0.95, target=target)
    expected = float(F.cross_entropy(logits[:1], torch.tensor([0]))) / 2  # row 1 too unsure
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_perturbations():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, 1, 8, 8)
    noisy = semi.perturb("pi-noise", u, n_aug=2, noise_std=0.5, augmenter=None, generator=g)
    assert noisy.shape == (6, 1, 8, 8)
    assert 0.4 < float((noisy - u.repeat_interleave(2, 0)).std()) < 0.6
    assert semi.perturb("pi-dropout", u, n_aug=2, noise_std=0.5, augmenter=None,
                        generator=g) is u
    with pytest.raises(ValueError, match="shadow-consistency needs a ShadowAugmenter"):
        semi.perturb("shadow-consistency", u, n_aug=1, noise_std=0.5, augmenter=None,
                     generator=g)


@pytest.mark.parametrize("method", SEMI_SUPERVISED)
def test_each_method_trains_deterministically_and_uses_the_unlabeled_loss(digits, method):
    cfg = TrainConfig(model="lenet", method=method, n_labels=40, n_unlabeled=300, epochs=3,
                      steps_per_epoch=4, batch_size=16, warmup_epochs=1, dropout=0.2, lr=3e-3,
                      shadow_rho=0.5, pseudo_threshold=0.12)
    a = fit(cfg, splits=digits, progress=False)
    b = fit(cfg, splits=digits, progress=False)
    def numbers(r):
        return {k: v for k, v in r.final.items() if k != "train_seconds"}

    assert numbers(a) == numbers(b)  # seeded: the same numbers twice
    assert a.history[0]["aug_loss"] == 0.0  # warm-up epoch: labeled loss only
    assert a.history[-1]["aug_loss"] > 0.0  # then the unlabeled loss enters
    assert 0.0 <= a.final["test_error"] < 0.9
    no_unl = fit(cfg.replace(aug_weight=0.0), splits=digits, progress=False)
    assert no_unl.final["val_loss"] != a.final["val_loss"]  # λ = 0: another training


def test_semi_supervised_needs_unlabeled_inputs(digits):
    with pytest.raises(ValueError, match=r"learns from the unlabeled rest of the train split, "
                                         r"but n_labels=None labels all of it"):
        fit(TrainConfig(method="pi-noise", epochs=1), splits=digits, progress=False)


def test_semi_fields_and_checks():
    assert METHOD_FIELDS["pseudo-label"] == ("aug_weight", "warmup_epochs", "n_unlabeled",
                                             "pseudo_threshold")
    assert "noise_std" in METHOD_FIELDS["pi-noise"] and "dropout" in METHOD_FIELDS["pi-dropout"]
    assert TrainConfig(method="pi-dropout", dropout=0.3).effective_model_kwargs() == {
        "dropout": 0.3}
    with pytest.raises(ValueError, match=r"pseudo_threshold must be a float in \(0, 1\]"):
        TrainConfig(pseudo_threshold=0.0)
    with pytest.raises(ValueError, match=r"consistency must be one of kl, mse; got 'l1'"):
        TrainConfig(consistency="l1")
    with pytest.raises(ValueError, match=r"n_unlabeled must be an int >= 1; got 0"):
        TrainConfig(n_unlabeled=0)
