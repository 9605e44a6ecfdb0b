"""Semi-supervised methods: a labeled loss plus λ times a loss on *unlabeled* inputs.

Every method uses the same loss and schedule, so they differ only in how an unlabeled input is
perturbed (``CE(labeled) + λ · U``, ``λ = aug_weight``, ``U = 0`` for the first
``warmup_epochs``; each step draws one unlabeled batch of ``batch_size`` inputs from the pool
of train-split inputs that are not labeled):

* ``shadow-consistency`` — the paper's generative model of the net used on unlabeled data:
  ``U = D(p(u), p(ũ))`` with ``ũ`` the ``n_aug`` shadows of ``u`` drawn by the net's shadow
  net at ``shadow_layer`` (:class:`~shadownets.train.augment.ShadowAugmenter`, as the
  supervised ``shadow`` method, but from inputs without labels);
* ``pi-noise`` — the Π-model (Laine & Aila 2017) with Gaussian input noise: ``ũ = u + σε``
  (``noise_std``, ``n_aug`` copies);
* ``pi-dropout`` — the Π-model with dropout as the perturbation: ``ũ = u`` through the net
  with a fresh dropout mask (the model has Dropout ``dropout`` after each hidden ReLU, as in
  the ``dropout`` method);
* ``pseudo-label`` — pseudo-labelling (Lee 2013) with a confidence threshold (as in FixMatch):
  ``U = CE(p(u), argmax p(u))`` over the unlabeled inputs whose top probability is at least
  ``pseudo_threshold`` (summed, divided by the batch).

``p(u)`` is the softmax of the net on the unperturbed input in the same mode as training,
without gradient (the target); ``D`` is ``consistency``: ``"kl"`` — ``KL(p(u) ‖ p(ũ))``, or
``"mse"`` — ``Σ_c (p_c(u) − p_c(ũ))²`` (the Π-model's), averaged over the perturbed inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SEMI_SUPERVISED", "CONSISTENCIES", "divergence", "perturb", "unlabeled_loss",
           "unlabeled_pool"]

#: The semi-supervised methods (see the module docstring).
SEMI_SUPERVISED: tuple[str, ...] = ("shadow-consistency", "pi-noise", "pi-dropout",
                                    "pseudo-label")
#: Divergences between the target and the perturbed prediction.
CONSISTENCIES: tuple[str, ...] = ("kl", "mse")


def unlabeled_pool(n_train: int, labeled: torch.Tensor, n_unlabeled: int | None,
                   seed: int) -> torch.Tensor:
    """Indices (int64) into the train split of the unlabeled inputs: those not in
    ``labeled``, all of them (``n_unlabeled`` None) or a seeded random ``n_unlabeled``."""
    mask = torch.ones(n_train, dtype=torch.bool)
    mask[labeled] = False
    rest = torch.nonzero(mask).flatten()
    if n_unlabeled is None or n_unlabeled >= rest.numel():
        return rest
    g = torch.Generator().manual_seed(seed)
    return rest[torch.randperm(rest.numel(), generator=g)[:n_unlabeled]].sort().values


def divergence(p: torch.Tensor, logits: torch.Tensor, kind: str) -> torch.Tensor:
    """``D(p, softmax(logits))`` averaged over rows: ``p`` (rows, classes) the target
    probabilities, ``logits`` (rows, classes) of the perturbed inputs."""
    if kind == "kl":
        return F.kl_div(F.log_softmax(logits, dim=1), p, reduction="batchmean")
    if kind == "mse":
        return (p - F.softmax(logits, dim=1)).pow(2).sum(1).mean()
    raise ValueError(f"consistency must be one of {list(CONSISTENCIES)}, got {kind!r}")


def perturb(method: str, u: torch.Tensor, *, n_aug: int, noise_std: float,
            augmenter: object | None, generator: torch.Generator) -> torch.Tensor:
    """The perturbed copies ``ũ`` of the unlabeled batch ``u`` (batch, *input_shape):
    shape (copies · batch, *input_shape), rows ``i·copies … (i+1)·copies − 1`` from ``u[i]``
    (``pi-dropout`` and ``pseudo-label``: ``u`` itself)."""
    if method == "shadow-consistency":
        if augmenter is None:
            raise ValueError("shadow-consistency needs a ShadowAugmenter")
        dummy = torch.zeros(u.shape[0], dtype=torch.long, device=u.device)
        return augmenter(u, dummy, generator=generator)[0]  # type: ignore[operator]
    if method == "pi-noise":
        rep = u.repeat_interleave(n_aug, dim=0)
        return rep + noise_std * torch.randn(rep.shape, generator=generator, device=u.device)
    if method in ("pi-dropout", "pseudo-label"):
        return u
    raise ValueError(f"method must be one of {list(SEMI_SUPERVISED)}, got {method!r}")


def unlabeled_loss(method: str, model: nn.Module, u: torch.Tensor, logits_perturbed: torch.Tensor,
                   *, consistency: str, pseudo_threshold: float,
                   target: torch.Tensor | None = None) -> torch.Tensor:
    """``U`` of one step (see the module docstring).

    Parameters
    ----------
    model : nn.Module
        The net (the bare module; its current train/eval mode is used for the target).
    u : Tensor of shape (batch, *input_shape)
        The unlabeled batch.
    logits_perturbed : Tensor of shape (copies · batch, classes)
        The net's logits on :func:`perturb`'s output, with gradient.
    target : Tensor of shape (batch, classes), optional
        ``p(u)`` if already computed (no gradient).
    """
    if target is None:
        with torch.no_grad():
            target = F.softmax(model(u), dim=1)
    if method == "pseudo-label":
        conf, label = target.max(dim=1)
        keep = conf >= pseudo_threshold
        ce = F.cross_entropy(logits_perturbed, label, reduction="none")
        return (ce * keep).sum() / max(int(u.shape[0]), 1)
    copies = logits_perturbed.shape[0] // max(int(u.shape[0]), 1)
    return divergence(target.repeat_interleave(copies, dim=0), logits_perturbed, consistency)
