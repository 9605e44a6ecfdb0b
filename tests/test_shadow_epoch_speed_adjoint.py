"""The stride-1 conv adjoint's fast paths (NNPACK for few channels) equal the exact VJP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shadownets.reverse import adjoint

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _vjp(g, weight, padding, dilation, in_size):
    d = weight.ndim - 2
    primal = g.new_zeros((g.shape[0], weight.shape[1], *in_size))
    _, pull = torch.func.vjp(lambda t: _CONV[d](t, weight, None, 1, padding, dilation), primal)
    return pull(g)[0]


CASES = [  # (batch, c_in, c_out, in_size, kernel, padding, dilation)
    (64, 1, 6, (28, 28), (5, 5), (2, 2), (1, 1)),  # LeNet conv0 on 28x28: NNPACK
    (32, 3, 6, (12, 10), (5, 3), (2, 0), (1, 1)),  # asymmetric kernel and padding
    (16, 2, 4, (9, 11), (3, 4), (0, 3), (1, 1)),  # even kernel, padding = kernel - 1
    (20, 4, 8, (8, 8), (5, 5), (2, 2), (1, 1)),  # at the channel limit
    (64, 6, 16, (14, 14), (5, 5), (2, 2), (1, 1)),  # above it: oneDNN
    (8, 1, 6, (28, 28), (5, 5), (2, 2), (1, 1)),  # small batch: oneDNN
    (32, 2, 6, (12, 12), (3, 3), (1, 1), (2, 2)),  # dilated: oneDNN
    (32, 1, 5, (40,), (7,), (3,), (1,)),  # 1-D: oneDNN
    (32, 2, 3, (33,), (4,), (1,), (1,)),
    (16, 1, 3, (6, 7, 5), (3, 3, 3), (1, 1, 1), (1, 1, 1)),  # 3-D: oneDNN
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"b{c[0]}c{c[1]}k{c[4]}p{c[5]}d{c[6]}")
def test_stride1_adjoint_equals_vjp(case):
    batch, c_in, c_out, in_size, kernel, padding, dilation = case
    gen = torch.Generator().manual_seed(sum(in_size) + c_in)
    weight = torch.randn(c_out, c_in, *kernel, generator=gen)
    out_size = [i + 2 * p - dl * (k - 1)
                for i, p, k, dl in zip(in_size, padding, kernel, dilation, strict=True)]
    g = torch.randn(batch, c_out, *out_size, generator=gen)
    got = adjoint.conv_transpose(g, weight, stride=1, padding=padding, dilation=dilation,
                                 groups=1, in_size=in_size)
    want = _vjp(g.double(), weight.double(), padding, dilation, in_size)
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5 * want.abs().max())


def test_nnpack_path_taken_for_few_channels(monkeypatch):
    """LeNet's first conv (1 input channel) goes through NNPACK where the build has it, and a
    conv with many input channels (or autograd through the weight) does not."""
    if not adjoint._nnpack_available():
        pytest.skip("this torch build has no NNPACK")
    calls = []
    real = adjoint._nnpack_conv
    monkeypatch.setattr(adjoint, "_nnpack_conv", lambda *a: calls.append(1) or real(*a))
    g = torch.randn(64, 6, 28, 28)
    with torch.no_grad():
        adjoint.conv_transpose(g, torch.randn(6, 1, 5, 5), stride=1, padding=2, dilation=1,
                               groups=1, in_size=(28, 28))
    assert len(calls) == 1
    with torch.no_grad():
        adjoint.conv_transpose(torch.randn(64, 16, 14, 14), torch.randn(16, 6, 5, 5),
                               stride=1, padding=2, dilation=1, groups=1, in_size=(14, 14))
    w = torch.randn(6, 1, 5, 5, requires_grad=True)
    out = adjoint.conv_transpose(g, w, stride=1, padding=2, dilation=1, groups=1,
                                 in_size=(28, 28))
    assert len(calls) == 1
    out.sum().backward()  # the autograd path still differentiates
    assert w.grad is not None and w.grad.shape == w.shape


def test_float64_and_grad_mode_use_the_exact_path():
    weight = torch.randn(6, 1, 5, 5, dtype=torch.float64)
    g = torch.randn(32, 6, 28, 28, dtype=torch.float64)
    got = adjoint.conv_transpose(g, weight, stride=1, padding=2, dilation=1, groups=1,
                                 in_size=(28, 28))
    torch.testing.assert_close(got, _vjp(g, weight, (2, 2), (1, 1), (28, 28)))
