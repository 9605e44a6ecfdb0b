import pytest
import torch

from shadownets.theory import NetConfig
from shadownets.theory.identities import _row, identity_table, model_checks, stein_check


@pytest.mark.parametrize("law", ["gaussian", "rademacher"])
@pytest.mark.parametrize("h, sd", [(1.0, 1.0), (0.3, 2.0), (2.0, 0.5)])
def test_stein_identity_h_over_two(law, h, sd):
    """E[w·ReLU(wh+ξ)] = h/2: Monte Carlo within 4 standard errors (and 2% absolute)."""
    row = stein_check(h, sd, 400_000, generator=torch.Generator().manual_seed(0), weight_law=law)
    assert abs(row["measured"] - h / 2) < 4 * row["std_error"]
    assert abs(row["measured"] - h / 2) < 0.02 * max(1.0, h)


def test_checks_detect_wrong_claims():
    """The checks have power: a wrong α, or a sample with the wrong mean, fails them."""
    g = torch.Generator().manual_seed(0)
    w = 2 * torch.randn(100_000, generator=g, dtype=torch.float64)  # E[w·ReLU(w+ξ)] = 2, not 0.5
    xi = torch.randn(100_000, generator=g, dtype=torch.float64)
    assert not _row("x", "s", 0.5, w * torch.relu(w + xi))["holds"]
    rows = model_checks(NetConfig((400, 200), k=8, rho=0.5, alpha=1.2 * 2 / (0.5 * 400)),
                        n_nets=6, batch=50)
    assert not rows[0]["holds"] and not rows[1]["holds"]


def test_degenerate_checks_do_not_hold_by_default():
    assert not _row("x", "s", 1.0, torch.full((5,), 5.0))["holds"]
    assert _row("x", "s", 5.0, torch.full((5,), 5.0))["holds"]
    with pytest.raises(ValueError, match="n_draws must lie in"):
        stein_check(1.0, 1.0, 1, generator=torch.Generator())


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
    assert len(df) == 14
