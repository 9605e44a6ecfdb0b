import pytest
import torch

from shadownets.theory import in_regime, recovery_metrics, theorem_bound


def test_perfect_and_zero_estimates():
    h = torch.tensor([[0.0, 1.0, 2.0, 0.0]])
    m = recovery_metrics(h.clone(), h)
    assert float(m["rel_error_sq"]) == 0 and float(m["support_f1"]) == 1
    assert float(m["cosine"]) == pytest.approx(1.0)
    z = recovery_metrics(torch.zeros_like(h), h)
    assert float(z["rel_error_sq"]) == 1.0 and float(z["linf_error"]) == 1.0
    assert float(z["precision"]) == 1.0 and float(z["recall"]) == 0.0
    assert float(z["support_f1"]) == 0.0


def test_known_partial_support():
    h = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    est = torch.tensor([[1.0, 0.0, 0.5, 0.0]])
    m = recovery_metrics(est, h)
    assert float(m["precision"]) == 0.5 and float(m["recall"]) == 0.5
    assert float(m["support_f1"]) == 0.5
    assert float(m["rel_error_sq"]) == pytest.approx((1 + 0.25) / 2)


def test_roundoff_residue_is_not_support():
    h = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    est = torch.tensor([[1.0, 1e-14]], dtype=torch.float64)
    assert float(recovery_metrics(est, h)["support_f1"]) == 1.0


def test_bound_and_regime():
    assert theorem_bound(10, 0.5, 100) == pytest.approx(0.2)
    assert in_regime(10, 0.5, 100)  # 10 < 50 < 100
    assert not in_regime(10, 1.0, 100)  # 100 is not < 100
    assert not in_regime(10, 0.05, 100)  # 5 < 10


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        recovery_metrics(torch.zeros(2, 3), torch.zeros(2, 4))
