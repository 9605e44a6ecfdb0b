"""Tests for shadownets.audit.reversibility: sites and per-layer reversibility figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from shadownets.audit.config import AuditConfig
from shadownets.audit.reversibility import find_sites, measure_site, theory_lift
from shadownets.train.models import create_model


@pytest.fixture
def lenet() -> nn.Module:
    torch.manual_seed(0)
    return create_model("lenet", (1, 8, 8), 10).eval()


def test_find_sites_lenet(lenet):
    sites = find_sites(lenet, torch.randn(2, 1, 8, 8))
    # one layer down ends at the ReLU below, through max pools and the flatten
    assert [(s.name, s.module, s.feeds, s.module_input) for s in sites] == [
        ("net.1", "net.0", None, None), ("net.4", "net.3", "net.1", "net.2"),
        ("net.8", "net.7", "net.4", "net.6"), ("net.10", "net.9", "net.8", "net.8")]
    assert sites[1].input_shape == (6, 4, 4) and sites[1].code_shape == (16, 4, 4)
    assert all(s.direct and s.to_input for s in sites)
    assert [s.kind for s in sites] == ["Conv2d", "Conv2d", "Linear", "Linear"]


def test_find_sites_selection_and_blocks():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 5), nn.ReLU(), nn.Linear(5, 2)).eval()
    x = torch.randn(2, 1, 8, 8)
    sites = find_sites(net, x)
    assert [(s.name, s.kind, s.direct) for s in sites] == [("2", "Conv2d+block", False),
                                                           ("5", "Linear", True)]
    assert [s.name for s in find_sites(net, x, ["4"])] == ["5"]  # a module name selects its ReLU
    assert find_sites(net, x, ["5"])[0].feeds == "2"  # through the flatten
    with pytest.raises(ValueError, match=r"layers: '6' is not an auditable layer"):
        find_sites(net, x, ["6"])


@pytest.mark.parametrize("act", [nn.GELU, nn.LeakyReLU, nn.SiLU, nn.ReLU6, nn.ELU, nn.Mish,
                                 nn.PReLU, nn.SELU, nn.Hardswish])
def test_any_activation_with_a_rule_is_auditable(act):
    """The audit asks the reverse rules which layers are activations: no list of its own."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), act(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8),
                        act(), nn.Linear(8, 2)).eval()
    x = torch.randn(6, 1, 8, 8)
    sites = find_sites(net, x)
    assert [(s.name, s.module, s.feeds, s.direct) for s in sites] == [
        ("1", "0", None, True), ("4", "3", "1", True)]
    meas = measure_site(net, x, sites[1], AuditConfig(n_null=2, n_inputs=6), seed=0)
    assert np.isfinite(meas.metrics["one"]["rel_err"]).all()


def test_activations_without_a_rule_end_no_site():
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4), nn.ReLU()).eval()
    assert [s.module for s in find_sites(net, torch.randn(2, 6))] == ["2"]


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.conv2, self.bn2 = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)  # one module called twice, as in torchvision

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def test_a_layer_whose_output_meets_a_skip_connection_is_not_a_site():
    sites = find_sites(_Residual().eval(), torch.randn(2, 3, 5, 5))
    assert [(s.module, s.name, s.kind, s.feeds) for s in sites] == [
        ("conv1", "relu", "Conv2d+block", None)]


def test_a_newly_registered_activation_is_auditable_without_touching_the_audit():
    from shadownets.reverse import ops

    class Rectifier(nn.Module):  # a user's own activation: x ↦ max(x, 0.01 x)
        def forward(self, x):
            return torch.maximum(x, 0.01 * x)

    net = nn.Sequential(nn.Linear(6, 5), Rectifier(), nn.Linear(5, 4)).eval()
    assert find_sites(net, torch.randn(2, 6)) == []
    ops.register(modules=(Rectifier,))(ops.ReluLikeRule)
    try:
        assert [s.name for s in find_sites(net, torch.randn(2, 6))] == ["1"]
    finally:
        del ops._MODULES[Rectifier]


def test_theory_lift_closed_form():
    torch.manual_seed(1)
    lin = nn.Linear(6, 4)
    z = torch.randn(3, 6)
    w = lin.weight.detach()
    b = -1.3 * w.norm(dim=1)[None] / math.sqrt(6) * z.norm(dim=1, keepdim=True) * math.sqrt(
        math.log(4))
    torch.testing.assert_close(theory_lift(lin, z, 1.3), torch.relu(z @ w.T + b))


