"""The autoencoders of a weight-tying experiment: untied, tied and linear, one or two layers.

With widths ``(d, M)`` (depth 1) or ``(d, M, M)`` (depth 2), layer ``ℓ`` has an encoder
``E_ℓ`` of shape (M_ℓ, n_{ℓ−1}) and a decoder ``D_ℓ`` of shape (n_{ℓ−1}, M_ℓ)::

    up:    h_ℓ = ReLU(E_ℓ h_{ℓ−1} + b_ℓ),        h_0 = x
    down:  g_{ℓ−1} = ReLU(D_ℓ g_ℓ + c_ℓ),       g_L = h_L;   x̂ = D_1 g_1 + c_1 (no ReLU)

``untied``: E and D are separate parameters (the claim is about them). ``tied``: D_ℓ = E_ℓᵀ
(only the biases c_ℓ are its own). ``linear``: no ReLU and no biases, ``x̂ = D E x`` for
depth 1 (Kunin et al.'s linear autoencoder). The model does no training and no I/O.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from shadownets.tying.config import MODELS

__all__ = ["Autoencoder"]


class Autoencoder(nn.Module):
    """An autoencoder of kind ``untied``, ``tied`` or ``linear`` (see the module docstring).

    Parameters
    ----------
    dim : int
        d, the input length.
    hidden : int
        M, the width of every hidden layer.
    depth : int
        1 or 2.
    kind : str
        One of :data:`shadownets.tying.config.MODELS`.

    Encoders and decoders start from PyTorch's ``nn.Linear`` initialisation, independently
    drawn (so an untied net starts untied: its cosines start near 0).
    """

    def __init__(self, dim: int, hidden: int, depth: int = 1, kind: str = "untied") -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"kind must be one of {', '.join(MODELS)}; got {kind!r}")
        if depth not in (1, 2):
            raise ValueError(f"depth must be 1 or 2; got {depth!r}")
        self.kind = kind
        widths = (dim,) + (hidden,) * depth
        bias = kind != "linear"
        self.encoders = nn.ModuleList(nn.Linear(a, b, bias=bias)
                                      for a, b in zip(widths[:-1], widths[1:], strict=True))
        if kind == "tied":
            self.decoders = nn.ModuleList()
            self.decoder_biases = nn.ParameterList(nn.Parameter(torch.zeros(a))
                                                   for a in widths[:-1])
        else:
            self.decoders = nn.ModuleList(nn.Linear(b, a, bias=bias)
                                          for a, b in zip(widths[:-1], widths[1:], strict=True))

    @property
    def depth(self) -> int:
        return len(self.encoders)

    def _act(self, t: Tensor) -> Tensor:
        return t if self.kind == "linear" else torch.relu(t)

    def decoder_weight(self, layer: int) -> Tensor:
        """D_ℓ of shape (n_{ℓ−1}, M_ℓ) for ``layer`` ℓ = 1..depth (tied: E_ℓᵀ)."""
        if self.kind == "tied":
            return self.encoders[layer - 1].weight.T
        return self.decoders[layer - 1].weight

    def _decode_layer(self, layer: int, g: Tensor) -> Tensor:
        if self.kind == "tied":
            return g @ self.encoders[layer - 1].weight + self.decoder_biases[layer - 1]
        return self.decoders[layer - 1](g)

    def encode(self, x: Tensor) -> list[Tensor]:
        """Hidden layers ``[h_1, ..., h_L]`` of ``x`` (batch, d); ``h_ℓ`` is (batch, M)."""
        out, h = [], x
        for enc in self.encoders:
            h = self._act(enc(h))
            out.append(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        """``x̂`` of shape (batch, d) from ``x`` (batch, d)."""
        g = self.encode(x)[-1]
        for layer in range(self.depth, 1, -1):
            g = self._act(self._decode_layer(layer, g))  # (batch, M)
        return self._decode_layer(1, g)  # (batch, d)

    def weight_penalty(self) -> Tensor:
        """``Σ_ℓ ‖E_ℓ‖²_F + ‖D_ℓ‖²_F`` (tied: the shared matrices once); no biases."""
        total = sum(enc.weight.pow(2).sum() for enc in self.encoders)
        return total + sum(dec.weight.pow(2).sum() for dec in self.decoders)

    @torch.no_grad()
    def pairs(self) -> list[tuple[Tensor, Tensor]]:
        """Per layer ℓ = 1..depth: ``(D_ℓ, E_ℓ)``, detached copies of shapes (n_{ℓ−1}, M)
        and (M, n_{ℓ−1})."""
        return [(self.decoder_weight(ell).detach().clone(),
                 self.encoders[ell - 1].weight.detach().clone())
                for ell in range(1, self.depth + 1)]
