"""TrainConfig: everything that determines a training run (frozen, validated on creation)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from shadownets.train.augment import ShadowConfig
from shadownets.train.semi import CONSISTENCIES, SEMI_SUPERVISED

__all__ = ["METHODS", "SUPERVISED", "SEMI_SUPERVISED", "OPTIMIZERS", "METHOD_FIELDS",
           "OPTIMIZER_FIELDS", "TrainConfig"]

#: Supervised methods: plain, dropout, Gaussian input noise (the fair control), shadow data.
SUPERVISED = ("plain", "dropout", "input-noise", "shadow")
#: Training methods: the supervised ones and the semi-supervised ones of
#: :mod:`shadownets.train.semi` (labeled loss + λ · a loss on the unlabeled rest of the split).
METHODS = (*SUPERVISED, *SEMI_SUPERVISED)
OPTIMIZERS = ("adam", "sgd")

_AUG = ("aug_weight", "n_aug", "warmup_epochs")
_UNL = ("n_unlabeled",)
_SHADOW = ("shadow_layer", "shadow_rho", "shadow_alpha", "shadow_source", "shadow_unpool",
           "shadow_match", "calib_size")
#: The TrainConfig fields each method reads (every other method-specific field is unused).
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "dropout": ("dropout",),
    "input-noise": (*_AUG, "noise_std"),
    "shadow": (*_AUG, *_SHADOW),
    "shadow-consistency": (*_AUG, *_UNL, "consistency", *_SHADOW),
    "pi-noise": (*_AUG, *_UNL, "consistency", "noise_std"),
    "pi-dropout": ("aug_weight", "warmup_epochs", *_UNL, "consistency", "dropout"),
    "pseudo-label": ("aug_weight", "warmup_epochs", *_UNL, "pseudo_threshold"),
}
#: The TrainConfig fields each optimizer reads (beyond lr and weight_decay).
OPTIMIZER_FIELDS: dict[str, tuple[str, ...]] = {"adam": (), "sgd": ("momentum",)}


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _nonneg_float(name: str, value: Any, strict: bool = False) -> None:
    if not (_is_real(value) and (value > 0 if strict else value >= 0)):
        raise ValueError(f"{name} must be a {'positive' if strict else 'non-negative'} float; "
                         f"got {value!r}{_why(value)}")


def _why(value: Any) -> str:
    return " (not finite)" if isinstance(value, float) and not math.isfinite(value) else ""


def _unit_float(name: str, value: Any, interval: str) -> None:
    """``value`` finite and in ``interval``: "[0, 1)" or "(0, 1]"."""
    ok = _is_real(value) and (0.0 <= value < 1.0 if interval == "[0, 1)" else 0.0 < value <= 1.0)
    if not ok:
        raise ValueError(f"{name} must be a float in {interval}; got {value!r}{_why(value)}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Fields not used by ``method`` are ignored (but recorded); see
    :data:`METHOD_FIELDS` for which fields each method reads (the CLI refuses the others).

    Every number is checked on creation: finite and in range (``lr > 0``; ``weight_decay``,
    ``aug_weight``, ``noise_std >= 0``; ``momentum`` and ``dropout`` in [0, 1); ``shadow_rho``
    in (0, 1]; a float ``shadow_alpha > 0``; counts >= 1 or >= 0), whatever the method.

    The training set is ``n_labels`` examples of the data set's train split, chosen stratified
    with ``seed``; the same ``seed`` also draws the initial weights, the batch order and all
    augmentation noise, so runs of different methods with the same seed are paired.
    """

    dataset: str = "digits"  # data set: a name known to shadownets.data.load_dataset
    n_labels: int | None = None  # labeled training examples (None: the whole train split)
    model: str = "mlp"  # zoo model: a name from shadownets.train.list_models()
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # the model's own options
    method: str = "plain"  # one of METHODS
    epochs: int = 20  # training epochs
    steps_per_epoch: int | None = None  # steps per epoch (None: ceil(n_labels / batch_size))
    batch_size: int = 64  # global batch (split across ranks under torchrun)
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr: float = 1e-3  # learning rate
    momentum: float = 0.9  # SGD momentum (SGD only)
    weight_decay: float = 0.0  # weight decay of the optimizer
    seed: int = 0  # label subset, init, batch order, augmentation noise
    data_seed: int = 0  # the train/validation split of the data set
    val_size: int | None = None  # validation examples, to load_dataset (None: its default)
    data_dir: str | None = None  # data folder (None: the cache)
    download: bool = True  # download a data set that is not in data_dir
    eval_every: int = 1  # evaluate val/test every k epochs (and always after the last)
    # --- methods "dropout" and "pi-dropout"
    dropout: float = 0.5  # dropout probability after each hidden ReLU
    # --- methods "input-noise", "shadow" and the semi-supervised ones
    aug_weight: float = 1.0  # λ: loss = CE(real) + λ · CE(augmented), or + λ · the unlabeled
    #                          loss (semi-supervised); shadow: 0.5 was best
    n_aug: int = 1  # augmented inputs per real input
    warmup_epochs: int = 0  # epochs of plain training before augmentation (shadow: 10 of 30)
    noise_std: float = 0.5  # input-noise: std of the Gaussian noise (normalised units)
    shadow_layer: str = "top"  # "top", a hidden-layer index ("-2", "0") or a module name
    shadow_rho: float = 0.3  # keep probability of the shadow net's dropout
    shadow_alpha: str | float = "calibrated"  # "calibrated", "theory" or a float
    shadow_source: str = "current"  # "current" or "frozen" (snapshot at each epoch start)
    shadow_unpool: str = "switches"  # "switches", "spread", "random" or "nearest": how max
    #                                  pools are undone (see shadownets.reverse)
    shadow_match: str = "rms"  # "rms", "raw", "moments" or "none" (see ShadowAugmenter)
    calib_size: int = 256  # real inputs used to calibrate α at each epoch start
    # --- semi-supervised methods (shadownets.train.semi)
    n_unlabeled: int | None = None  # unlabeled inputs: the split's unlabeled rest (None: all)
    consistency: str = "kl"  # divergence of the consistency methods: "kl" or "mse"
    pseudo_threshold: float = 0.95  # pseudo-label: least top probability for a pseudo-label

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got "
                             f"{self.optimizer!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a non-empty string; got {self.dataset!r}")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict; got {self.model_kwargs!r}")
        if self.n_labels is not None:
            _positive_int("n_labels", self.n_labels)
        if self.steps_per_epoch is not None:
            _positive_int("steps_per_epoch", self.steps_per_epoch)
        if self.val_size is not None:
            _positive_int("val_size", self.val_size)
        if self.n_unlabeled is not None:
            _positive_int("n_unlabeled", self.n_unlabeled)
        if self.consistency not in CONSISTENCIES:
            raise ValueError(f"consistency must be one of {', '.join(CONSISTENCIES)}; got "
                             f"{self.consistency!r}")
        _unit_float("pseudo_threshold", self.pseudo_threshold, "(0, 1]")
        for name in ("epochs", "batch_size", "eval_every", "n_aug", "calib_size"):
            _positive_int(name, getattr(self, name))
        for name in ("seed", "data_seed", "warmup_epochs"):
            _positive_int(name, getattr(self, name), minimum=0)
        _nonneg_float("lr", self.lr, strict=True)
        for name in ("weight_decay", "aug_weight", "noise_std"):
            _nonneg_float(name, getattr(self, name))
        _unit_float("momentum", self.momentum, "[0, 1)")
        _unit_float("dropout", self.dropout, "[0, 1)")
        _unit_float("shadow_rho", self.shadow_rho, "(0, 1]")
        if not isinstance(self.shadow_alpha, str):
            _nonneg_float("shadow_alpha", self.shadow_alpha, strict=True)
        self.shadow_config()  # validates the shadow knobs (whatever the method)

    def shadow_config(self) -> ShadowConfig:
        """The shadow knobs as a :class:`ShadowConfig` (validated)."""
        return ShadowConfig(layer=self.shadow_layer, rho=self.shadow_rho, n_shadows=self.n_aug,
                            alpha=self.shadow_alpha, source=self.shadow_source,
                            unpool=self.shadow_unpool, match=self.shadow_match)

    def effective_model_kwargs(self) -> dict[str, Any]:
        """Model options, with ``dropout`` overridden for the dropout method."""
        kwargs = dict(self.model_kwargs)
        if self.method in ("dropout", "pi-dropout"):
            kwargs["dropout"] = float(self.dropout)
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated); unknown fields raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(names)}")
        return dataclasses.replace(self, **changes)
