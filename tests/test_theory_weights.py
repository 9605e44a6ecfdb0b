import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shadownets.theory import (
    DenseWeights,
    NetConfig,
    SparseWeights,
    gaussian_weights,
    sparse_graph_weights,
)


def _pair(kind, n, m, d, seed):
    if kind == "dense":
        return gaussian_weights(n, m, generator=seed, dtype=torch.float64)
    return sparse_graph_weights(n, m, d, generator=seed, dtype=torch.float64)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["dense", "sparse"]), n=st.integers(1, 30), m=st.integers(1, 30),
       d=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_adjoint_identity(kind, n, m, d, seed):
    """<W h, x> = <h, Wᵀ x>, and Wᵀx equals the vector-Jacobian product of h -> W h."""
    W = _pair(kind, n, m, min(d, m), seed)
    g = torch.Generator().manual_seed(seed + 1)
    h = torch.randn(3, m, generator=g, dtype=torch.float64)
    x = torch.randn(3, n, generator=g, dtype=torch.float64)
    lhs = (W.matmul(h) * x).sum()
    rhs = (h * W.rmatmul(x)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    D = W.dense()
    _, vjp = torch.func.vjp(lambda v: v @ D.T, h)
    assert torch.allclose(vjp(x)[0], W.rmatmul(x), atol=1e-10)


def test_sparse_rows_have_exactly_d_distinct_neighbours():
    for m, d in ((50, 40), (1000, 16)):  # dense-regime and rejection-regime samplers
        W = sparse_graph_weights(300, m, d, generator=0)
        cols = W.columns
        assert cols.shape == (300, d)
        assert all(len(set(r.tolist())) == d for r in cols)
        assert ((W.dense() != 0).sum(1) == d).all()


@pytest.mark.parametrize("values", ["gaussian", "rademacher"])
def test_sparse_statistics_match_dense(values):
    """Entries have mean 0 and second moment 1, so α = 2/(ρn) keeps E‖x‖² = 2‖h‖²/(ρn)."""
    W = sparse_graph_weights(2000, 400, 20, values=values, generator=5, dtype=torch.float64)
    D = W.dense()
    assert abs(float(D.mean())) < 0.01
    assert abs(float(D.pow(2).mean()) - 1.0) < 0.03
    if values == "rademacher":
        nz = D[D != 0].abs()
        assert torch.allclose(nz, torch.full_like(nz, (400 / 20) ** 0.5))
    # column norms² concentrate at n like the dense model's
    col = D.pow(2).sum(0) / 2000
    assert abs(float(col.mean()) - 1.0) < 0.03


def test_sparse_model_norm_identity_matches_dense():
    ratios = {}
    for fam in ("gaussian", "sparse"):
        vals = []
        for s in range(15):
            from shadownets.theory import RandomLikeNet

            cfg = NetConfig((600, 300), k=10, rho=0.5, weights=fam, degree=12)
            net = RandomLikeNet(cfg, seed=s, dtype=torch.float64)
            x, h = net.sample(100, generator=s + 100)
            vals.append(float((x.pow(2).sum(1) * 0.5 * 600 / (2 * h.pow(2).sum(1))).mean()))
        ratios[fam] = sum(vals) / len(vals)
    assert abs(ratios["gaussian"] - 1) < 0.03 and abs(ratios["sparse"] - 1) < 0.03


def test_sparse_columns_are_checked():
    vals = torch.ones(1, 2)
    with pytest.raises(ValueError, match=r"columns must lie in \[0, 3\)"):
        SparseWeights(torch.tensor([[0, 7]]), vals, m=3)
    with pytest.raises(ValueError, match=r"columns must lie in \[0, 3\)"):
        SparseWeights(torch.tensor([[-1, 1]]), vals, m=3)
    with pytest.raises(ValueError, match="distinct"):
        SparseWeights(torch.tensor([[1, 1]]), vals, m=3)
    with pytest.raises(ValueError, match="integer tensor"):
        SparseWeights(torch.tensor([[0.0, 1.0]]), vals, m=3)
    # unsorted columns are sorted with their values
    W = SparseWeights(torch.tensor([[2, 0]]), torch.tensor([[5.0, 7.0]]), m=3)
    assert torch.equal(W.dense(), torch.tensor([[7.0, 0.0, 5.0]]))


def test_errors():
    with pytest.raises(ValueError, match=r"degree must lie in \[1, 10\], got 11"):
        sparse_graph_weights(5, 10, 11)
    with pytest.raises(ValueError, match="non-finite"):
        DenseWeights(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="non-finite"):
        DenseWeights(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(ValueError, match=r"shape \(n, m\)"):
        DenseWeights(torch.ones(3))
    with pytest.raises(ValueError, match="values must be one of"):
        sparse_graph_weights(5, 10, 2, values="cauchy")
