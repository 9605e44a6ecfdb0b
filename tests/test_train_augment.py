"""Tests for shadownets.train.augment: ShadowAugmenter and match_scale."""

from __future__ import annotations

import pytest
import torch

from shadownets.train.augment import ShadowAugmenter, ShadowConfig, match_scale
from shadownets.train.models import create_model


@pytest.fixture()
def net_and_batch():
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10, channels=(4, 8), hidden=(16,), dropout=0.2)
    x = torch.randn(6, 1, 8, 8)
    y = torch.arange(6) % 10
    return model, x, y


NORM = {"mean": (0.3,), "std": (0.4,), "match": "raw"}


@pytest.mark.parametrize("n_shadows", [1, 3])
def test_shapes_and_labels(net_and_batch, n_shadows):
    model, x, y = net_and_batch
    aug = ShadowAugmenter(model, rho=0.5, n_shadows=n_shadows, **NORM)
    x_s, y_s = aug(x, y, generator=torch.Generator().manual_seed(0))
    assert x_s.shape == (6 * n_shadows, 1, 8, 8)
    assert torch.equal(y_s, y.repeat_interleave(n_shadows))
    assert x_s.dtype == x.dtype and torch.isfinite(x_s).all()


def test_generation_is_outside_autograd_and_keeps_training_mode(net_and_batch):
    model, x, y = net_and_batch
    model.train()
    aug = ShadowAugmenter(model, rho=0.5, **NORM)
    x_s, _ = aug(x.requires_grad_(True), y, generator=torch.Generator().manual_seed(0))
    assert not x_s.requires_grad and x_s.grad_fn is None
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_same_generator_seed_same_shadows_other_seed_different(net_and_batch):
    model, x, y = net_and_batch
    aug = ShadowAugmenter(model, rho=0.5, n_shadows=2, **NORM)
    a, _ = aug(x, y, generator=torch.Generator().manual_seed(7))
    b, _ = aug(x, y, generator=torch.Generator().manual_seed(7))
    c, _ = aug(x, y, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_rms_match_puts_each_shadow_on_its_source_scale(net_and_batch):
    model, x, y = net_and_batch
    aug = ShadowAugmenter(model, rho=0.5, match="rms")
    x_s, _ = aug(x, y, generator=torch.Generator().manual_seed(0))
    rms = lambda t: t.flatten(1).pow(2).mean(1).sqrt()  # noqa: E731
    torch.testing.assert_close(rms(x_s), rms(x))


def test_current_source_follows_weights_frozen_waits_for_refresh(net_and_batch):
    model, x, y = net_and_batch
    current = ShadowAugmenter(model, rho=1.0, match="none", alpha=1.0)
    frozen = ShadowAugmenter(model, rho=1.0, match="none", alpha=1.0, source="frozen")
    before_c, _ = current(x, y)
    before_f, _ = frozen(x, y)
    with torch.no_grad():
        model.net[0].weight.mul_(2.0)
    after_c, _ = current(x, y)
    after_f, _ = frozen(x, y)
    assert not torch.allclose(after_c, before_c)
    assert torch.equal(after_f, before_f)
    frozen.refresh()
    assert not torch.allclose(frozen(x, y)[0], before_f)


def test_refresh_recalibrates_alpha(net_and_batch):
    model, x, y = net_and_batch
    aug = ShadowAugmenter(model, rho=0.5, match="rms").refresh(x)
    first = list(aug.shadow_.alphas)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    aug.refresh(x)
    assert aug.shadow_.alphas != first


def test_match_scale_rms_and_moments_closed_form():
    g = torch.tensor([[1.0, -1.0, 3.0, 1.0]])
    s = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    out = match_scale(g, s, "rms")
    torch.testing.assert_close(out, g * (1.0 / 3.0**0.5))  # rms(g) = sqrt(3), rms(s) = 1
    out = match_scale(g, s, "moments")
    torch.testing.assert_close(out.mean(), s.mean())
    torch.testing.assert_close(out.std(unbiased=False), s.std(unbiased=False))
    assert match_scale(g, s, "none") is g


def test_raw_space_shadow_closed_form():
    mean, std = (0.25,), (0.5,)
    src_raw = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]])  # raw rms 0.5
    x_src = (src_raw - 0.25) / 0.5
    x_gen = torch.tensor([[[[2.0, -3.0, 0.0, 2.0]]]])
    out = match_scale(x_gen, x_src, "raw", mean, std)
    raw = out * 0.5 + 0.25
    # ReLU(x_gen) / std = [4, 0, 0, 4] (rms 2*sqrt(2)), rescaled to rms 0.5
    expected = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]]) * 2**-0.5  # rms [a,0,0,a] = a/sqrt(2)
    torch.testing.assert_close(raw, expected)
    assert (raw >= 0).all()  # dropped / negative pixels become background (raw 0)


