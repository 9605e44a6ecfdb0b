"""k-sparse nonnegative hidden vectors: the prior on the top layer of the generative model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shadownets.theory._checks import check_int, make_generator

__all__ = ["HIDDEN_LAWS", "HiddenPrior", "sample_hidden"]

#: Laws for the non-zero values of a hidden vector.
HIDDEN_LAWS = ("uniform", "abs-normal", "constant")


@dataclass(frozen=True)
class HiddenPrior:
    """Law of a k-sparse nonnegative hidden vector.

    The support (``k`` coordinates out of ``m``) is uniformly random; the non-zero values are
    i.i.d. from ``law``.
    """

    k: int  # number of non-zeros per vector
    law: str = "uniform"  # "uniform" on [low, high], "abs-normal" |N(0,1)|, or "constant" 1
    low: float = 0.5  # lower end of the uniform law
    high: float = 1.0  # upper end of the uniform law

    def __post_init__(self) -> None:
        check_int("k", self.k, low=1)
        if self.law not in HIDDEN_LAWS:
            raise ValueError(f"law must be one of {HIDDEN_LAWS}, got {self.law!r}")
        if self.law == "uniform" and not (0.0 < self.low <= self.high < float("inf")):
            raise ValueError(
                f"uniform law needs 0 < low <= high < inf, got low={self.low}, high={self.high}"
            )


def sample_hidden(
    batch: int,
    m: int,
    prior: HiddenPrior,
    *,
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw ``batch`` k-sparse nonnegative vectors of length ``m``.

    Parameters
    ----------
    batch, m : int
        Number of vectors and their length.
    prior : HiddenPrior
        Sparsity ``k`` (``1 <= k <= m``) and the law of the non-zero values.
    generator : torch.Generator or int, optional
        Source of randomness (an int is used as a seed).

    Returns
    -------
    Tensor of shape (batch, m)
        Exactly ``k`` positive entries per row, the rest zero.
    """
    batch = check_int("batch", batch, low=1)
    m = check_int("m", m, low=1)
    if prior.k > m:
        raise ValueError(f"k must lie in [1, m={m}], got k={prior.k}")
    gen = make_generator(generator, device)
    gdev = gen.device
    support = torch.rand(batch, m, generator=gen, device=gdev).topk(prior.k, dim=1).indices
    if prior.law == "uniform":
        u = torch.rand(batch, prior.k, generator=gen, device=gdev, dtype=torch.float64)
        values = prior.low + (prior.high - prior.low) * u
    elif prior.law == "abs-normal":
        values = torch.randn(batch, prior.k, generator=gen, device=gdev, dtype=torch.float64).abs()
    else:
        values = torch.ones(batch, prior.k, device=gdev, dtype=torch.float64)
    h = torch.zeros(batch, m, device=gdev, dtype=torch.float64)
    h.scatter_(1, support, values)
    return h.to(device=device, dtype=dtype)
