"""ShadowNet: the theory's generative model on an MLP, α rules, calibration, tied weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.reverse import Encoding, ShadowNet, reverse

DT = torch.float64
N, M1, M2 = 12, 9, 7


def mlp(dtype=DT) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.ReLU(), nn.Linear(N, M1, bias=False), nn.ReLU(),
                         nn.Linear(M1, M2, bias=False), nn.ReLU()).to(dtype)


def _masks(batch: int, rho: float, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    z2 = (torch.rand(batch, M1, generator=gen) < rho).to(DT)  # at the input of Linear(M1, M2)
    z1 = (torch.rand(batch, N, generator=gen) < rho).to(DT)
    return z2, z1


def test_mlp_shadow_is_the_theory_generative_model():
    model = mlp()
    shadow = reverse(model, torch.zeros(1, N, dtype=DT), "4", rho=0.6)
    h = torch.rand(5, M2, dtype=DT) * (torch.rand(5, M2) < 0.5)
    z2, z1 = _masks(5, 0.6)
    a2, a1 = shadow.alphas  # top-down
    w1, w2 = model[1].weight.T, model[3].weight.T  # theory W_ℓ: (n_{ℓ−1}, n_ℓ)
    expected = torch.relu(a1 * torch.relu(a2 * h @ w2.T) * z2 @ w1.T) * z1
    got = shadow.generate(h, masks=[z2, z1])
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # the theory module's generator agrees, with the same α and masks
    from shadownets.theory import NetConfig, RandomLikeNet

    cfg = NetConfig(widths=(N, M1, M2), k=3, rho=0.6, alpha=(a1, a2))
    theory = RandomLikeNet(cfg, weights=[w1.detach(), w2.detach()], dtype=DT)
    torch.testing.assert_close(theory.generate(h, masks=[z1, z2])[0], got.detach())


def test_theory_alpha_formula_for_linear_and_conv():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(6 * 4 * 4, 5), nn.ReLU())
    shadow = reverse(model, torch.zeros(1, 4, 6, 6), "4", rho=[0.5, 0.8])
    lin, conv = model[3].weight.detach(), model[0].weight.detach()
    expected = [2 / (0.5 * 96 * float(lin.pow(2).mean())),
                2 / (0.8 * (2 * 9) * float(conv.pow(2).mean()))]
    assert shadow.alphas == pytest.approx(expected, rel=1e-6)
    assert shadow.rhos == [0.5, 0.8]


def test_masks_are_bernoulli_without_rescale_and_follow_the_generator():
    model = mlp()
    shadow = reverse(model, torch.zeros(1, N, dtype=DT), "4", rho=0.5, alpha=1.0)
    h = torch.rand(400, M2, dtype=DT) + 0.1
    full = reverse(model, torch.zeros(1, N, dtype=DT), "2", to="0", alpha=1.0)
    out = shadow.generate(h, generator=torch.Generator().manual_seed(0))
    same = shadow.generate(h, generator=torch.Generator().manual_seed(0))
    other = shadow.generate(h, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, same, rtol=0, atol=0)
    assert not torch.equal(out, other)
    assert full.alphas == [1.0] and full.input_shape == (N,)
    kept = float((shadow.generate(h, masks=[None, torch.ones(1, N, dtype=DT)]) != 0).double()
                 .mean())
    assert 0.15 < kept < 0.6  # z2 sampled at ρ = 0.5, then ReLU


def test_shadow_is_tied_to_the_model_parameters():
    model = mlp()
    shadow = reverse(model, torch.zeros(1, N, dtype=DT), "4")
    assert {id(p) for p in shadow.parameters()} == {id(p) for p in model.parameters()}
    h = torch.rand(3, M2, dtype=DT)
    before, alphas = shadow.generate(h), shadow.alphas
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.randn(8, N, dtype=DT)).pow(2).sum().backward()
    opt.step()
    after = shadow.generate(h)
    assert not torch.allclose(before, after)
    assert shadow.alphas != alphas  # "theory" α follows the weights
    w1, w2 = model[1].weight.T, model[3].weight.T
    a2, a1 = shadow.alphas
    torch.testing.assert_close(after, torch.relu(a1 * torch.relu(a2 * h @ w2.T) @ w1.T))


def test_generation_runs_under_the_callers_grad_mode():
    model = mlp()
    shadow = reverse(model, torch.zeros(1, N, dtype=DT), "4")
    h = torch.rand(3, M2, dtype=DT)
    shadow.generate(h).sum().backward()
    assert model[1].weight.grad is not None and model[1].weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert not shadow(h).requires_grad


@pytest.mark.parametrize("top", [nn.Dropout(0.5), nn.Flatten(), nn.Identity()])
def test_generation_never_modifies_the_callers_codes(top):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), top).eval()
    shadow = reverse(model, torch.zeros(1, 4), "2", rho=0.5)
    h = torch.randn(3, 6)
    before = h.clone()
    with torch.no_grad():
        out = shadow.generate(h, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(h, before, rtol=0, atol=0)
    z = _bernoulli_like(out, 0.5, 0)
    a = shadow.alphas[0]
    torch.testing.assert_close(out, (a * torch.relu(h)) @ model[0].weight.detach() * z)


def _bernoulli_like(t, rho, seed):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(t.shape, generator=gen, dtype=t.dtype) < rho).to(t.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_are_kept(dtype):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2)).to(dtype)
    x = torch.randn(2, 2, 8, 8, dtype=dtype)
    shadow = reverse(model, x, "2")
    assert shadow.reconstruct(x).dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(27, 4), nn.ReLU()).cuda()
    x = torch.randn(2, 2, 8, 8, device="cuda")
    shadow = reverse(model, x, "5", rho=0.5, unpool="random")
    gen = torch.Generator(device="cuda").manual_seed(0)
    assert shadow.reconstruct(x, generator=gen).device.type == "cuda"
    shadow.calibrate(x)


def test_calibration_matches_real_rms_at_every_op():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(),
                          nn.Linear(12, 6), nn.ReLU()).to(DT)
    x = torch.randn(32, 10, dtype=DT)
    shadow = reverse(model, x, "5", alpha="calibrated")
    with pytest.raises(RuntimeError, match="call calibrate"):
        shadow.generate(torch.rand(2, 6, dtype=DT))
    assert shadow.calibrate(x) is shadow and shadow.alpha_mode == "calibrated"
    h = shadow.encode(x).h

    def rms(t):
        return float(t.detach().pow(2).mean().sqrt())

    assert rms(shadow.generate(h)) == pytest.approx(rms(x), rel=1e-9)
    mid = reverse(model, x, "5", to="1", alpha=shadow.alphas[:2])
    assert rms(mid.generate(h)) == pytest.approx(rms(model[:2](x)), rel=1e-9)


def test_calibrate_with_dropout_and_pools_gives_finite_positive_alphas():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 5),
                          nn.ReLU())
    x = torch.randn(16, 3, 8, 8)
    shadow = reverse(model, x, "7", rho=0.5).calibrate(
        x, generator=torch.Generator().manual_seed(0))
    assert len(shadow.alphas) == 3 and all(math.isfinite(a) and a > 0 for a in shadow.alphas)


def test_switches_and_pure_generation_fallback():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    x = torch.randn(2, 3, 4, 4)
    shadow = reverse(model, x, "1")
    enc = shadow.encode(x)
    assert isinstance(enc, Encoding) and set(enc.switches) == {"1"}
    rec = shadow.reconstruct(x)
    xr = torch.relu(x)
    torch.testing.assert_close(F.max_pool2d(rec, 2), F.max_pool2d(xr, 2))
    assert int((rec != 0).sum()) <= enc.h.numel()
    nearest = reverse(model, x, "1", unpool="nearest")
    torch.testing.assert_close(shadow.generate(enc.h), nearest.generate(enc.h))
    assert reverse(nn.Sequential(nn.Linear(3, 2)), torch.zeros(1, 3), "0").encode(
        torch.zeros(2, 3)).switches is None


def test_forward_bias_is_added_before_the_transpose():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU()).to(DT)
    h = torch.rand(3, 6, dtype=DT)
    plain = reverse(model, torch.zeros(1, 4, dtype=DT), "1", alpha=0.5)
    biased = reverse(model, torch.zeros(1, 4, dtype=DT), "1", alpha=0.5, forward_bias=True)
    w, b = model[0].weight, model[0].bias
    torch.testing.assert_close(plain.generate(h), 0.5 * h @ w)
    torch.testing.assert_close(biased.generate(h), 0.5 * (h + b) @ w)


def test_lift_with_and_without_bias():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).to(DT)
    x = torch.randn(5, 4, dtype=DT)
    shadow = reverse(model, x, "2")
    torch.testing.assert_close(shadow.lift(x), model(x))
    w1, w2 = model[0].weight, model[2].weight
    torch.testing.assert_close(shadow.lift(x, bias="none"), torch.relu(x @ w1.T) @ w2.T)


def test_bad_inputs_raise_clear_errors():
    model = mlp()
    x = torch.zeros(1, N, dtype=DT)
    shadow = reverse(model, x, "4")
    assert isinstance(shadow, ShadowNet)
    with pytest.raises(ValueError, match=r"h: expected a tensor of shape \(batch, 7\), got \(3, 5"):
        shadow.generate(torch.zeros(3, 5, dtype=DT))
    with pytest.raises(ValueError, match="masks: expected 2 tensors"):
        shadow.generate(torch.zeros(3, M2, dtype=DT), masks=[torch.ones(3, M1)])
    with pytest.raises(ValueError, match=r"masks\[1\]: shape \(3, 5\) does not broadcast"):
        shadow.generate(torch.zeros(3, M2, dtype=DT), masks=[None, torch.ones(3, 5)])
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(batch, 12\)"):
        shadow.encode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="bias: expected 'trained' or 'none', got 'yes'"):
        shadow.lift(torch.zeros(2, N, dtype=DT), bias="yes")
    with pytest.raises(ValueError, match=r"rho: each keep probability must lie in \(0, 1\]"):
        reverse(model, x, "4", rho=0.0)
    with pytest.raises(ValueError, match=r"rho: expected one value per generated linear op \(2\)"):
        reverse(model, x, "4", rho=[0.5])
    with pytest.raises(ValueError, match="alpha: each value must be finite and > 0"):
        reverse(model, x, "4", alpha=-1.0)
    with pytest.raises(ValueError, match="alpha: expected 'theory', 'calibrated' or a number"):
        reverse(model, x, "4", alpha="magic")
    with pytest.raises(ValueError, match="forward_bias: expected a bool"):
        reverse(model, x, "4", forward_bias=1)
    with pytest.raises(ValueError, match="switches: expected a dict"):
        shadow.generate(torch.zeros(3, M2, dtype=DT), switches=[1])


def test_calibration_equals_re_generating_down_to_each_op():
    """Oracle: α of op i from a shadow net generated down to op i's input with the α above
    fixed (and 1 for op i) — the op-by-op definition; the one walk must agree."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 12),
                        nn.ReLU(), nn.Linear(12, 10), nn.ReLU()).eval()
    x = torch.randn(16, 1, 8, 8)
    fast = reverse(net, x[:1], "9", alpha="calibrated").calibrate(x)
    points = ["7", "5", "2", None]  # each op's input point, top-down (None: the input)
    alphas: list[float] = []
    with torch.no_grad():
        for point in points:
            shadow = reverse(net, x[:1], "9", to=point, alpha=alphas + [1.0])
            enc = shadow.encode(x)
            gen = shadow.generate(enc.h, switches=enc.switches)
            real = x if point is None else net[: int(point) + 1](x)
            if bool((real >= 0).all()):
                gen = torch.relu(gen)
            alphas.append(float(real.double().pow(2).mean().sqrt()
                                / gen.double().pow(2).mean().sqrt()))
    torch.testing.assert_close(torch.tensor(fast.alphas), torch.tensor(alphas), rtol=1e-5,
                               atol=0)


