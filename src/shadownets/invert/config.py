"""InvertConfig: how an input is reconstructed from a hidden layer (frozen, checked on creation).

Defaults of the optimisation attack (``optimize`` / ``warm``) are those of He, Zhang & Lee's
white-box rMLE code (github.com/zechenghe/Inverse_Collaborative_Inference,
``inverse_whitebox_MNIST.py``: ``--iters 5000 --learning_rate 1e-2``, Adam with ``eps=1e-3``
and ``amsgrad=True``, ``lambda_l2 = 0``, a zero start in normalised space, the squared TV of
its ``utils.TV``); the paper (§4.1) states lr 1e-2 with 500 iterations for shallow split
points and lr 1e-3 with 5000 for deep ones, and β = 1 in its TV (the code squares the
differences, i.e. β = 2, which we follow). The feature loss is Mahendran & Vedaldi's (CVPR
2015) normalised ``‖f_L(x) − h‖² / ‖h‖²``, so the TV weight is ours (see
:attr:`InvertConfig.tv_weight`). The learned inverse's defaults are He et al.'s black-box
decoder's (``inverse_blackbox_decoder_CIFAR.py``: 50 epochs, Adam lr 1e-3, batch 32).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["METHODS", "SWITCHES", "UNKNOWN_UNPOOL", "InvertConfig"]

#: Inversion methods: one shadow pass, rMLE from a neutral start, rMLE from the shadow, and a
#: trained inverse network (:mod:`shadownets.invert.learned`).
METHODS: tuple[str, ...] = ("shadow", "optimize", "warm", "learned")
#: Max-pool switches of the shadow method: recorded while encoding (white-box) or not.
SWITCHES: tuple[str, ...] = ("known", "unknown")
#: How max pools are undone when the switches are unknown (see shadownets.reverse.ops).
UNKNOWN_UNPOOL: tuple[str, ...] = ("nearest", "spread")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


@dataclass(frozen=True)
class InvertConfig:
    """One inversion setting. Every number is checked on creation (one ``ValueError`` line
    naming the setting), whatever the method.

    The objective of ``optimize`` and ``warm``, per image (each image is optimised on its own:
    the batch objective is the sum of the per-image ones and Adam is element-wise)::

        ‖f_L(x) − h‖² / ‖h‖²  +  tv_weight · TV(x)  +  l2_weight · mean(x²)

    with ``TV(x)`` He et al.'s squared total variation (β = 2): over each spatial axis, the
    mean of the squared differences of neighbouring values, summed over the axes (0 for inputs
    without spatial axes); ``‖h‖² = 0`` (a dead code) divides by 1 instead. ``x`` lives in the
    normalised input space; ``optimize`` starts at zero there, i.e. at the data's per-channel
    mean for z-scored data (He et al.'s start), ``warm`` at the shadow reconstruction.

    ``tv_weight``: He et al.'s λ_TV (1 for MNIST ReLU2) weighs TV against an *unnormalised*
    feature MSE, so it does not carry over to this normalised objective. 1e-3 was chosen on a
    LeNet trained 5 epochs on 8 x 8 digits (64 test images, 5000 steps, λ_TV in {0, 1e-3,
    1e-2}): it gave the best or near-best cold-start PSNR at the ReLU outputs above the first
    conv (12.2 → 13.7 dB at the second conv ReLU vs λ = 0; 1e-2 gives 15.1 there but drops
    the first conv ReLU from > 47 dB to 30 dB).
    """

    method: str = "shadow"  # one of METHODS
    steps: int = 5000  # Adam steps of optimize / warm (He et al.: --iters 5000)
    lr: float = 1e-2  # Adam learning rate (He et al.: 1e-2)
    adam_eps: float = 1e-3  # Adam epsilon (He et al.: 1e-3, with AMSGrad)
    amsgrad: bool = True  # AMSGrad variant of Adam (He et al.: True)
    tv_weight: float = 1e-3  # λ_TV of the normalised objective (ours: chosen on digits, below)
    l2_weight: float = 0.0  # λ_ℓ2 on mean(x²) in normalised space (He et al.: 0)
    switches: str = "known"  # shadow's max-pool switches: known (white-box) or unknown
    unpool: str = "nearest"  # unpooling with unknown switches: nearest | spread
    calibrate_inputs: int = 256  # inputs the shadow's α is calibrated on (aux, else x)
    batch_size: int = 64  # images per optimisation batch (results do not depend on it)
    seed: int = 0  # seeds the learned inverse's training (and anything random)
    record_every: int = 50  # steps between recordings of objective / PSNR (curves)
    inverse_epochs: int = 50  # epochs of the learned inverse network (He et al.: 50)
    inverse_lr: float = 1e-3  # Adam learning rate of the learned inverse (He et al.: 1e-3)
    inverse_batch_size: int = 32  # batch of the learned inverse's training (He et al.: 32)
    level: float = 0.95  # coverage of the t intervals in the summaries

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.switches not in SWITCHES:
            raise ValueError(f"switches must be one of {', '.join(SWITCHES)}; got "
                             f"{self.switches!r}")
        if self.unpool not in UNKNOWN_UNPOOL:
            raise ValueError(f"unpool must be one of {', '.join(UNKNOWN_UNPOOL)} (how max pools "
                             f"are undone without switches); got {self.unpool!r}")
        for name, lo in (("steps", 1), ("calibrate_inputs", 1), ("batch_size", 1),
                         ("seed", 0), ("record_every", 1), ("inverse_epochs", 1),
                         ("inverse_batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{name} must be an int >= {lo}; got {value!r}")
        for name in ("lr", "adam_eps", "inverse_lr"):
            value = getattr(self, name)
            if not (_is_real(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite float; got {value!r}")
        for name in ("tv_weight", "l2_weight"):
            value = getattr(self, name)
            if not (_is_real(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative finite float; got {value!r}")
        if not isinstance(self.amsgrad, bool):
            raise ValueError(f"amsgrad must be True or False; got {self.amsgrad!r}")
        if not (_is_real(self.level) and 0.0 < self.level < 1.0):
            raise ValueError(f"level must be a float in (0, 1); got {self.level!r}")

    def replace(self, **changes: Any) -> InvertConfig:
        """A copy with ``changes`` applied (validated); unknown fields raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown InvertConfig fields {unknown}; allowed: {sorted(names)}")
        return dataclasses.replace(self, **changes)
