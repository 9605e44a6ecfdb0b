"""Training and scoring of the autoencoders: corruption, the Adam loop, held-out errors.

Every random draw goes through an explicit seed: :func:`build` draws a model's initial
weights from ``seed`` (without touching torch's global generator) and :func:`train` draws
batch orders and corruption from a generator seeded with ``seed``, so every model of one seed
sees the same batches (and the untied and tied ones the same corruption).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from shadownets.tying.config import Noise
from shadownets.tying.model import Autoencoder

__all__ = ["corrupt", "build", "train", "fraction_unexplained", "live_units",
           "oracle_decoder"]

#: ``on_record(epoch, model, mean_loss)``: called at epoch 0 (before training, loss NaN) and
#: every ``record_every`` epochs, and after the last.
Recorder = Callable[[int, Autoencoder, float], None]


def corrupt(x: Tensor, noise: Noise, generator: torch.Generator) -> Tensor:
    """``x`` (batch, d) corrupted by ``noise`` (see :mod:`shadownets.tying.config`): masking
    with keep probability ρ rescaled by 1/ρ, additive N(0, σ²), or unchanged."""
    if noise.kind == "dropout":
        if noise.value >= 1.0:
            return x
        keep = torch.rand(x.shape, generator=generator, dtype=x.dtype) < noise.value
        return x * keep / noise.value
    if noise.kind == "gaussian":
        return x + noise.value * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x


def build(kind: str, dim: int, hidden: int, depth: int, seed: int) -> Autoencoder:
    """An :class:`Autoencoder` whose initial weights are drawn from ``seed`` (torch's global
    generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Autoencoder(dim, hidden, depth, kind)


def train(model: Autoencoder, x: Tensor, *, noise: Noise, l2: float, epochs: int, lr: float,
          batch_size: int, seed: int, record_every: int,
          on_record: Recorder | None = None) -> list[float]:
    """Train ``model`` in place to reconstruct ``x`` (N, d) from its corruption.

    Loss per batch: mean over samples of ``‖x̂(x̃) − x‖²`` (summed over coordinates) plus
    ``l2 · model.weight_penalty()``; Adam at ``lr``; a fresh seeded permutation each epoch.

    Returns
    -------
    list of float
        The mean training loss of each epoch.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if on_record is not None:
        on_record(0, model, float("nan"))
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(x.shape[0], generator=gen)
        total, count = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            batch = x[order[start:start + batch_size]]  # (b, d)
            out = model(corrupt(batch, noise, gen))
            loss = (out - batch).pow(2).sum(dim=1).mean() + l2 * model.weight_penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * batch.shape[0]
            count += batch.shape[0]
        losses.append(total / count)
        if on_record is not None and (epoch % record_every == 0 or epoch == epochs):
            on_record(epoch, model, losses[-1])
    return losses


@torch.no_grad()
def fraction_unexplained(model: Autoencoder, x_in: Tensor, target: Tensor,
                         mean: Tensor) -> float:
    """``Σ‖x̂(x_in) − target‖² / Σ‖target − mean‖²`` over the rows (0: perfect; 1: as good as
    predicting ``mean``, the training mean).

    Parameters
    ----------
    x_in, target : Tensor of shape (N, d)
    mean : Tensor of shape (d,)
    """
    model.eval()
    err = (model(x_in) - target).pow(2).sum()
    return float(err / (target - mean).pow(2).sum().clamp_min(1e-30))


@torch.no_grad()
def live_units(model: Autoencoder, x: Tensor) -> list[Tensor]:
    """Per layer, which hidden units are non-zero on at least one row of ``x`` (N, d): bool
    tensors of shape (M,) (all True for the linear autoencoder)."""
    model.eval()
    return [(h != 0).any(dim=0) for h in model.encode(x)]


def oracle_decoder(x: Tensor, codes: Tensor) -> Tensor:
    """The least-squares linear decoder of the true codes: ``D*`` (d, m) minimising
    ``Σ‖x − D* h − c‖²`` over the rows of ``x`` (N, d) and ``codes`` (N, m), with an intercept
    ``c`` (float64)."""
    h = torch.cat([codes.double(), torch.ones(codes.shape[0], 1, dtype=torch.float64)], dim=1)
    sol = torch.linalg.lstsq(h, x.double()).solution  # (m + 1, d)
    return sol[:-1].T.contiguous()
