"""TyingConfig: one weight-tying experiment (frozen, every setting checked on creation).

The experiment trains *untied* autoencoders ``x → h = ReLU(E x + b) → x̂ = D h + c`` (and a
stack of two such layers) on corrupted inputs, and measures how close the decoder ``D`` comes
to ``c · Eᵀ``. Beside them, with the same data, seeds and noise: a *tied* autoencoder
(``D = Eᵀ``: the reconstruction and denoising errors are compared with the untied one's) and
the *linear* ℓ2 autoencoder ``x̂ = D E x`` on centred data, no noise, no biases — the positive
control (Kunin, Bloom, Goeva & Seed, ICML 2019: every critical point of its loss has
``D = Eᵀ``, so its cosine must reach 1).

The corruption (``noise``) is applied to the input only; the target is the clean input:

``dropout:RHO``
    Masking noise with keep probability ``RHO``: ``x̃ = x ⊙ z / RHO``, ``z_j ~ Bernoulli(RHO)``
    (the paper's mask ``z``, rescaled as PyTorch's dropout so that ``E[x̃] = x``: the clean
    input is then a typical input, and the reconstruction error from it means something; the
    factor is one global scale, which no alignment measure sees).
``gaussian:SIGMA``
    ``x̃ = x + SIGMA · ε``, ``ε ~ N(0, I)`` (the data are standardised, see
    :mod:`shadownets.tying.data`, so SIGMA is in units of the data's standard deviation).
``none``
    A plain (not denoising) autoencoder, for comparison.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["NOISE_KINDS", "MODELS", "Noise", "parse_noise", "TyingConfig"]

#: Corruption kinds of ``noise``.
NOISE_KINDS: tuple[str, ...] = ("dropout", "gaussian", "none")
#: The autoencoders of one run: the untied ReLU DAE (the claim), the tied ReLU DAE (errors
#: compared) and the linear ℓ2 autoencoder (positive control).
MODELS: tuple[str, ...] = ("untied", "tied", "linear")

_NOISE_HELP = ("dropout:RHO (keep probability RHO in (0, 1]), gaussian:SIGMA (SIGMA >= 0) or "
               "none, e.g. dropout:0.5")


@dataclass(frozen=True)
class Noise:
    """A parsed corruption: ``kind`` in :data:`NOISE_KINDS` and its parameter (the keep
    probability of ``dropout``, σ of ``gaussian``, 0 for ``none``)."""

    kind: str
    value: float

    @property
    def text(self) -> str:
        """The spec it was parsed from, canonical (``"dropout:0.5"``)."""
        return "none" if self.kind == "none" else f"{self.kind}:{self.value:g}"


def parse_noise(text: str) -> Noise:
    """Parse a corruption spec (see the module docstring).

    Raises
    ------
    ValueError
        One line naming what was given and the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f"noise must be {_NOISE_HELP}; got {text!r}")
    spec = text.strip().lower()
    if spec == "none":
        return Noise("none", 0.0)
    kind, sep, value = spec.partition(":")
    if not sep or kind not in ("dropout", "gaussian"):
        raise ValueError(f"noise must be {_NOISE_HELP}; got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"noise must be {_NOISE_HELP}; got {text!r} ({value!r} is not a "
                         "number)") from None
    if kind == "dropout" and not (0.0 < number <= 1.0):
        raise ValueError(f"noise {text!r}: the keep probability RHO of dropout:RHO must lie "
                         f"in (0, 1], got {number:g}")
    if kind == "gaussian" and not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f"noise {text!r}: SIGMA of gaussian:SIGMA must be a finite number "
                         f">= 0, got {number:g}")
    return Noise(kind, number)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


