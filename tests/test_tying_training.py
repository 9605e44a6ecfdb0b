"""The autoencoders and their training: shapes, tying, seeding, corruption, the least-squares
oracle decoder, and the positive control (Kunin et al. 2019: the linear ℓ2 autoencoder ties)."""

from __future__ import annotations

import pytest
import torch

from shadownets.tying import Autoencoder, Noise, TyingConfig, layer_alignment, run_tying
from shadownets.tying.core import NO_NOISE
from shadownets.tying.training import build, corrupt, oracle_decoder, train


def test_depth_two_shapes_and_tied_decoders():
    x = torch.randn(5, 12)
    for kind in ("untied", "tied", "linear"):
        net = Autoencoder(12, 4, depth=2, kind=kind)
        assert net(x).shape == (5, 12)
        assert [tuple(d.shape) + tuple(e.shape) for d, e in net.pairs()] == \
            [(12, 4, 4, 12), (4, 4, 4, 4)]
    tied = Autoencoder(12, 4, depth=1, kind="tied")
    (d, e), = tied.pairs()
    assert torch.equal(d, e.T)
    assert torch.allclose(tied.weight_penalty(), tied.encoders[0].weight.pow(2).sum())
    lin = Autoencoder(12, 4, kind="linear")
    w_e, w_d = lin.encoders[0].weight, lin.decoders[0].weight
    torch.testing.assert_close(lin(x), x @ w_e.T @ w_d.T)  # x̂ = D E x, no bias, no ReLU


def test_build_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("untied", 10, 3, 1, seed=5)
    assert torch.equal(torch.rand(1), before)
    b = build("untied", 10, 3, 1, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_corruption():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(4000, 50)
    kept = corrupt(x, Noise("dropout", 0.25), g)
    assert set(kept.unique().tolist()) == {0.0, 4.0}  # masked, or rescaled by 1/ρ
    assert float((kept > 0).float().mean()) == pytest.approx(0.25, abs=0.01)
    noisy = corrupt(x, Noise("gaussian", 0.5), g)
    assert float((noisy - x).std()) == pytest.approx(0.5, rel=0.02)
    assert corrupt(x, Noise("none", 0.0), g) is x
    assert corrupt(x, Noise("dropout", 1.0), g) is x


def test_oracle_decoder_recovers_a_linear_map():
    g = torch.Generator().manual_seed(1)
    h = torch.rand(200, 5, generator=g, dtype=torch.float64)
    a = torch.randn(9, 5, generator=g, dtype=torch.float64)
    x = h @ a.T + 0.5
    torch.testing.assert_close(oracle_decoder(x, h), a)


def test_linear_l2_autoencoder_ties_the_weights():
    """Kunin et al.: every critical point of ‖X − DEX‖² + λ(‖E‖² + ‖D‖²) has D = Eᵀ; started
    untied (cosines near 0), training must reach a median cosine of at least 0.99."""
    g = torch.Generator().manual_seed(2)
    basis, _ = torch.linalg.qr(torch.randn(16, 16, generator=g))
    x = (torch.randn(2000, 16, generator=g) * torch.linspace(3.0, 0.5, 16)) @ basis.T
    net = build("linear", 16, 4, 1, seed=0)
    (d0, e0), = net.pairs()
    start = layer_alignment(d0, e0, generator=torch.Generator().manual_seed(0))
    train(net, x - x.mean(0), noise=NO_NOISE, l2=0.5, epochs=20, lr=3e-3, batch_size=64,
          seed=0, record_every=100)
    (d, e), = net.pairs()
    end = layer_alignment(d, e, generator=torch.Generator().manual_seed(0))
    assert abs(start["median_cosine"]) < 0.5
    assert end["median_cosine"] >= 0.99 and end["c"] == pytest.approx(1.0, abs=0.05)
    assert end["residual"] < 0.1


def test_run_tying_tables_on_model_data():
    cfg = TyingConfig(data="model:n=32,m=8,k=2,rho=0.5", hidden=8, epochs=2, seeds=2,
                      n_train=256, n_test=64, record_every=1)
    r = run_tying(cfg)
    assert len(r.alignment) == 2 * 3 and set(r.alignment["model"]) == {"untied", "tied",
                                                                       "linear"}
    tied = r.alignment[r.alignment["model"] == "tied"]
    assert (tied["median_cosine"] > 1 - 1e-9).all() and (tied["residual"] < 1e-9).all()
    assert len(r.units) == 2 * 3 * 8 and len(r.errors) == 6
    assert sorted(set(r.curves["epoch"])) == [0, 1, 2]
    assert set(r.matching["model"]) == {"untied", "linear"} and len(r.matching) == 4
    assert (r.matching["alpha"] == 2 / (0.5 * 32)).all()
    diff = r.summary[r.summary["model"] == "tied-untied"]
    assert set(diff["quantity"]) == {"reconstruction", "denoising"}
    head = r.headline
    assert list(head["model"]) == ["untied", "tied", "linear"]
    again = run_tying(cfg)
    assert again.alignment.equals(r.alignment)  # seeded end to end
