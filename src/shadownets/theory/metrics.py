"""Recovery metrics: per-sample errors of an estimate ĥ against the true h, and the bound."""

from __future__ import annotations

import torch

__all__ = ["recovery_metrics", "theorem_bound", "in_regime", "METRIC_NAMES"]

METRIC_NAMES = ("rel_error_sq", "linf_error", "precision", "recall", "support_f1", "cosine")


def recovery_metrics(
    h_hat: torch.Tensor, h: torch.Tensor, *, support_tol: float = 1e-6
) -> dict[str, torch.Tensor]:
    """Per-sample recovery figures.

    Parameters
    ----------
    h_hat, h : Tensor of shape (batch, m)
        Estimate and truth (``h >= 0``).
    support_tol : float
        A coordinate of ĥ counts as in its support when ``ĥ_i > support_tol·‖ĥ‖∞`` (so that
        round-off residue of exact solvers is not counted as support); default 1e-6.

    Returns
    -------
    dict of name -> Tensor of shape (batch,), float64
        ``rel_error_sq`` = ‖ĥ−h‖²/‖h‖²; ``linf_error`` = ‖ĥ−h‖∞/‖h‖∞; ``precision``,
        ``recall`` and ``support_f1`` of the support {ĥ > 0} against {h > 0} (F1 is 1 when both
        are empty, precision is 1 when the support of ĥ is empty); ``cosine`` between ĥ and h.
    """
    if h_hat.shape != h.shape:
        raise ValueError(f"h_hat and h must have the same shape, got {tuple(h_hat.shape)} "
                         f"and {tuple(h.shape)}")
    h_hat, h = h_hat.double(), h.double()
    tiny = torch.finfo(torch.float64).tiny
    diff = h_hat - h
    rel = diff.pow(2).sum(-1) / h.pow(2).sum(-1).clamp_min(tiny)
    linf = diff.abs().amax(-1) / h.abs().amax(-1).clamp_min(tiny)
    s_hat = h_hat > support_tol * h_hat.abs().amax(-1, keepdim=True)
    s = h > 0
    tp = (s_hat & s).sum(-1).double()
    n_hat, n_true = s_hat.sum(-1).double(), s.sum(-1).double()
    precision = torch.where(n_hat > 0, tp / n_hat.clamp_min(1), torch.ones_like(tp))
    recall = torch.where(n_true > 0, tp / n_true.clamp_min(1), torch.ones_like(tp))
    denom = n_hat + n_true
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.ones_like(tp))
    cos = (h_hat * h).sum(-1) / (h_hat.norm(dim=-1) * h.norm(dim=-1)).clamp_min(tiny)
    return {"rel_error_sq": rel, "linf_error": linf, "precision": precision, "recall": recall,
            "support_f1": f1, "cosine": cos}


def theorem_bound(k: float, rho: float, n: int) -> float:
    """The rate of Theorem 2.3 without constants or logs: ``k / (ρ n)``."""
    return float(k) / (float(rho) * float(n))


def in_regime(k: float, rho: float, n: int) -> bool:
    """Whether ``k < ρ n < k²``, the theorem's regime."""
    return bool(k < rho * n < k * k)
