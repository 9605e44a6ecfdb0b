import math

import pytest
import torch

from shadownets.theory import NetConfig, RandomLikeNet, recover, resolve_bias, run_recovery


def _net(widths=(60, 40, 30), k=5, rho=0.7, **kw):
    return RandomLikeNet(NetConfig(widths, k=k, rho=rho, **kw), seed=0, dtype=torch.float64)


def test_generate_returns_every_layer_with_shapes():
    net = _net()
    layers = net.sample(8, generator=1)
    assert [t.shape for t in layers] == [(8, 60), (8, 40), (8, 30)]
    assert all((t >= 0).all() for t in layers)
    est = net.infer(layers[0], resolve_bias(net, "theory"))
    assert [t.shape for t in est] == [(8, 60), (8, 40), (8, 30)]


def test_generate_matches_reference_formula_with_given_masks():
    net = _net()
    g = torch.Generator().manual_seed(2)
    h = net.sample_hidden(4, generator=g)
    masks = [(torch.rand(4, 60, generator=g) < 0.7).double(),
             (torch.rand(4, 40, generator=g) < 0.7).double()]
    W1, W2 = net.layers[0].dense(), net.layers[1].dense()
    a1, a2 = 2 / (0.7 * 60), 2 / (0.7 * 40)
    h1 = torch.relu(a2 * h @ W2.T) * masks[1]
    x = torch.relu(a1 * h1 @ W1.T) * masks[0]
    out = net.generate(h, masks=masks)
    assert torch.allclose(out[1], h1) and torch.allclose(out[0], x)
    assert out[2] is h


def test_infer_is_relu_of_transpose_plus_bias():
    net = _net(widths=(50, 20))
    x = net.sample(3, generator=0)[0]
    est = net.infer(x, resolve_bias(net, -0.25))
    assert torch.allclose(est[1], torch.relu(x @ net.layers[0].dense() - 0.25))
    theory = net.infer(x, resolve_bias(net, "theory"))[1]
    b = -math.sqrt(2) * x.norm(dim=1, keepdim=True) * math.sqrt(math.log(20))
    assert torch.allclose(theory, torch.relu(x @ net.layers[0].dense() + b))


def test_same_seed_identical_output():
    cfg = NetConfig((200, 100), k=5, rho=0.5)
    a, _ = run_recovery(cfg, batch=16, seed=7, bias="calibrated")
    b, _ = run_recovery(cfg, batch=16, seed=7, bias="calibrated")
    c, _ = run_recovery(cfg, batch=16, seed=8, bias="calibrated")
    assert a.equals(b) and not a.equals(c)


def test_error_falls_about_as_one_over_n():
    errs = [run_recovery(NetConfig((n, 1000), k=16, rho=0.5), batch=64, bias="calibrated",
                         seed=0)[0]["rel_error_sq"].iloc[-1] for n in (1000, 4000, 16000)]
    assert errs[0] > errs[1] > errs[2]
    # quadrupling n should divide the error by about 4 (1/n law up to logs)
    for a, b in zip(errs, errs[1:], strict=False):
        assert 2.5 < a / b < 6.0


def test_theory_bias_beats_none_by_a_wide_margin():
    cfg = NetConfig((4000, 4000), k=10, rho=0.5)
    none = run_recovery(cfg, batch=64, bias="none", seed=0)[0]["rel_error_sq"].iloc[-1]
    theory = run_recovery(cfg, batch=64, bias="theory", seed=0)[0]["rel_error_sq"].iloc[-1]
    # without a bias, half the m−k off-support coordinates leak: error ≈ m/(ρn) = 2
    assert 1.5 < none < 2.5
    assert theory < none / 5


def test_calibrated_close_to_oracle_without_seeing_truth():
    net = _net(widths=(2000, 500), k=10, rho=0.5)
    truth = net.sample(64, generator=1)
    cal = recover(net, truth, "calibrated", generator=2)
    orc = recover(net, truth, "oracle")
    assert abs(cal.biases[0].c - orc.biases[0].c) < 0.15
    # the calibration never sees the samples: a different truth gives the same constant
    other = net.sample(64, generator=9)
    assert recover(net, other, "calibrated", generator=2).biases[0].c == cal.biases[0].c


