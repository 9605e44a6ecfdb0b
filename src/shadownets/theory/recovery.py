"""One recovery experiment: draw a net and samples, infer, measure every layer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch

from shadownets.theory._checks import check_int, derive_seed, make_generator
from shadownets.theory.bias import BiasSpec, LayerBias, resolve_bias
from shadownets.theory.metrics import in_regime, recovery_metrics, theorem_bound
from shadownets.theory.model import NetConfig, RandomLikeNet

__all__ = ["RecoveryResult", "draw", "recover", "recovery_table", "run_recovery",
           "RECOVERY_COLUMNS"]

#: Column order of :func:`recovery_table`.
RECOVERY_COLUMNS = (
    "layer", "n_in", "width", "k", "rho", "bound", "in_regime", "bias_rule", "bias_c",
    "rel_error_sq", "rel_error_sq_std", "rel_error_sq_q90", "linf_error", "precision", "recall",
    "support_f1", "cosine",
)


@dataclass(frozen=True)
class RecoveryResult:
    """Truth, estimates and biases of one recovery run."""

    truth: list[torch.Tensor]  # [x, h^(1), ..., h^(L)], each (batch, n_ℓ)
    estimate: list[torch.Tensor]  # [x, ĥ^(1), ..., ĥ^(L)]
    biases: list[LayerBias]  # one per layer
    seconds_infer: float  # wall time of the feed-forward pass (whole batch)


def recover(
    net: RandomLikeNet,
    truth: list[torch.Tensor],
    bias: BiasSpec = "theory",
    *,
    generator: torch.Generator | int | None = None,
) -> RecoveryResult:
    """Infer every layer from ``truth[0]`` (the observed x) with the bias rule ``bias``.

    ``generator`` drives the ``"calibrated"`` simulation only.
    """
    biases = resolve_bias(net, bias, truth=truth, generator=generator)
    x = truth[0]
    if x.is_cuda:
        torch.cuda.synchronize(x.device)  # do not time kernels still queued by sampling
    start = time.perf_counter()
    estimate = net.infer(x, biases)
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    return RecoveryResult(truth, estimate, biases, time.perf_counter() - start)


def recovery_table(net: RandomLikeNet, result: RecoveryResult) -> pd.DataFrame:
    """One row per layer ``ℓ = 1..L`` with the columns :data:`RECOVERY_COLUMNS`.

    For the top layer ``k`` is the prior's sparsity; for lower layers it is the mean number of
    non-zeros of the true ``h^(ℓ)``. ``bound`` is ``k/(ρ_ℓ n_{ℓ−1})``.
    """
    cfg, rows = net.config, []
    for ell in range(1, net.depth + 1):
        h = result.truth[ell]
        k = cfg.k if ell == net.depth else float((h > 0).sum(-1).double().mean())
        n_in, rho = cfg.widths[ell - 1], cfg.rho[ell - 1]
        m = recovery_metrics(result.estimate[ell], h)
        rel = m["rel_error_sq"]
        b = result.biases[ell - 1]
        rows.append({
            "layer": ell, "n_in": n_in, "width": cfg.widths[ell], "k": k, "rho": rho,
            "bound": theorem_bound(k, rho, n_in), "in_regime": in_regime(k, rho, n_in),
            "bias_rule": b.rule, "bias_c": b.c,
            "rel_error_sq": float(rel.mean()), "rel_error_sq_std": float(rel.std()),
            "rel_error_sq_q90": float(rel.quantile(0.9)),
            **{name: float(m[name].mean())
               for name in ("linf_error", "precision", "recall", "support_f1", "cosine")},
        })
    return pd.DataFrame(rows, columns=list(RECOVERY_COLUMNS))


def draw(
    config: NetConfig,
    *,
    batch: int = 256,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[RandomLikeNet, list[torch.Tensor]]:
    """Draw a net and ``batch`` samples ``[x, h^(1), ..., h^(L)]`` from independent streams
    derived from ``seed`` (stream 0: weights, stream 1: samples)."""
    batch = check_int("batch", batch, low=2)
    net = RandomLikeNet(config, seed=derive_seed(seed, 0), dtype=dtype, device=device)
    truth = net.sample(batch, generator=make_generator(derive_seed(seed, 1), device))
    return net, truth


def run_recovery(
    config: NetConfig,
    *,
    batch: int = 256,
    bias: BiasSpec = "theory",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[pd.DataFrame, RecoveryResult]:
    """Draw a net and ``batch`` samples (see :func:`draw`), recover and tabulate.

    The calibration simulation (``bias="calibrated"``) uses stream 2 of ``seed``, so it never
    sees the recovered samples.
    """
    net, truth = draw(config, batch=batch, seed=seed, dtype=dtype, device=device)
    gen = make_generator(derive_seed(seed, 2), device)
    result = recover(net, truth, bias, generator=gen)
    return recovery_table(net, result), result
