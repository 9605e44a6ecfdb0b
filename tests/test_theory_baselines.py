import numpy as np
import pandas as pd
import pytest
import torch

from shadownets.theory import NetConfig, RandomLikeNet
from shadownets.theory.baselines import (
    BASELINE_COLUMNS,
    BASELINE_SAMPLE_COLUMNS,
    baseline_samples,
    compare_baselines,
    solve_baseline,
    summarize_baselines,
)


def test_solvers_recover_an_overdetermined_instance_exactly():
    """With ρn/2 ≫ m kept rows the active system is overdetermined: exact solvers find h."""
    net = RandomLikeNet(NetConfig((400, 50), k=4, rho=1.0), seed=0, dtype=torch.float64)
    x, h = net.sample(3, generator=1)
    for method in ("nnls", "omp"):
        est = solve_baseline(method, net, x, 4)
        assert torch.allclose(est, h, atol=1e-6), method
    est = solve_baseline("lasso", net, x, 4)
    assert float(((est - h).pow(2).sum(1) / h.pow(2).sum(1)).max()) < 1e-3


def test_iteration_caps_stop_the_solvers_early():
    net = RandomLikeNet(NetConfig((400, 50), k=4, rho=1.0), seed=0, dtype=torch.float64)
    x, h = net.sample(3, generator=1)
    one_atom = solve_baseline("omp", net, x, 4, iterations=1)
    assert ((one_atom > 0).sum(1) <= 1).all()  # one atom, clipped at 0
    err = (one_atom - h).pow(2).sum(1) / h.pow(2).sum(1)
    assert (err > 1e-3).all()  # one atom of four cannot be exact
    one_pass = solve_baseline("lasso", net, x, 4, iterations=1)
    full = solve_baseline("lasso", net, x, 4)
    assert not torch.allclose(one_pass, full)
    with pytest.raises(ValueError, match="iterations must"):
        solve_baseline("omp", net, x, 4, iterations=0)


def test_compare_rows_and_columns():
    df = compare_baselines(NetConfig((300, 100), k=5, rho=0.5), batch=8)
    assert list(df["method"]) == ["feedforward", "nnls", "lasso", "omp"]
    assert list(df.columns) == list(BASELINE_COLUMNS)
    assert (df["budget"] == "full").all() and (df["iterations"] == -1).all()
    assert (df["n_samples"] == 8).all()
    assert df["rel_error_sq"].between(0, 10).all()


def test_matched_and_minimal_budgets():
    samples = baseline_samples(NetConfig((300, 100), k=5, rho=0.5), batch=6,
                               budgets=("full", "matched", "minimal"))
    assert list(samples.columns) == list(BASELINE_SAMPLE_COLUMNS)
    kinds = samples.groupby(["method", "budget"], sort=False).size()
    assert (kinds == 6).all()
    assert ("nnls", "minimal") not in kinds.index  # NNLS cannot be stopped after one step
    assert {("lasso", "matched"), ("omp", "matched"), ("nnls", "matched"),
            ("lasso", "minimal"), ("omp", "minimal")} <= set(kinds.index)
    ff = samples[samples["method"] == "feedforward"]
    budget = float(ff["seconds"].iloc[0])
    matched = samples[samples["budget"] == "matched"]
    for _, part in matched.groupby("method"):
        cap = int(part["iterations"].iloc[0])
        if cap == 0:  # nothing fitted the budget: ĥ = 0
            assert (part["rel_error_sq"] == 1.0).all() and (part["seconds"] == 0).all()
        elif cap > 0:  # the cap was chosen to fit the budget on probe samples
            assert float(part["seconds"].median()) < 20 * budget
    minimal = samples[samples["budget"] == "minimal"]
    assert (minimal["iterations"] == 1).all() and (minimal["seconds"] > 0).all()
    summary = summarize_baselines(samples)
    assert list(summary.columns) == list(BASELINE_COLUMNS)
    row = summary[(summary["method"] == "omp") & (summary["budget"] == "minimal")].iloc[0]
    part = samples[(samples["method"] == "omp") & (samples["budget"] == "minimal")]
    assert row["rel_error_sq"] == pytest.approx(part["rel_error_sq"].mean())
    assert row["seconds_per_sample"] == pytest.approx(part["seconds"].mean())


def test_feedforward_runs_in_float32_with_the_same_weights():
    """The feed-forward row comes from a float32 copy of the float64 net: its error agrees
    with a float64 pass to float32 round-off."""
    from shadownets.theory._checks import derive_seed, make_generator
    from shadownets.theory.recovery import draw, recover

    cfg = NetConfig((300, 100), k=5, rho=0.5)
    samples = baseline_samples(cfg, batch=6, methods=())
    net, truth = draw(cfg, batch=6, seed=0, dtype=torch.float64)
    res = recover(net, truth, "calibrated", generator=make_generator(derive_seed(0, 2)))
    h = truth[-1]
    err64 = ((res.estimate[-1] - h).pow(2).sum(1) / h.pow(2).sum(1)).numpy()
    np.testing.assert_allclose(samples["rel_error_sq"], err64, rtol=1e-3, atol=1e-5)


def test_errors():
    net = RandomLikeNet(NetConfig((30, 10, 5), k=2), seed=0)
    with pytest.raises(ValueError, match="unknown baseline 'lsqr'"):
        solve_baseline("lsqr", net, torch.zeros(1, 30), 2)
    with pytest.raises(ValueError, match="one layer"):
        solve_baseline("nnls", net, torch.zeros(1, 30), 2)
    cfg = NetConfig((30, 10), k=2)
    with pytest.raises(ValueError, match="budgets must be a non-empty selection"):
        baseline_samples(cfg, batch=2, budgets=("quick",))
    with pytest.raises(ValueError, match="unknown baseline 'cg'"):
        baseline_samples(cfg, batch=2, methods=("cg",))
    assert isinstance(summarize_baselines(baseline_samples(cfg, batch=2)), pd.DataFrame)
