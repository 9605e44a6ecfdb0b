"""The data of a weight-tying experiment: samples of our generative model, or a data set.

A tying data spec (``--data``) is one of

``model`` or ``model:n=N,m=M,k=K,rho=RHO``
    Samples ``x = ReLU(α W h) ⊙ z`` of the one-layer random-like model
    (:class:`shadownets.theory.RandomLikeNet`: ``W`` of shape (n, m) i.i.d. N(0, 1), ``h``
    k-sparse with non-zeros uniform in [0.5, 1], ``z_j ~ Bernoulli(ρ)``, ``α = 2/(ρn)``);
    keys left out take the defaults of :class:`ModelData`. The known ``W``, ``α`` and codes
    ``h`` come with the samples, so the learned units can be matched to W's columns.
``NAME``
    A registered data set (``digits``, ``fashion-mnist``, ``mnist``, ``cifar10``,
    ``synthetic``, ``folder:PATH``; see :func:`shadownets.data.load_dataset`): its train split
    (the first ``n_train`` of a seeded stratified subset) and its test split, normalised with
    the train split's per-channel statistics and flattened to vectors.

Model data are divided by one number, the standard deviation of all training entries, so that
the noise and the learning rate mean the same as on a normalised data set; every alignment
measure (cosines, the per-unit gain ``⟨D[:, i], E[i, :]⟩``) is invariant under that scaling.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["MODEL_PREFIX", "ModelData", "TyingData", "parse_tying_data", "load_tying_data"]

#: The spec (and prefix) of samples from the generative model.
MODEL_PREFIX = "model"

_MODEL_FORM = "model or model:n=N,m=M,k=K,rho=RHO"


@dataclass(frozen=True)
class ModelData:
    """The one-layer generative model whose samples a ``model:...`` spec names."""

    n: int = 256  # observed units (width of x)
    m: int = 64  # hidden units (columns of W)
    k: int = 8  # non-zeros of each code h
    rho: float = 0.5  # keep probability of the model's dropout mask z

    @property
    def alpha(self) -> float:
        """The model's scale α = 2/(ρn)."""
        return 2.0 / (self.rho * self.n)

    @property
    def text(self) -> str:
        """The canonical spec, ``model:n=256,m=64,k=8,rho=0.5``."""
        return f"{MODEL_PREFIX}:n={self.n},m={self.m},k={self.k},rho={self.rho:g}"