def test_exact_recovery_through_an_orthogonal_layer():
    """h = ReLU(Q x), z = Qᵀ h, ĥ = ReLU(Q z) = h exactly when α = 1 and there is no bias."""
    torch.manual_seed(2)
    q, _ = torch.linalg.qr(torch.randn(12, 12))
    lin = nn.Linear(12, 12, bias=False)
    with torch.no_grad():
        lin.weight.copy_(q)
    net = nn.Sequential(lin, nn.ReLU(), nn.Linear(12, 3)).eval()
    x = torch.randn(20, 12)
    site = find_sites(net, x[:2])[0]
    cfg = AuditConfig(alpha=1.0, theory_c=0.0)
    meas = measure_site(net, x, site, cfg, seed=0, keep_examples=True)
    for setting in ("one", "one_theory", "input"):
        np.testing.assert_allclose(meas.metrics[setting]["rel_err"], 0.0, atol=1e-10)
        np.testing.assert_allclose(meas.metrics[setting]["f1"], 1.0)
    assert meas.generated.shape == (8, 12)
    np.testing.assert_array_equal(meas.active, (torch.relu(x @ q.T) > 0).sum(1).numpy())


def test_blocks_have_no_theory_setting():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 40), nn.BatchNorm1d(40), nn.ReLU(), nn.Linear(40, 2)).eval()
    x = torch.randn(16, 5)
    meas = measure_site(net, x, find_sites(net, x[:2])[0], AuditConfig(), seed=0)
    assert np.isnan(meas.metrics["one_theory"]["rel_err"]).all()
    assert np.isfinite(meas.metrics["one"]["rel_err"]).all()


def test_generated_layer_input_is_nonnegative_below_a_pool(lenet):
    """Generating to the ReLU below a max pool keeps z >= 0, as the real input is."""
    x = torch.randn(24, 1, 8, 8)
    site = find_sites(lenet, x[:2])[1]
    meas = measure_site(lenet, x, site, AuditConfig(n_examples=0), seed=0)
    assert np.isfinite(meas.metrics["one_theory"]["rel_err"]).any()
    from shadownets.reverse import reverse

    shadow = reverse(lenet, x[:1], site.name, to=site.feeds, alpha="theory")
    enc = shadow.encode(x)
    with torch.no_grad():
        assert float(shadow.generate(enc.h, switches=enc.switches).min()) >= 0.0


def test_fit_scale_finds_the_factor():
    from shadownets.audit.reversibility import _fit_scale, _mean_rel_err

    z = torch.rand(10, 5) + 0.1
    best = _fit_scale(lambda t: _mean_rel_err(z * 2.0 ** t, 3.0 * z))
    assert best == pytest.approx(3.0, rel=0.05)
    assert _fit_scale(lambda t: _mean_rel_err(z * 2.0 ** t, z)) == 1.0


def test_one_encoding_for_all_sites_equals_one_site_at_a_time(lenet):
    """measure_net encodes each batch once for every site; each site's figures must be what
    measuring it alone gives (same seeds), batches split or not."""
    from shadownets.audit.reversibility import measure_net

    x = torch.randn(40, 1, 8, 8)
    sites = find_sites(lenet, x[:2])
    cfg = AuditConfig(calibrate_inputs=16, fit_inputs=8, batch_size=16)
    together = measure_net(lenet, x, sites, cfg, seeds=[5, 6, 7, 8])
    for site, seed, meas in zip(sites, [5, 6, 7, 8], together, strict=True):
        alone = measure_site(lenet, x, site, cfg, seed=seed)
        assert meas.scales == alone.scales
        for setting, by_metric in alone.metrics.items():
            np.testing.assert_allclose(meas.metrics[setting]["rel_err"],
                                       by_metric["rel_err"], rtol=1e-5)


@pytest.mark.parametrize("site_index", [1, 2])
def test_fast_scale_fit_equals_the_brute_force_one(lenet, site_index):
    """Oracle: the grid search on lift(s · z) itself (pools and a flatten below the module)."""
    from shadownets.audit.reversibility import _fit_scale, _mean_rel_err, _SiteRun
    from shadownets.reverse.graph import TracedNet

    x = torch.randn(16, 1, 8, 8)
    with torch.no_grad():
        lenet.net[{1: 3, 2: 7}[site_index]].weight.mul_(3.0)  # the best scale is then not 1
    traced = TracedNet(lenet, x[:1])
    site = find_sites(lenet, x[:2])[site_index]
    run = _SiteRun(lenet, traced, site, AuditConfig(alpha=0.7))
    enc = run.one.encode(x)
    with torch.no_grad():
        gens = run.generate(enc.h, enc.switches or {}, torch.Generator().manual_seed(1))
        run.fit(enc.h, gens)
        z = gens["one"]
        for setting in ("one", "one_theory"):
            brute = _fit_scale(lambda t, s=setting: _mean_rel_err(
                run.lifts[s](z * 2.0 ** t), enc.h))
            assert run.scales[setting] == pytest.approx(brute, rel=1e-6)
    assert run.scales["one"] != 1.0
