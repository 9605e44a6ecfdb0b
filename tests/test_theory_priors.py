import pytest
import torch

from shadownets.theory import HiddenPrior, sample_hidden


@pytest.mark.parametrize("law", ["uniform", "abs-normal", "constant"])
def test_exactly_k_nonnegative_nonzeros(law):
    h = sample_hidden(50, 40, HiddenPrior(7, law=law), generator=0)
    assert h.shape == (50, 40)
    assert ((h > 0).sum(1) == 7).all()
    assert (h >= 0).all()


def test_uniform_values_in_range_and_support_uniform():
    h = sample_hidden(4000, 10, HiddenPrior(3, low=0.5, high=1.0), generator=1,
                      dtype=torch.float64)
    nz = h[h > 0]
    assert nz.min() >= 0.5 and nz.max() <= 1.0
    assert abs(float(nz.mean()) - 0.75) < 0.01
    # every coordinate is in the support with probability k/m = 0.3
    freq = (h > 0).double().mean(0)
    assert torch.allclose(freq, torch.full_like(freq, 0.3), atol=0.03)


def test_same_seed_same_codes_and_dtype():
    a = sample_hidden(5, 20, HiddenPrior(4), generator=3)
    b = sample_hidden(5, 20, HiddenPrior(4), generator=3)
    c = sample_hidden(5, 20, HiddenPrior(4), generator=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sample_hidden(2, 5, HiddenPrior(1), generator=0, dtype=torch.float64).dtype == \
        torch.float64


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, r"k must lie in \[1, inf\], got 0"),
    ({"k": -2}, r"k must lie"),
    ({"k": 3, "law": "cauchy"}, r"law must be one of"),
    ({"k": 3, "low": 2.0, "high": 1.0}, r"0 < low <= high"),
])
def test_bad_prior(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HiddenPrior(**kwargs)


def test_k_larger_than_m():
    with pytest.raises(ValueError, match=r"k must lie in \[1, m=5\], got k=6"):
        sample_hidden(2, 5, HiddenPrior(6))