def parse_tying_data(spec: str) -> ModelData | str:
    """A :class:`ModelData` for a ``model`` spec, else the name of a registered data set
    (checked; nothing is read).

    Raises
    ------
    ValueError
        A malformed ``model:...`` spec (unknown key, a value that is not a number, a model
        the theory refuses, e.g. k > m), ``photos``, or an unknown data-set name (the message
        lists the known ones).
    FileNotFoundError
        ``folder:PATH`` whose folder does not exist.
    """
    from shadownets.data import list_datasets, parse_data_spec
    from shadownets.theory import NetConfig

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data must be {_MODEL_FORM} or a data set name; got {spec!r}")
    spec = spec.strip()
    if spec == MODEL_PREFIX or spec.startswith(MODEL_PREFIX + ":"):
        values: dict[str, Any] = {}
        body = spec[len(MODEL_PREFIX) + 1:]
        names = [f.name for f in dataclasses.fields(ModelData)]
        for item in filter(None, (s.strip() for s in body.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ValueError(f"data {spec!r}: expected {_MODEL_FORM} (keys "
                                 f"{', '.join(names)}), got {item!r}")
            try:
                values[key] = float(value) if key == "rho" else int(value)
            except ValueError:
                raise ValueError(f"data {spec!r}: {key} must be a number, got "
                                 f"{value.strip()!r}") from None
        model = ModelData(**values)
        try:
            NetConfig((model.n, model.m), k=model.k, rho=model.rho)
        except ValueError as exc:
            raise ValueError(f"data {spec!r}: {exc}") from None
        return model
    if spec != "photos" and not spec.startswith("folder:") and spec not in list_datasets():
        raise ValueError(f"data must be {_MODEL_FORM} or a data set "
                         f"({', '.join(list_datasets())}, folder:PATH); got {spec!r}")
    parsed = parse_data_spec(spec)
    if parsed.kind == "photos":
        raise ValueError(f"data {spec!r}: five photographs are too few to train an "
                         f"autoencoder; give {_MODEL_FORM} or a data set name")
    return spec


@dataclass(frozen=True, eq=False)
class TyingData:
    """Training and held-out vectors of one data spec.

    Attributes
    ----------
    name : str
        The canonical spec (``model:n=..,m=..,k=..,rho=..`` or the data set's name).
    kind : {"model", "real"}
    x_train : Tensor of shape (N_train, d), float32
    x_test : Tensor of shape (N_test, d), float32
    weights : Tensor of shape (d, m) or None
        The generative model's W (model data only).
    codes : Tensor of shape (N_train, m) or None
        The true codes h of ``x_train`` (model data only).
    alpha : float or None
        The model's α = 2/(ρn) (model data only).
    scale : float
        What the raw samples were divided by (model data: their standard deviation; 1 else).
    info : dict
        Provenance (sizes, seeds).
    """

    name: str
    kind: str
    x_train: Tensor
    x_test: Tensor
    weights: Tensor | None = None
    codes: Tensor | None = None
    alpha: float | None = None
    scale: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """d, the length of an input vector."""
        return int(self.x_train.shape[1])


def _model_data(model: ModelData, n_train: int, n_test: int, seed: int) -> TyingData:
    from shadownets.theory import NetConfig, RandomLikeNet

    net = RandomLikeNet(NetConfig((model.n, model.m), k=model.k, rho=model.rho), seed=seed)
    x, h = net.sample(n_train + n_test, generator=seed + 1)
    scale = float(x[:n_train].std())
    if not scale > 0:
        raise ValueError(f"data {model.text}: the samples are all zero; use a larger k or rho")
    x = x / scale
    return TyingData(name=model.text, kind="model", x_train=x[:n_train].contiguous(),
                     x_test=x[n_train:].contiguous(), weights=net.layers[0].dense().clone(),
                     codes=h[:n_train].contiguous(), alpha=model.alpha, scale=scale,
                     info={"n_train": n_train, "n_test": n_test, "net_seed": seed,
                           "sample_seed": seed + 1, **dataclasses.asdict(model)})


def _real_data(name: str, n_train: int, n_test: int,
               data_dir: str | os.PathLike | None) -> TyingData:
    from shadownets.data import load_dataset

    splits = load_dataset(name, data_dir=data_dir)
    available = int(splits.x_train.shape[0])
    if n_train < available:
        splits = load_dataset(name, data_dir=data_dir, limit_train=n_train)
    x_train = splits.x_train.flatten(1).contiguous()
    x_test = splits.x_test[:n_test].flatten(1).contiguous()
    return TyingData(name=name, kind="real", x_train=x_train, x_test=x_test,
                     info={"n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]),
                           "input_shape": list(splits.input_shape),
                           "train_available": available})


def load_tying_data(spec: str, *, n_train: int, n_test: int, seed: int = 0,
                    data_dir: str | os.PathLike | None = None) -> TyingData:
    """The vectors a tying data spec names (see the module docstring).

    Parameters
    ----------
    spec : str
    n_train, n_test : int
        Samples wanted (a data set gives at most what its splits hold).
    seed : int
        Model data: the generative net is drawn from ``seed`` and its samples from
        ``seed + 1``. Data sets ignore it (their splits are fixed).
    data_dir : path-like, optional
        A data set's cache folder.

    Returns
    -------
    TyingData
    """
    parsed = parse_tying_data(spec)
    if isinstance(parsed, ModelData):
        return _model_data(parsed, n_train, n_test, seed)
    return _real_data(parsed, n_train, n_test, data_dir)