@dataclass(frozen=True)
class TyingConfig:
    """One weight-tying experiment. Every setting is checked on creation (one ``ValueError``
    line naming it).

    The loss of the untied and tied autoencoders, per batch (mean over its samples)::

        ‖x̂(x̃) − x‖²  +  l2 · (‖E‖²_F + ‖D‖²_F)      (weights only, not biases; tied: ‖E‖²)

    the squared error summed over the input's coordinates; the linear control's is the same
    with ``x̃ = x`` (no noise), no biases, centred data and ``control_l2``. Adam, the same
    batches (seeded) for every model of a seed.

    ``control_l2``: Kunin et al.'s critical points keep the principal directions whose data
    variance exceeds λ and shrink the others to 0 (a collapsed unit's cosine is noise; the
    median over units is robust to a few). 0.1 made the control reach a median cosine above
    0.99 within 30 epochs at lr 1e-3 on model data (n = 256, M = 64: 0.9993) and on digits
    (M = 32: 0.9896), where 1e-2 gave 0.989 and 0.947.
    """

    data: str = "model"  # --data: model[:n=..,m=..,k=..,rho=..] or a data set (digits, ...)
    hidden: int = 64  # M, hidden units of every layer
    depth: int = 1  # 1: one layer; 2: a stack x → h1 → h2 → ĝ1 → x̂ trained end to end
    noise: str = "dropout:0.5"  # corruption of the input: dropout:RHO | gaussian:SIGMA | none
    l2: float = 1e-4  # λ of the weight penalty of the untied and tied autoencoders
    epochs: int = 30  # passes over the training data
    seeds: int = 3  # training seeds: seed, seed + 1, ..., seed + seeds − 1
    seed: int = 0  # the first seed (model data: the generative net of seed s is drawn from s)
    lr: float = 1e-3  # Adam learning rate
    batch_size: int = 64  # samples per Adam step
    n_train: int = 4000  # training samples (a data set smaller than this gives all it has)
    n_test: int = 1000  # held-out samples (errors, which units are live)
    record_every: int = 5  # epochs between the alignment recordings (epoch 0 is recorded)
    tied: bool = True  # also train the tied autoencoder (D = Eᵀ) for the error comparison
    control: bool = True  # also train the linear ℓ2 autoencoder (positive control; 1 layer)
    control_l2: float = 0.1  # λ of the linear control (Kunin et al.'s theorem needs λ > 0)
    level: float = 0.95  # coverage of the t intervals over seeds in the summary

    def __post_init__(self) -> None:
        if not isinstance(self.data, str) or not self.data.strip():
            raise ValueError(f"data must be a data spec (model[:n=..,m=..,k=..,rho=..], "
                             f"digits, fashion-mnist, ...); got {self.data!r}")
        for name, lo in (("hidden", 1), ("epochs", 1), ("seeds", 1), ("seed", 0),
                         ("batch_size", 1), ("n_train", 2), ("n_test", 2),
                         ("record_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{name} must be an int >= {lo}; got {value!r}")
        if isinstance(self.depth, bool) or self.depth not in (1, 2):
            raise ValueError(f"depth must be 1 or 2; got {self.depth!r}")
        parse_noise(self.noise)
        if not (_is_real(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite float; got {self.lr!r}")
        if not (_is_real(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be a non-negative finite float; got {self.l2!r}")
        if not (_is_real(self.control_l2) and self.control_l2 > 0):
            raise ValueError(f"control_l2 must be a positive finite float (the linear "
                             f"control's ties need λ > 0); got {self.control_l2!r}")
        for name in ("tied", "control"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if not (_is_real(self.level) and 0.0 < self.level < 1.0):
            raise ValueError(f"level must be a float in (0, 1); got {self.level!r}")

    @property
    def corruption(self) -> Noise:
        """The parsed ``noise``."""
        return parse_noise(self.noise)

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The training seeds."""
        return tuple(range(self.seed, self.seed + self.seeds))

    @property
    def models(self) -> tuple[str, ...]:
        """The autoencoders trained per seed, in :data:`MODELS` order."""
        return tuple(m for m in MODELS if m == "untied" or (m == "tied" and self.tied)
                     or (m == "linear" and self.control))

    def replace(self, **changes: Any) -> TyingConfig:
        """A copy with ``changes`` applied (validated); unknown fields raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown TyingConfig fields {unknown}; allowed: {sorted(names)}")
        return dataclasses.replace(self, **changes)
