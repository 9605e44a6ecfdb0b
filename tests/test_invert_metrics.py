"""Metrics of shadownets.invert: PSNR and SSIM against scikit-image, feature error, scales."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from shadownets.invert.metrics import (
    ValueScale,
    feature_error,
    psnr,
    relative_sq_error,
    ssim,
    ssim_window,
    summarise,
)


def test_psnr_of_a_known_noise_level_in_closed_form(gen):
    ref = 0.25 + 0.5 * torch.rand(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    delta = 0.05
    signs = torch.where(torch.rand(ref.shape, generator=gen) < 0.5, -1.0, 1.0).double()
    est = ref + delta * signs  # every pixel off by exactly delta: MSE = delta²
    np.testing.assert_allclose(psnr(ref, est), -20 * math.log10(delta), rtol=1e-12)
    np.testing.assert_allclose(psnr(ref, est, data_range=2.0), 20 * math.log10(2 / delta),
                               rtol=1e-12)


def test_psnr_equals_scikit_image(gen):
    ref = torch.rand(4, 3, 10, 12, generator=gen)
    est = (ref + 0.1 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    ours = psnr(ref, est)
    theirs = [peak_signal_noise_ratio(r.double().numpy(), e.double().numpy(), data_range=1)
              for r, e in zip(ref, est, strict=True)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert psnr(ref, ref)[0] == math.inf


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16), (1, 28, 28), (2, 20)])
def test_ssim_equals_scikit_image_own_call(gen, shape):
    ref = torch.rand(3, *shape, generator=gen, dtype=torch.float64)
    est = (ref + 0.15 * torch.randn(ref.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    ours = ssim(ref, est)
    channels = shape[0] > 1
    spatial = shape[1:]
    win = ssim_window(spatial)
    theirs = [structural_similarity(r.numpy() if channels else r.numpy().reshape(spatial),
                                    e.numpy() if channels else e.numpy().reshape(spatial),
                                    win_size=win, data_range=1,
                                    channel_axis=0 if channels else None)
              for r, e in zip(ref, est, strict=True)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(ssim(ref, ref), 1.0)
    assert (ours < 1).all()


def test_ssim_window_fits_small_images_and_is_nan_without_room():
    assert ssim_window((28, 28)) == 7 and ssim_window((14, 20)) == 7
    assert ssim_window((8, 8)) == 3 and ssim_window((12, 30)) == 5
    assert ssim_window((5, 5)) is None
    assert np.isnan(ssim(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4))).all()


def test_feature_error_in_closed_form():
    h = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    f = torch.tensor([[3.0, 1.0], [1.0, 2.0]])
    # ‖(0, 3)‖² / ‖(3, 4)‖² = 9/25; a zero code: the plain squared norm, 5
    np.testing.assert_allclose(feature_error(f, h), [9 / 25, 5.0])
    x = torch.randn(3, 4, requires_grad=True)
    relative_sq_error(x, torch.ones(3, 4)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_value_scale_maps_normalised_inputs_to_unit_pixels(gen):
    raw = torch.rand(4, 3, 5, 5, generator=gen, dtype=torch.float64)
    mean, std = (0.2, 0.5, 0.4), (0.3, 0.2, 0.25)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    scale = ValueScale(mean, std)
    x = (raw - m) / s
    torch.testing.assert_close(scale.to_unit(x), raw)
    lo, hi = scale.bounds(x)
    torch.testing.assert_close(scale.to_unit(lo.expand_as(x)), torch.zeros_like(x))
    torch.testing.assert_close(scale.to_unit(hi.expand_as(x)), torch.ones_like(x))
    clipped = scale.to_unit(scale.clip(x * 3))
    assert float(clipped.min()) >= -1e-12 and float(clipped.max()) <= 1 + 1e-12


def test_value_scale_from_batch_maps_its_range_to_zero_one(gen):
    x = 3 * torch.randn(6, 10, generator=gen) - 1
    unit = ValueScale.from_batch(x).to_unit(x)
    assert float(unit.min()) == pytest.approx(0, abs=1e-6)
    assert float(unit.max()) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("mean, std, match", [((0.1,), (0.0,), "std > 0"),
                                               ((0.1, 0.2), (1.0,), "as many values"),
                                               ((math.nan,), (1.0,), "finite")])
def test_value_scale_refuses_bad_statistics(mean, std, match):
    with pytest.raises(ValueError, match=match):
        ValueScale(mean, std)


def test_value_scale_refuses_a_channel_mismatch():
    with pytest.raises(ValueError, match="expected 3 channels"):
        ValueScale((0.1, 0.2, 0.3), (1, 1, 1)).to_unit(torch.zeros(2, 1, 4, 4))


def test_summarise_is_the_t_interval(gen):
    v = torch.randn(20, generator=gen).numpy()
    mean, lo, hi = summarise(v, level=0.9)
    half = stats.t(19).ppf(0.95) * v.std(ddof=1) / math.sqrt(20)
    assert mean == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx((v.mean() - half, v.mean() + half))
    assert all(math.isnan(t) for t in summarise([1.0])[1:])
