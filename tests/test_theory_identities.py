import pytest
import torch

from shadownets.theory import NetConfig
from shadownets.theory.identities import identity_table, model_checks, stein_check


@pytest.mark.parametrize("law", ["gaussian", "rademacher"])
@pytest.mark.parametrize("h, sd", [(1.0, 1.0), (0.3, 2.0), (2.0, 0.5)])
def test_stein_identity_h_over_two(law, h, sd):
    """E[w·ReLU(wh+ξ)] = h/2: Monte Carlo within 4 standard errors (and 2% absolute)."""
    row = stein_check(h, sd, 400_000, generator=torch.Generator().manual_seed(0), weight_law=law)
    assert abs(row["measured"] - h / 2) < 4 * row["std_error"]
    assert abs(row["measured"] - h / 2) < 0.02 * max(1.0, h)


def test_stein_check_detects_a_wrong_claim():
    """The check has power: for w ~ N(0, 2²) the mean is 4·h/2, far from h/2."""
    g = torch.Generator().manual_seed(0)
    w = 2 * torch.randn(100_000, generator=g, dtype=torch.float64)
    xi = torch.randn(100_000, generator=g, dtype=torch.float64)
    assert abs(float((w * torch.relu(w + xi)).mean()) - 2.0) < 0.05


@pytest.mark.parametrize("weights", ["gaussian", "sparse"])
def test_alpha_makes_wtx_unbiased_and_norm_identity(weights):
    rows = model_checks(NetConfig((400, 200), k=8, rho=0.5, weights=weights, degree=10),
                        n_nets=12, batch=50, seed=3)
    for row in rows:
        assert row["holds"], row
        assert abs(row["measured"] - 1.0) < 0.03


def test_identity_table_schema():
    df = identity_table(n_draws=20_000, n_nets=3, batch=10)
    assert list(df.columns) == ["identity", "setting", "expected", "measured", "std_error", "z",
                                "holds", "n_draws"]
    assert len(df) == 12
