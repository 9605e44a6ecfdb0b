"""The inversion methods: exact shadow inverses, rMLE lowering its objective, warm starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from shadownets.invert import InvertConfig, ValueScale, invert, total_variation
from shadownets.invert.methods import feature_map, objective, optimise
from shadownets.reverse.graph import TracedNet
from shadownets.reverse.shadow import shadow_of
from shadownets.train import create_model


@pytest.fixture(scope="module")
def digits():
    from shadownets.data import load_dataset

    d = load_dataset("digits")
    return d.x_test[:12], d.y_test[:12], ValueScale(d.mean, d.std)


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return create_model("lenet", (1, 8, 8), 10).eval()


def test_total_variation_in_closed_form(gen):
    x = torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)
    want = []
    for img in x.numpy():
        dh = ((img[:, 1:, :] - img[:, :-1, :]) ** 2).sum() / (2 * 4 * 4)
        dw = ((img[:, :, 1:] - img[:, :, :-1]) ** 2).sum() / (2 * 5 * 3)
        want.append(dh + dw)
    np.testing.assert_allclose(total_variation(x).numpy(), want, rtol=1e-12)
    assert torch.equal(total_variation(torch.randn(3, 7)), torch.zeros(3))  # no spatial axis
    assert torch.equal(total_variation(torch.ones(2, 1, 4, 4)), torch.zeros(2))


def test_shadow_is_the_exact_inverse_of_an_orthogonal_layer_with_positive_codes(gen):
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64, bias=False), nn.ReLU())
    with torch.no_grad():
        model[1].weight.copy_(q.float())
    codes = torch.rand(6, 64, generator=gen) + 0.1  # all positive: the ReLU is the identity
    x = (codes.double() @ q).float().reshape(6, 1, 8, 8)  # W x = codes
    result = invert(model, x, "2")
    recon = result.reconstructions[0]
    torch.testing.assert_close(recon, x, atol=2e-5, rtol=0)
    assert (result.table["psnr"] > 80).all() and (result.table["ssim"] > 0.9999).all()
    assert (result.table["feature_error"] < 1e-9).all()
    assert result.variants == (("shadow", "none"),)


def test_feature_map_is_the_net_cut_at_the_layer(lenet, digits):
    x = digits[0]
    net = TracedNet(lenet, x[:1])
    for layer in ("net.1", "net.4", "net.8"):
        cut = feature_map(net, layer)
        torch.testing.assert_close(cut(x), shadow_of(lenet, net, layer).lift(x))
    torch.testing.assert_close(feature_map(net, "net.11")(x), lenet(x))


def test_optimiser_lowers_its_own_objective(lenet, digits):
    x, _, scale = digits
    cfg = InvertConfig(method="optimize", steps=60, record_every=5)
    result = invert(lenet, x, "net.4", config=cfg, scale=scale)
    per_step = result.curves.groupby("step")["objective"].mean()
    assert list(per_step.index) == list(range(0, 61, 5))
    rho = stats.spearmanr(per_step.index, per_step.to_numpy()).statistic
    assert rho < -0.95
    assert per_step.iloc[-1] < 0.8 * per_step.iloc[0]
    first = result.curves[result.curves.step == 0].set_index("image")["objective"]
    last = result.curves[result.curves.step == 60].set_index("image")["objective"]
    assert (last < first).all()
    assert (result.table["steps"] == 60).all()


def test_warm_starts_exactly_at_the_shadow(lenet, digits):
    x, _, scale = digits
    cfg = InvertConfig(steps=4, record_every=2)
    shadow = invert(lenet, x, "net.4", config=cfg, scale=scale)
    warm = invert(lenet, x, "net.4", config=cfg.replace(method="warm"), scale=scale)
    known = shadow.table[shadow.table.switches == "known"].set_index("image")
    start = warm.curves[warm.curves.step == 0].set_index("image")
    assert np.array_equal(start["psnr"].to_numpy(), known["psnr"].to_numpy())  # bit for bit
    assert set(warm.curves["switches"]) == {"known"}
    net = TracedNet(lenet, x[:1])
    h = feature_map(net, "net.4")(x)
    recon = shadow.reconstructions[shadow.variants.index(("shadow", "known"))]
    with torch.no_grad():
        obj = objective(feature_map(net, "net.4"), recon, h, cfg).double().numpy()
    np.testing.assert_allclose(start["objective"].to_numpy(), obj, rtol=1e-5)


def test_warm_from_unknown_switches_starts_at_that_shadow(lenet, digits):
    x, _, scale = digits
    cfg = InvertConfig(steps=2, record_every=1, switches="unknown", unpool="spread")
    shadow = invert(lenet, x, "net.4", config=cfg, scale=scale)
    warm = invert(lenet, x, "net.4", config=cfg.replace(method="warm"), scale=scale)
    unknown = shadow.table[shadow.table.switches == "unknown"]["psnr"].to_numpy()
    start = warm.curves[warm.curves.step == 0]["psnr"].to_numpy()
    assert np.array_equal(start, unknown)
    assert shadow.variants == (("shadow", "unknown"), ("shadow", "known"))


def test_batches_are_optimised_independently(lenet, digits):
    x, _, scale = digits
    net = TracedNet(lenet, x[:1])
    lift = feature_map(net, "net.4")
    with torch.no_grad():
        h = lift(x)
    start = torch.zeros_like(x)
    a = optimise(lift, h, start, scale, InvertConfig(steps=15, batch_size=5))
    b = optimise(lift, h, start, scale, InvertConfig(steps=15, batch_size=12))
    torch.testing.assert_close(a.x, b.x, atol=1e-5, rtol=1e-4)
    assert a.steps == 15 and len(a.curves) == 12 * 2  # steps 0 and 15 recorded per image


def test_optimisation_leaves_the_model_untouched(lenet, digits):
    x, _, scale = digits
    lenet.train()
    before = {k: v.clone() for k, v in lenet.state_dict().items()}
    invert(lenet, x, "net.8", config=InvertConfig(method="warm", steps=3), scale=scale)
    assert lenet.training
    lenet.eval()
    assert all(p.grad is None for p in lenet.parameters())
    assert all(torch.equal(before[k], v) for k, v in lenet.state_dict().items())


def test_reconstructions_lie_in_the_valid_range(lenet, digits):
    x, _, scale = digits
    result = invert(lenet, x, "net.1", config=InvertConfig(method="optimize", steps=5,
                                                          lr=1.0), scale=scale)
    unit = scale.to_unit(result.reconstructions)
    assert float(unit.min()) >= -1e-6 and float(unit.max()) <= 1 + 1e-6