def test_float32_and_float64_agree():
    """Same weights and samples in both precisions give the same estimates (to float32 eps)."""
    cfg = NetConfig((300, 100), k=5, rho=0.5)
    net64 = RandomLikeNet(cfg, seed=0, dtype=torch.float64)
    net32 = RandomLikeNet(cfg, weights=[net64.layers[0].dense().float()], dtype=torch.float32)
    truth = net64.sample(32, generator=1)
    est64 = recover(net64, truth, "theory").estimate[-1]
    est32 = recover(net32, [t.float() for t in truth], "theory").estimate[-1]
    assert est32.dtype == torch.float32
    assert torch.allclose(est32.double(), est64, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_error_level():
    cfg = NetConfig((2000, 500), k=10, rho=0.5)
    cpu, _ = run_recovery(cfg, batch=64, seed=0)
    gpu, res = run_recovery(cfg, batch=64, seed=0, device="cuda")
    assert res.estimate[-1].is_cuda
    assert abs(cpu["rel_error_sq"].iloc[0] - gpu["rel_error_sq"].iloc[0]) < 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"widths": (10, 5), "k": 6}, r"k must lie in \[1, m=5\], got k=6"),
    ({"widths": (10, 5), "k": 0}, r"k must lie in \[1, m=5\], got k=0"),
    ({"widths": (10, 5), "k": 2, "rho": 0.0}, r"rho\[0\] must lie in \(0, 1\]"),
    ({"widths": (10, 5), "k": 2, "rho": 1.5}, r"rho\[0\] must lie in \(0, 1\]"),
    ({"widths": (10, 5), "k": 2, "rho": float("nan")}, r"rho\[0\] must lie in \(0, 1\]"),
    ({"widths": (10, 5), "k": 2, "weights": "sparse", "degree": 6},
     r"degree must lie in \[1, 5\], got 6"),
    ({"widths": (10, 5), "k": 2, "weights": "sparse"}, r"needs degree"),
    ({"widths": (10,), "k": 2}, r"widths must list at least"),
    ({"widths": (10, 5, 3), "k": 2, "rho": (0.5,)}, r"rho needs 2 values"),
    ({"widths": (10, 5), "k": 2, "rho": "0.5"}, r"rho must be a number"),
    ({"widths": (10, 5), "k": 2, "alpha": float("inf")}, r"alpha\[0\] must be positive and"),
    ({"widths": (10, 5), "k": 2.5}, r"k must be an integer"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetConfig(**kwargs)


def test_given_weights_and_inputs_take_the_net_dtype():
    net = RandomLikeNet(NetConfig((6, 4), k=2), weights=[torch.ones(6, 4, dtype=torch.float64)])
    assert net.layers[0].dtype == torch.float32
    out = net.infer(torch.ones(2, 6, dtype=torch.float64), resolve_bias(net, "none"))
    assert out[-1].dtype == torch.float32
    with pytest.raises(ValueError, match=r"weights\[0\] are torch.float64 on cpu"):
        from shadownets.theory import DenseWeights

        RandomLikeNet(NetConfig((6, 4), k=2), weights=[DenseWeights(torch.ones(6, 4).double())])
    with pytest.raises(ValueError, match="x holds 1 non-finite"):
        x = torch.ones(2, 6)
        x[1, 2] = float("nan")
        net.infer(x, resolve_bias(net, "none"))


def test_numpy_integers_and_bias_shapes():
    import numpy as np

    cfg = NetConfig((np.int64(10), 5), k=np.int64(2))
    assert cfg.widths == (10, 5) and isinstance(cfg.k, int)
    net = RandomLikeNet(cfg, seed=0)
    x = net.sample(3, generator=0)[0]
    assert net.infer(x, resolve_bias(net, np.full(5, -0.1)))[1].shape == (3, 5)
    with pytest.raises(ValueError, match=r"shape \(5,\) or \(3, 5\), got \(2, 5\)"):
        net.infer(x, resolve_bias(net, torch.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"got \(1, 3, 5\)"):
        net.infer(x, resolve_bias(net, torch.zeros(1, 3, 5)))


def test_bad_inputs():
    net = _net(widths=(10, 5), k=2)
    with pytest.raises(ValueError, match=r"h must be nonnegative"):
        net.generate(-torch.ones(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"h holds 1 non-finite"):
        h = torch.ones(2, 5, dtype=torch.float64)
        h[0, 0] = float("nan")
        net.generate(h)
    with pytest.raises(ValueError, match=r"h must have shape \(batch, 5\), got \(2, 4\)"):
        net.generate(torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 10\)"):
        net.infer(torch.ones(2, 9), resolve_bias(net, "none"))
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(10, 5\)"):
        RandomLikeNet(NetConfig((10, 5), k=2), weights=[torch.ones(5, 10)])
    with pytest.raises(ValueError, match="non-finite"):
        RandomLikeNet(NetConfig((2, 2), k=1), weights=[torch.tensor([[1.0, float("inf")],
                                                                     [0.0, 1.0]])])
    with pytest.raises(ValueError, match="bias must be one of"):
        resolve_bias(net, "magic")
    with pytest.raises(ValueError, match="oracle.*needs the true layers"):
        resolve_bias(net, "oracle")
    with pytest.raises(ValueError, match="non-finite"):
        resolve_bias(net, float("nan"))
    with pytest.raises(ValueError, match=r"masks needs 1 tensors"):
        net.generate(torch.ones(2, 5, dtype=torch.float64), masks=[])


@pytest.mark.parametrize("rho", [1.0, 0.5, 0.3, 0.01])
def test_dropout_masks_keep_rho(rho):
    from shadownets.theory._checks import bernoulli_mask

    z = bernoulli_mask((400, 500), rho, generator=torch.Generator().manual_seed(0),
                       dtype=torch.float64)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(z.mean()) - rho) < 4 * (rho * (1 - rho) / z.numel()) ** 0.5 + 1e-5
