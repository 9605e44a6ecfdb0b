"""The random-like multi-layer generative model and its feed-forward inference.

Layers are numbered from the observed layer ``ℓ = 0`` (``x = h^(0)``, width ``n_0``) to the top
hidden layer ``ℓ = L`` (``h^(L)``, width ``n_L = m``, k-sparse). Layer ``ℓ`` has weights ``W_ℓ``
of shape (n_{ℓ−1}, n_ℓ), keep probability ``ρ_ℓ`` and scale ``α_ℓ = 2/(ρ_ℓ n_{ℓ−1})``:

    generation (down):  h^(ℓ−1) = ReLU(α_ℓ W_ℓ h^(ℓ)) ⊙ z_ℓ,   z_ℓ ~ Bernoulli(ρ_ℓ)
                        (ρ_ℓ rounded to a multiple of 2⁻¹⁶, see ``bernoulli_mask``)
    inference (up):     ĥ^(ℓ)  = ReLU(W_ℓᵀ ĥ^(ℓ−1) + b_ℓ),    ĥ^(0) = x

Both directions return every layer as a list indexed by ``ℓ`` (entry 0 is ``x``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from shadownets.theory._checks import (
    bernoulli_mask,
    check_finite,
    check_int,
    check_matrix_batch,
    check_nonnegative,
    check_prob,
    make_generator,
)
from shadownets.theory.bias import LayerBias
from shadownets.theory.priors import HiddenPrior, sample_hidden
from shadownets.theory.weights import (
    SPARSE_VALUES,
    WEIGHT_FAMILIES,
    DenseWeights,
    LayerWeights,
    gaussian_weights,
    sparse_graph_weights,
)

__all__ = ["NetConfig", "RandomLikeNet"]


@dataclass(frozen=True)
class NetConfig:
    """Shape and laws of a random-like generative net.

    ``widths`` runs from the observed layer up: ``(n_0, n_1, ..., n_L)``; depth ``L =
    len(widths) − 1``. ``rho`` (and ``alpha`` when given) hold one value per layer ``ℓ = 1..L``;
    a single number is used for every layer.
    """

    widths: tuple[int, ...]  # (n_0 observed, ..., n_L = m top hidden)
    k: int  # non-zeros of the top hidden code
    rho: tuple[float, ...] | float = 1.0  # keep probability of the dropout mask z_ℓ, per layer
    weights: str = "gaussian"  # "gaussian" dense N(0,1), or "sparse" random bipartite graph
    degree: int | None = None  # sparse: hidden neighbours per observed unit (required)
    sparse_values: str = "gaussian"  # sparse: edge values N(0,1) or "rademacher" ±1
    law: str = "uniform"  # law of the top code's non-zeros (see HiddenPrior)
    low: float = 0.5  # uniform law: lower end
    high: float = 1.0  # uniform law: upper end
    alpha: tuple[float, ...] | float | None = None  # default 2/(ρ_ℓ n_{ℓ−1})
    prior: HiddenPrior = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        widths = tuple(self.widths)
        if len(widths) < 2:
            raise ValueError(f"widths must list at least (n, m), got {widths}")
        widths = tuple(check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths))
        depth = len(widths) - 1
        object.__setattr__(self, "widths", widths)
        k = check_int("k", self.k)
        if not 1 <= k <= widths[-1]:
            raise ValueError(f"k must lie in [1, m={widths[-1]}], got k={k}")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "rho", self._per_layer("rho", self.rho, depth, check_prob))
        if self.alpha is not None:
            object.__setattr__(
                self, "alpha", self._per_layer("alpha", self.alpha, depth, _check_positive)
            )
        if self.weights not in WEIGHT_FAMILIES:
            raise ValueError(f"weights must be one of {WEIGHT_FAMILIES}, got {self.weights!r}")
        if self.weights == "sparse":
            if self.degree is None:
                raise ValueError("weights='sparse' needs degree (hidden neighbours per unit)")
            for ell in range(1, depth + 1):
                check_int("degree", self.degree, low=1, high=widths[ell])
        if self.sparse_values not in SPARSE_VALUES:
            raise ValueError(
                f"sparse_values must be one of {SPARSE_VALUES}, got {self.sparse_values!r}"
            )
        object.__setattr__(self, "prior", HiddenPrior(self.k, self.law, self.low, self.high))

    @staticmethod
    def _per_layer(name, value, depth, check) -> tuple[float, ...]:
        if isinstance(value, (str, bytes)):
            raise ValueError(f"{name} must be a number or a sequence of numbers, got {value!r}")
        values = (value,) * depth if isinstance(value, (int, float)) else tuple(value)
        if len(values) != depth:
            raise ValueError(f"{name} needs {depth} values (one per layer), got {len(values)}")
        return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.widths) - 1

    @property
    def alphas(self) -> tuple[float, ...]:
        """α_ℓ per layer (given, or 2/(ρ_ℓ n_{ℓ−1}))."""
        if self.alpha is not None:
            return self.alpha  # type: ignore[return-value]
        return tuple(2.0 / (r * n) for r, n in zip(self.rho, self.widths[:-1], strict=True))  # type: ignore


def _check_positive(name: str, v: float) -> float:
    v = float(v)
    if not 0 < v < float("inf"):
        raise ValueError(f"{name} must be positive and finite, got {v}")
    return v


class RandomLikeNet:
    """A drawn instance of the generative model: weights fixed, codes and masks random.

    Parameters
    ----------
    config : NetConfig
    weights : sequence of LayerWeights or Tensor, optional
        User-given ``W_ℓ`` of shape (n_{ℓ−1}, n_ℓ) for ``ℓ = 1..L``; drawn from
        ``config.weights`` when omitted.
    seed : int or torch.Generator, optional
        Randomness for the weights (default 0).
    dtype, device : torch dtype and device of every tensor.
    """

    def __init__(
        self,
        config: NetConfig,
        *,
        weights: Sequence[LayerWeights | torch.Tensor] | None = None,
        seed: int | torch.Generator | None = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.config = config
        self.dtype, self.device = dtype, torch.device(device)
        w = config.widths
        if weights is None:
            gen = make_generator(seed, "cpu" if config.weights == "sparse" else device)
            weights = [self._draw(w[ell - 1], w[ell], gen) for ell in range(1, config.depth + 1)]
        if len(weights) != config.depth:
            raise ValueError(f"weights needs {config.depth} matrices, got {len(weights)}")
        self.layers: list[LayerWeights] = []
        for ell, W in enumerate(weights, start=1):
            if not isinstance(W, LayerWeights):
                W = DenseWeights(torch.as_tensor(W, dtype=dtype, device=self.device))
            elif W.dtype != dtype or W.device.type != self.device.type:
                raise ValueError(f"weights[{ell - 1}] are {W.dtype} on {W.device}, the net is "
                                 f"{dtype} on {self.device}; build them with the same dtype "
                                 "and device")
            if W.shape != (w[ell - 1], w[ell]):
                raise ValueError(
                    f"weights[{ell - 1}] must have shape ({w[ell - 1]}, {w[ell]}), got {W.shape}"
                )
            self.layers.append(W)

    def _draw(self, n: int, m: int, gen: torch.Generator) -> LayerWeights:
        cfg = self.config
        if cfg.weights == "gaussian":
            return gaussian_weights(n, m, generator=gen, dtype=self.dtype, device=self.device)
        return sparse_graph_weights(
            n, m, cfg.degree, values=cfg.sparse_values, generator=gen,  # type: ignore[arg-type]
            dtype=self.dtype, device=self.device,
        )

    @property
    def depth(self) -> int:
        return self.config.depth

    def sample_hidden(self, batch: int, *, generator: torch.Generator | int | None) -> torch.Tensor:
        """Top codes from the prior: tensor of shape (batch, m)."""
        return sample_hidden(batch, self.config.widths[-1], self.config.prior,
                             generator=generator, dtype=self.dtype, device=self.device)

    def generate(
        self,
        h: torch.Tensor,
        *,
        generator: torch.Generator | int | None = None,
        masks: Sequence[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Run the model down from top codes ``h`` of shape (batch, m).

        ``h`` is cast to the net's dtype and device. ``masks`` (optional) gives ``z_ℓ`` for
        ``ℓ = 1..L`` (index ``ℓ − 1``), each of shape (batch, n_{ℓ−1}); otherwise they are
        drawn from ``generator``.

        Returns
        -------
        list of Tensor
            ``[x, h^(1), ..., h^(L)]``; entry ``ℓ`` has shape (batch, n_ℓ).
        """
        cfg = self.config
        check_matrix_batch("h", h, cfg.widths[-1])
        check_nonnegative("h", h)
        h = h.to(dtype=self.dtype, device=self.device)
        if masks is not None and len(masks) != cfg.depth:
            raise ValueError(f"masks needs {cfg.depth} tensors (one per layer), got {len(masks)}")
        gen = None if masks is not None else make_generator(generator, self.device)
        out = [h]
        for ell in range(cfg.depth, 0, -1):
            # ReLU(α W h) = ReLU(W (α h)) for α > 0: scaling the narrower side is cheaper
            x = self.layers[ell - 1].matmul(cfg.alphas[ell - 1] * out[0]).relu_()  # (batch, n)
            if masks is not None:
                z = masks[ell - 1]
                if z.shape != x.shape:
                    raise ValueError(f"masks[{ell - 1}] must have shape {tuple(x.shape)}, "
                                     f"got {tuple(z.shape)}")
                x.mul_(z.to(device=x.device, dtype=x.dtype))
            else:
                z = bernoulli_mask(tuple(x.shape), cfg.rho[ell - 1], generator=gen,
                                   dtype=x.dtype)
                x.mul_(z.to(x.device))
            out.insert(0, x)
        return out

    def sample(self, batch: int, *, generator: torch.Generator | int | None) -> list[torch.Tensor]:
        """Draw top codes and generate: ``[x, h^(1), ..., h^(L)]``."""
        gen = make_generator(generator, self.device)
        return self.generate(self.sample_hidden(batch, generator=gen), generator=gen)

    def infer(self, x: torch.Tensor, biases: Sequence[LayerBias]) -> list[torch.Tensor]:
        """Feed-forward inference up the stack.

        Parameters
        ----------
        x : Tensor of shape (batch, n_0)
            Finite; cast to the net's dtype and device.
        biases : sequence of LayerBias, one per layer ``ℓ = 1..L`` (see ``resolve_bias``).

        Returns
        -------
        list of Tensor
            ``[x, ĥ^(1), ..., ĥ^(L)]``; entry ``ℓ`` has shape (batch, n_ℓ).
        """
        check_matrix_batch("x", x, self.config.widths[0])
        check_finite("x", x)
        x = x.to(dtype=self.dtype, device=self.device)
        if len(biases) != self.depth:
            raise ValueError(f"biases needs {self.depth} entries, got {len(biases)}")
        out = [x]
        for ell in range(1, self.depth + 1):
            pre = self.layers[ell - 1].rmatmul(out[-1])  # (batch, n_ℓ)
            out.append(biases[ell - 1].add_to(pre, out[-1]).relu_())
        return out
