"""Pure tensor transposes (adjoints) of the linear operators a feed-forward net uses.

Nothing here knows about layer types: every function takes tensors and plain parameters.
All tensors are batch-first: ``g`` has shape (batch, C, *spatial_out) for convolutions and
pools, and the result has the forward input's shape (batch, C_in, *spatial_in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "fit_size",
    "conv_transpose",
    "pool_spread",
    "scatter_unpool",
    "random_switches",
    "vjp_transpose",
]

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _tuple(value: int | Sequence[int], d: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * d
    out = tuple(int(v) for v in value)
    return out * d if len(out) == 1 else out


def fit_size(x: Tensor, size: Sequence[int]) -> Tensor:
    """Crop or zero-pad the trailing ``len(size)`` dims of ``x`` (at their end) to ``size``.

    Cropping is the adjoint of the implicit right padding of ``ceil_mode`` pooling; zero
    padding is the adjoint of rows a strided window never reads.
    """
    d = len(size)
    cur = tuple(x.shape[-d:])
    if cur == tuple(size):
        return x
    for i, (c, s) in enumerate(zip(cur, size, strict=True)):
        dim = x.ndim - d + i
        if c > s:
            x = x.narrow(dim, 0, s)
        elif c < s:
            pad_shape = list(x.shape)
            pad_shape[dim] = s - c
            x = torch.cat([x, x.new_zeros(pad_shape)], dim=dim)
    return x


#: Stride-1 adjoints with at most this many output channels (the forward conv's input
#: channels) run on NNPACK where it is available: oneDNN does poorly with so few output
#: channels (LeNet's first conv, 1 -> 6 channels at 28x28, batch 64: 2.3 ms on oneDNN, 1.0 ms
#: on NNPACK, 1 CPU thread; 1.3-5x faster for 1-4 channels at batch 64, within ~10% either way
#: at batch 256), while with more channels NNPACK is sometimes slower.
NNPACK_MAX_CHANNELS = 4
_NNPACK: list[bool] = []  # torch._nnpack_available(), asked once (the call initialises NNPACK)


def _nnpack_available() -> bool:
    if not _NNPACK:
        try:
            _NNPACK.append(bool(torch._nnpack_available()))
        except (AttributeError, RuntimeError):  # pragma: no cover - builds without NNPACK
            _NNPACK.append(False)
    return _NNPACK[0]


def _use_nnpack(g: Tensor, kernel: Tensor, padding: Sequence[int],
                dilation: Sequence[int]) -> bool:
    """Whether the stride-1 convolution ``conv(g, kernel, padding)`` (the adjoint's form) runs
    on NNPACK: CPU float32, 2-D (1-D as a height of 1 is several times slower there), no
    dilation, padding < kernel size (NNPACK's limit), a batch of at least 16 (PyTorch's own
    threshold), few output channels, no autograd."""
    return (g.device.type == "cpu" and g.dtype == torch.float32
            and kernel.dtype == torch.float32 and g.ndim == 4
            and kernel.shape[0] <= NNPACK_MAX_CHANNELS and g.shape[0] >= 16
            and all(dl == 1 for dl in dilation)
            and all(p < k <= 16 for p, k in zip(padding, kernel.shape[2:], strict=True))
            and not (torch.is_grad_enabled() and (g.requires_grad or kernel.requires_grad))
            and _nnpack_available())


def _nnpack_conv(g: Tensor, kernel: Tensor, padding: Sequence[int]) -> Tensor:
    """``conv2d(g, kernel, padding=padding)`` (stride 1, zero padding) on NNPACK."""
    return torch._nnpack_spatial_convolution(g.contiguous(), kernel.contiguous(), None,
                                             [int(p) for p in padding], [1, 1])


def _transposed_conv(g: Tensor, weight: Tensor, stride: tuple[int, ...],
                     padding: tuple[int, ...], dilation: tuple[int, ...], groups: int,
                     in_size: Sequence[int]) -> Tensor:
    d = len(in_size)
    kernel = weight.shape[2:]
    full = [dl * (k - 1) - p for k, p, dl in zip(kernel, padding, dilation, strict=True)]
    if groups == 1 and all(s == 1 for s in stride) and all(f >= 0 for f in full):
        # stride 1: the adjoint is a plain convolution with the flipped, transposed kernel,
        # which CPU backends run several times faster than conv_transpose (same result)
        flipped = weight.flip(list(range(2, 2 + d))).transpose(0, 1)
        if _use_nnpack(g, flipped, full, dilation):
            try:
                return _nnpack_conv(g, flipped, full)
            except RuntimeError:  # pragma: no cover - NNPACK refused: the oneDNN path below
                _NNPACK[0] = False
        return _CONV[d](g, flipped, None, 1, tuple(full), dilation)
    if d == 2 and groups == 1 and all(dl == 1 for dl in dilation):
        return _subpixel_transposed_conv2d(g, weight, stride, padding, in_size)
    natural = [(o - 1) * s - 2 * p + dl * (k - 1) + 1 for o, s, p, dl, k in
               zip(g.shape[2:], stride, padding, dilation, kernel, strict=True)]
    extra = [i - n for i, n in zip(in_size, natural, strict=True)]
    if all(0 <= e < max(s, dl) for e, s, dl in zip(extra, stride, dilation, strict=True)):
        return _CONV_T[d](g, weight, None, stride, padding, tuple(extra), groups, dilation)
    out = _CONV_T[d](g, weight, None, stride, padding, 0, groups, dilation)
    return fit_size(out, in_size)


def _subpixel_transposed_conv2d(g: Tensor, weight: Tensor, stride: tuple[int, ...],
                                padding: tuple[int, ...], in_size: Sequence[int]) -> Tensor:
    """Adjoint of a strided 2-D convolution as one stride-1 convolution and a pixel shuffle.

    With ``i + p = q·s + r`` (``0 <= r < s``), ``x[i] = Σ_t w[r + t·s] · g[q − t]``: for each
    of the ``s1·s2`` phases ``r`` a full stride-1 convolution of ``g`` with the sub-kernel
    ``w[r::s]``. All phases run as one convolution with ``C_in·s1·s2`` output channels (the
    forward pass's multiply count, ~3x faster than ``conv_transpose2d`` on CPU for AlexNet's
    11×11 stride-4 conv1); the phases are then interleaved and cropped to ``in_size``.
    """
    (s1, s2), (p1, p2) = stride, padding
    c_out, c_in, k1, k2 = weight.shape
    t1, t2 = -(-k1 // s1), -(-k2 // s2)
    w = F.pad(weight, (0, t2 * s2 - k2, 0, t1 * s1 - k1))  # (c_out, c_in, t1·s1, t2·s2)
    w = w.reshape(c_out, c_in, t1, s1, t2, s2).permute(1, 3, 5, 0, 2, 4)
    kernel = w.flip(4, 5).reshape(c_in * s1 * s2, c_out, t1, t2)  # correlation = flipped
    out = F.conv2d(g, kernel, None, 1, (t1 - 1, t2 - 1))  # (b, c_in·s1·s2, q1, q2)
    b, _, q1, q2 = out.shape
    out = out.reshape(b, c_in, s1, s2, q1, q2).permute(0, 1, 4, 2, 5, 3)
    out = out.reshape(b, c_in, q1 * s1, q2 * s2)  # position q·s + r = i + p
    out = out[:, :, p1:, p2:]
    return fit_size(out, in_size).contiguous()


def conv_transpose(g: Tensor, weight: Tensor, *, stride: int | Sequence[int],
                   padding: int | Sequence[int], dilation: int | Sequence[int], groups: int,
                   in_size: Sequence[int]) -> Tensor:
    """Adjoint of a zero-padded convolution (no bias) with the same kernel.

    Parameters
    ----------
    g : Tensor of shape (batch, C_out, *out_size)
    weight : Tensor of shape (C_out, C_in / groups, *kernel)
    stride, padding, dilation : int or tuple of int
    groups : int
    in_size : tuple of int
        Spatial size of the forward input; ``output_padding`` is chosen to reproduce it.

    Returns
    -------
    Tensor of shape (batch, C_in, *in_size)
    """
    d = weight.ndim - 2
    return _transposed_conv(g, weight, _tuple(stride, d), _tuple(padding, d),
                            _tuple(dilation, d), int(groups), in_size)


def pool_spread(g: Tensor, *, kernel: int | Sequence[int], stride: int | Sequence[int],
                padding: int | Sequence[int], dilation: int | Sequence[int],
                in_size: Sequence[int]) -> Tensor:
    """Adjoint of average pooling (zero padding counted): each value / area to its window.

    Parameters
    ----------
    g : Tensor of shape (batch, C, *out_size)
    in_size : tuple of int
        Spatial size of the forward input.

    Returns
    -------
    Tensor of shape (batch, C, *in_size)
    """
    d = len(in_size)
    k = _tuple(kernel, d)
    area = 1
    for v in k:
        area *= v
    channels = g.shape[1]
    weight = g.new_full((channels, 1, *k), 1.0 / area)
    return _transposed_conv(g, weight, _tuple(stride, d), _tuple(padding, d),
                            _tuple(dilation, d), channels, in_size)


def scatter_unpool(g: Tensor, indices: Tensor, in_size: Sequence[int]) -> Tensor:
    """Adjoint of max pooling with fixed switches: each value goes to its recorded argmax.

    Parameters
    ----------
    g : Tensor of shape (batch, C, *out_size)
    indices : LongTensor of shape (batch, C, *out_size)
        Flat positions in the (batch, C) plane, as returned by ``max_poolNd(...,
        return_indices=True)``.
    in_size : tuple of int

    Returns
    -------
    Tensor of shape (batch, C, *in_size)
        Values landing on the same position (overlapping windows) are summed.
    """
    numel = 1
    for s in in_size:
        numel *= int(s)
    out = g.new_zeros(g.shape[0], g.shape[1], numel)
    out.scatter_add_(2, indices.reshape(g.shape[0], g.shape[1], -1), g.reshape(*g.shape[:2], -1))
    return out.reshape(g.shape[0], g.shape[1], *in_size)


def random_switches(shape: Sequence[int], *, kernel: int | Sequence[int],
                    stride: int | Sequence[int], padding: int | Sequence[int],
                    dilation: int | Sequence[int], ceil_mode: bool, device: torch.device,
                    generator: torch.Generator | None) -> Tensor:
    """Switches at a uniformly random valid position of each pooling window.

    The argmax of i.i.d. uniform values is uniform over a window's valid positions, so the
    max pool of a random tensor gives exactly such switches.

    Parameters
    ----------
    shape : tuple of int
        Forward input shape (batch, C, *in_size).

    Returns
    -------
    LongTensor of shape (batch, C, *out_size)
    """
    d = len(shape) - 2
    noise = torch.rand(tuple(shape), generator=generator, device=device)
    _, idx = _MAX_POOL[d](noise, kernel, stride, padding, dilation, ceil_mode=ceil_mode,
                          return_indices=True)
    return idx


def vjp_transpose(f: Callable[[Tensor], Tensor], g: Tensor, in_shape: Sequence[int]) -> Tensor:
    """Adjoint of a linear map ``f`` applied to ``g``: the vector-Jacobian product at zero.

    Parameters
    ----------
    f : callable
        Linear in its argument (no bias), maps (batch, *in_shape) to ``g``'s shape.
    g : Tensor of shape (batch, *out_shape)
    in_shape : tuple of int
        Per-sample input shape of ``f``.

    Returns
    -------
    Tensor of shape (batch, *in_shape)
    """
    primal = g.new_zeros((g.shape[0], *in_shape))
    _, pull = torch.func.vjp(f, primal)
    return pull(g)[0]