def test_calibration_with_dropout_is_reproducible():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU()).eval()
    x = torch.randn(16, 6)
    a = reverse(net, x[:1], "3", rho=0.6, alpha="calibrated").calibrate(
        x, generator=torch.Generator().manual_seed(3)).alphas
    b = reverse(net, x[:1], "3", rho=0.6, alpha="calibrated").calibrate(
        x, generator=torch.Generator().manual_seed(3)).alphas
    c = reverse(net, x[:1], "3", rho=1.0, alpha="calibrated").calibrate(x).alphas
    assert a == b and a != c and all(math.isfinite(v) and v > 0 for v in a)


def test_calibration_at_a_skip_connection_matches_each_ops_own_contribution():
    """At a join, each op's own contribution is RMS-matched to the real activation there
    (closed form below); one walk, so deep ResNets calibrate in linear time."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 5), nn.Linear(5, 5)

        def forward(self, x):
            x = torch.relu(self.a(x))
            return torch.relu(self.b(x) + x)

    torch.manual_seed(0)
    block = Block().eval().double()
    x = torch.randn(8, 5, dtype=torch.float64)
    shadow = reverse(block, x[:1], "relu_1", alpha="calibrated").calibrate(x)

    def rms(t):
        return float(t.pow(2).mean().sqrt())

    with torch.no_grad():
        p = torch.relu(block.a(x))
        h = block(x)
        c_b = h @ block.b.weight  # b's contribution at p with alpha 1
        alpha_b = rms(p) / rms(torch.relu(c_b))
        gen_p = torch.relu(h + alpha_b * c_b)  # the skip copies h to p, then p's ReLU
        alpha_a = rms(x) / rms(gen_p @ block.a.weight)
    assert shadow.alphas == pytest.approx([alpha_b, alpha_a], rel=1e-9)


def test_calibrate_encoded_names_a_missing_point():
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU()).eval()
    shadow = reverse(net, torch.randn(1, 6), "3", alpha="calibrated")
    with pytest.raises(ValueError, match=r"stats: no entry .*'1'"):
        shadow.calibrate_encoded(torch.rand(4, 8), {"x": (1.0, False)})




def test_calibrate_and_generate_equals_calibrating_then_generating():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 10),
                        nn.ReLU()).eval()
    x = torch.randn(12, 1, 8, 8)
    a = reverse(net, x[:1], "7", alpha="calibrated").calibrate(x[:5])
    enc = a.encode(x)
    want = a.generate(enc.h, switches=enc.switches)
    b = reverse(net, x[:1], "7", alpha="calibrated")
    from shadownets.reverse.graph import TracedNet
    from shadownets.reverse.shadow import point_stats

    traced = TracedNet(net, x[:1])
    stats = point_stats(traced, traced.run(traced.input, x[:5], traced.node("7", "layer")))
    got = b.calibrate_and_generate(enc.h, stats, rows=5, switches=enc.switches)
    assert b.alphas == pytest.approx(a.alphas, rel=1e-6)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs rho = 1"):
        reverse(net, x[:1], "7", rho=0.5, alpha="calibrated").calibrate_and_generate(
            enc.h, stats, rows=5)
