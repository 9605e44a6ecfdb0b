import pytest
import torch

from shadownets.theory import NetConfig, RandomLikeNet
from shadownets.theory.baselines import compare_baselines, solve_baseline


def test_solvers_recover_an_overdetermined_instance_exactly():
    """With ρn/2 ≫ m kept rows the active system is overdetermined: exact solvers find h."""
    net = RandomLikeNet(NetConfig((400, 50), k=4, rho=1.0), seed=0, dtype=torch.float64)
    x, h = net.sample(3, generator=1)
    for method in ("nnls", "omp"):
        est = solve_baseline(method, net, x, 4)
        assert torch.allclose(est, h, atol=1e-6), method
    est = solve_baseline("lasso", net, x, 4)
    assert float(((est - h).pow(2).sum(1) / h.pow(2).sum(1)).max()) < 1e-3


def test_compare_rows_and_feedforward_fastest():
    df = compare_baselines(NetConfig((300, 100), k=5, rho=0.5), batch=8)
    assert list(df["method"]) == ["feedforward", "nnls", "lasso", "omp"]
    assert list(df.columns) == ["method", "rel_error_sq", "rel_error_sq_std", "support_f1",
                                "seconds_per_sample", "n_samples"]
    assert (df["n_samples"] == 8).all()
    assert df["rel_error_sq"].between(0, 10).all()


def test_errors():
    net = RandomLikeNet(NetConfig((30, 10, 5), k=2), seed=0)
    with pytest.raises(ValueError, match="unknown baseline 'lsqr'"):
        solve_baseline("lsqr", net, torch.zeros(1, 30), 2)
    with pytest.raises(ValueError, match="one layer"):
        solve_baseline("nnls", net, torch.zeros(1, 30), 2)