def test_raw_needs_matching_mean_std():
    with pytest.raises(ValueError, match=r"match='raw' needs the data's per-channel mean and std"):
        match_scale(torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3), "raw", (0.1,), (1.0,))


def test_match_scale_zero_shadow_stays_zero():
    out = match_scale(torch.zeros(2, 3), torch.ones(2, 3), "rms")
    assert torch.equal(out, torch.zeros(2, 3))


@pytest.mark.parametrize("kwargs, match", [
    ({"rho": 0.0}, r"rho must be a float in \(0, 1\]; got 0.0"),
    ({"n_shadows": 0}, r"n_shadows must be an int >= 1; got 0"),
    ({"alpha": "magic"}, r"alpha must be 'calibrated', 'theory' or a positive float; got 'magic'"),
    ({"alpha": -1.0}, r"alpha must be 'calibrated', 'theory' or a positive float; got -1.0"),
    ({"source": "teacher"}, r"source must be one of current, frozen; got 'teacher'"),
    ({"match": "std"}, r"match must be one of rms, raw, moments, none; got 'std'"),
    ({"unpool": "max"}, r"unpool must be one of switches, spread, random, nearest; got 'max'"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShadowConfig(**kwargs)


def test_bad_batch_and_bad_layer(net_and_batch):
    model, x, y = net_and_batch
    aug = ShadowAugmenter(model, match="rms")
    with pytest.raises(ValueError, match=r"x must be \(batch, ...\) and y \(batch,\)"):
        aug(x, y[:3])
    with pytest.raises(ValueError, match=r"layer index 7 out of range"):
        ShadowAugmenter(model, layer=7, match="rms")
    with pytest.raises(ValueError, match=r"match='raw' needs mean and std"):
        ShadowAugmenter(model, match="raw")
    with pytest.raises(ValueError, match=r"match must be one of"):
        match_scale(x, x, "bad")


# ---------------------------------------------------------------- sharing the training forward
def _plain_net(name):
    torch.manual_seed(0)
    if name == "lenet":
        return create_model("lenet", (1, 8, 8), 10, channels=(4, 8), hidden=(16,))
    return create_model("mlp", (1, 8, 8), 10, widths=(16, 12))


@pytest.mark.parametrize("name", ["lenet", "mlp"])
@pytest.mark.parametrize("n_shadows", [1, 3])
def test_forward_encode_gives_the_logits_and_shadows_of_separate_passes(name, n_shadows):
    model = _plain_net(name)
    x, y = torch.randn(6, 1, 8, 8), torch.arange(6) % 10
    aug = ShadowAugmenter(model, rho=0.5, n_shadows=n_shadows).refresh(x)
    assert aug.reuses_forward
    model.train()
    logits, enc = aug.forward_encode(x)
    # oracles: the model's own forward, and the augmenter encoding with the shadow's encoder
    torch.testing.assert_close(logits, model(x), rtol=0, atol=0)
    assert logits.requires_grad and not enc.h.requires_grad
    assert (enc.switches is not None) == (name == "lenet")
    x_s, y_s = aug.from_encoding(enc, x, y, generator=torch.Generator().manual_seed(3))
    ref_x, ref_y = aug(x, y, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x_s, ref_x)
    assert torch.equal(y_s, ref_y) and not x_s.requires_grad and model.training
    other, _ = aug.from_encoding(enc, x, y, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(other, x_s)


def test_reuse_only_where_the_training_forward_is_the_encoder(net_and_batch):
    with_dropout, x, y = net_and_batch
    plain = _plain_net("lenet")
    assert ShadowAugmenter(plain).reuses_forward
    assert not ShadowAugmenter(plain, source="frozen").reuses_forward
    assert not ShadowAugmenter(plain, layer="net").reuses_forward  # not a layer of `net`
    aug = ShadowAugmenter(with_dropout)  # dropout acts differently in train and eval mode
    assert not aug.reuses_forward
    with pytest.raises(ValueError, match=r"forward_encode needs a net whose training forward"):
        aug.forward_encode(x)


def test_an_encoder_that_disagrees_turns_reuse_off(monkeypatch):
    import shadownets.train.augment as augment

    model = _plain_net("lenet")
    real = augment._run_recording

    def shifted(*args):
        logits, h, switches = real(*args)
        return logits, h + 1.0, switches

    monkeypatch.setattr(augment, "_run_recording", shifted)
    aug = ShadowAugmenter(model)
    assert aug.reuses_forward  # the static check passes; the built shadow net disagrees
    aug.refresh()
    assert not aug.reuses_forward
