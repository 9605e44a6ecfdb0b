"""Monte-Carlo checks of the exact identities behind the model (see ../shared/theory.md).

- Stein: ``E[w·ReLU(w h + ξ)] = h/2`` for ``w ~ N(0, 1)`` and symmetric ``ξ`` independent of w.
- Scale: with ``α = 2/(ρ n)``, ``E[Wᵀ x] = h`` (checked on the support, ratio 1).
- Norm: ``E‖x‖² = 2‖h‖²/(ρ n)``.

Each row reports the expected value, the Monte-Carlo mean, its standard error and the
z-score; a row ``holds`` when |z| < 4.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from shadownets.theory._checks import check_int, derive_seed, make_generator
from shadownets.theory.model import NetConfig, RandomLikeNet

__all__ = ["IDENTITY_COLUMNS", "identity_table", "stein_check", "model_checks"]

IDENTITY_COLUMNS = ("identity", "setting", "expected", "measured", "std_error", "z", "holds",
                    "n_draws")


def _row(identity: str, setting: str, expected: float, draws: torch.Tensor) -> dict:
    draws = draws.double().flatten()
    if draws.numel() < 2:
        raise ValueError(f"a Monte-Carlo check needs at least 2 draws, got {draws.numel()}")
    mean, se = float(draws.mean()), float(draws.std() / draws.numel() ** 0.5)
    if se > 0:
        z = (mean - expected) / se
    else:  # no spread: the check holds only if the value is exactly the expected one
        z = 0.0 if mean == expected else math.copysign(math.inf, mean - expected)
    return {"identity": identity, "setting": setting, "expected": expected, "measured": mean,
            "std_error": se, "z": z, "holds": abs(z) < 4.0, "n_draws": draws.numel()}


def stein_check(h: float, xi_std: float, n_draws: int, *, generator: torch.Generator,
                weight_law: str = "gaussian") -> dict:
    """One Monte-Carlo estimate of ``E[w·ReLU(w h + ξ)]`` against ``h/2`` (ξ ~ N(0, xi_std²)).

    ``weight_law`` is ``"gaussian"`` or ``"rademacher"`` (±1, where the identity also holds).
    """
    n_draws = check_int("n_draws", n_draws, low=2)
    if weight_law == "gaussian":
        w = torch.randn(n_draws, generator=generator, dtype=torch.float64)
    elif weight_law == "rademacher":
        w = torch.randint(0, 2, (n_draws,), generator=generator).double() * 2 - 1
    else:
        raise ValueError(f"weight_law must be 'gaussian' or 'rademacher', got {weight_law!r}")
    xi = xi_std * torch.randn(n_draws, generator=generator, dtype=torch.float64)
    return _row("E[w·ReLU(w h + ξ)] = h/2", f"{weight_law} w, h={h:g}, sd(ξ)={xi_std:g}",
                h / 2, w * torch.relu(w * h + xi))


def model_checks(config: NetConfig, n_nets: int, batch: int, *, seed: int = 0) -> list[dict]:
    """``E[Wᵀx]_i / h_i = 1`` on the support and ``E‖x‖²·ρn/(2‖h‖²) = 1`` for a one-layer model.

    The expectation is over the weights too, so ``n_nets`` nets are drawn; each contributes the
    mean over its ``batch`` samples (and, for the first identity, over support coordinates). The
    standard error is that of the ``n_nets`` per-net means.
    """
    if config.depth != 1:
        raise ValueError("model_checks takes a one-layer config")
    n_nets = check_int("n_nets", n_nets, low=2)
    n, rho = config.widths[0], config.rho[0]
    ratios, norms = [], []
    for i in range(n_nets):
        net = RandomLikeNet(config, seed=derive_seed(seed, 2 * i), dtype=torch.float64)
        x, h = net.sample(check_int("batch", batch, low=1),
                          generator=make_generator(derive_seed(seed, 2 * i + 1)))
        wtx = net.layers[0].rmatmul(x)
        ratios.append((wtx / h.clamp_min(1e-300))[h > 0].mean())
        norms.append((x.pow(2).sum(-1) * rho * n / (2 * h.pow(2).sum(-1))).mean())
    family = config.weights + (f" d={config.degree} {config.sparse_values}"
                               if config.weights == "sparse" else "")
    setting = f"n={n}, m={config.widths[1]}, k={config.k}, ρ={rho:g}, {family}"
    return [_row("E[(Wᵀx)_i]/h_i = 1 (α = 2/(ρn))", setting, 1.0, torch.stack(ratios)),
            _row("E‖x‖²·ρn/(2‖h‖²) = 1", setting, 1.0, torch.stack(norms))]


def identity_table(
    *, n_draws: int = 200_000, n_nets: int = 40, batch: int = 100, seed: int = 0
) -> pd.DataFrame:
    """All identities on a few settings: DataFrame with columns :data:`IDENTITY_COLUMNS`."""
    gen = make_generator(seed)
    rows = [stein_check(h, s, n_draws, generator=gen, weight_law=law)
            for law in ("gaussian", "rademacher") for h, s in ((1.0, 1.0), (0.5, 3.0), (2.0, 0.3))]
    for cfg in (NetConfig((1000, 500), k=20, rho=0.5),
                NetConfig((2000, 1000), k=50, rho=1.0),
                NetConfig((1000, 500), k=20, rho=0.5, weights="sparse", degree=16),
                NetConfig((1000, 500), k=20, rho=0.5, weights="sparse", degree=16,
                          sparse_values="rademacher")):
        rows += model_checks(cfg, n_nets, batch, seed=seed)
    return pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS))
