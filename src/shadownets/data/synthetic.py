"""A labeled data set drawn from the random-like generative model of Arora, Liang & Ma.

Class c has a prototype hidden code: k-sparse, nonnegative, random support. A sample of class c
perturbs the prototype's support values multiplicatively, ``h = ReLU(p ⊙ (1 + jitter · g))``
on the support (g ~ N(0, 1)), and is pushed through one fixed random ReLU layer with dropout,
``x = ReLU(α W h) ⊙ z``, ``W ∈ R^{n×m}`` i.i.d. N(0, 1), ``z_j ~ Bernoulli(ρ)``,
``α = 2 / (ρ n)``, ``n = side²``; x is reshaped to (1, side, side). Self-contained on purpose:
it does not import ``shadownets.theory``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from shadownets.data.registry import RawData

__all__ = ["SyntheticConfig", "make_synthetic"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic data set (defaults give 10 classes of 1x16x16 images)."""

    num_classes: int = 10  # K, number of classes (one prototype each)
    hidden: int = 256  # m, size of the hidden code
    sparsity: int = 12  # k, non-zeros of each prototype
    side: int = 16  # images are (1, side, side); n = side**2 observed units
    keep: float = 0.5  # rho, dropout keep probability
    jitter: float = 0.3  # relative perturbation of the support values
    n_train: int = 6000  # examples in the official train split
    n_test: int = 1000  # examples in the official test split
    seed: int = 0  # fixes the prototypes, W and every sample

    def __post_init__(self) -> None:
        for name in ("num_classes", "hidden", "sparsity", "side", "n_train", "n_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.sparsity > self.hidden:
            raise ValueError(
                f"sparsity: must not exceed hidden={self.hidden}, got {self.sparsity}")
        if not 0.0 < self.keep <= 1.0:
            raise ValueError(f"keep: expected a probability in (0, 1], got {self.keep}")
        if not self.jitter >= 0.0:
            raise ValueError(f"jitter: expected a non-negative number, got {self.jitter}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {self.seed!r}")


def _prototypes(cfg: SyntheticConfig, gen: torch.Generator) -> Tensor:
    """(K, m) nonnegative k-sparse codes with values in [1, 2)."""
    protos = torch.zeros(cfg.num_classes, cfg.hidden, dtype=torch.float64)
    for c in range(cfg.num_classes):
        support = torch.randperm(cfg.hidden, generator=gen)[: cfg.sparsity]
        protos[c, support] = 1.0 + torch.rand(cfg.sparsity, generator=gen, dtype=torch.float64)
    return protos


def _world(cfg: SyntheticConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """The fixed part of the model: prototypes (K, m) and weights W (n, m), float64."""
    protos = _prototypes(cfg, gen)
    weight = torch.randn(cfg.side * cfg.side, cfg.hidden, generator=gen, dtype=torch.float64)
    return protos, weight


def _sample(cfg: SyntheticConfig, protos: Tensor, weight: Tensor, n: int,
            gen: torch.Generator) -> tuple[Tensor, Tensor]:
    y = torch.arange(n) % cfg.num_classes  # balanced classes
    y = y[torch.randperm(n, generator=gen)]
    base = protos[y]  # (n, m)
    noise = torch.randn(base.shape, generator=gen, dtype=torch.float64)
    h = torch.relu(base * (1.0 + cfg.jitter * noise))  # zero stays zero off the support
    n_obs = cfg.side * cfg.side
    alpha = 2.0 / (cfg.keep * n_obs)
    z = (torch.rand(n, n_obs, generator=gen, dtype=torch.float64) < cfg.keep).to(h.dtype)
    x = torch.relu(alpha * h @ weight.T) * z  # (n, n_obs)
    return x.to(torch.float32).reshape(n, 1, cfg.side, cfg.side), y.to(torch.int64)


def make_synthetic(config: SyntheticConfig | None = None) -> RawData:
    """Draw the synthetic data set; the same config always gives the same tensors.

    Returns
    -------
    RawData
        ``x_train`` (n_train, 1, side, side) float32, ``x_test`` (n_test, 1, side, side),
        int64 labels, classes ``("class0", ...)``.
    """
    cfg = SyntheticConfig() if config is None else config
    if not isinstance(cfg, SyntheticConfig):
        raise ValueError(f"config: expected a SyntheticConfig, got {type(cfg).__name__}")
    gen = torch.Generator().manual_seed(cfg.seed)
    protos, weight = _world(cfg, gen)
    x_train, y_train = _sample(cfg, protos, weight, cfg.n_train, gen)
    x_test, y_test = _sample(cfg, protos, weight, cfg.n_test, gen)
    classes = tuple(f"class{c}" for c in range(cfg.num_classes))
    return RawData(x_train, y_train, x_test, y_test, classes)
