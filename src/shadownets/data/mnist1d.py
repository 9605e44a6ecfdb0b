"""MNIST-1D (Greydanus 2020): 10 classes of 1-D signals of 40 samples, generated locally.

The signals come from the ``mnist1d`` package's :func:`mnist1d.data.make_dataset` with its
default arguments: ten hard-coded digit-like templates, each padded, dilated, scaled,
translated, sheared and noised at random, seed 42; 5000 signals, the first 4000 (after a
shuffle) the official train split and the last 1000 the test split, all standardised
together to mean 0 and standard deviation 1. Nothing is read from disk or the network:
``mnist1d.get_dataset`` (which downloads and unpickles a file) is never called.

``make_dataset`` seeds Python's and NumPy's global random generators; their states are saved
before and restored after it, so loading MNIST-1D leaves them as they were.

Reference: S. Greydanus, "Scaling down deep learning", arXiv:2011.14439 (2020).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from shadownets.data.registry import RawData

__all__ = ["MNIST1D_CLASSES", "MNIST1D_LENGTH", "make_mnist1d"]

#: Class names, index = label (the digit each template draws).
MNIST1D_CLASSES = tuple(str(c) for c in range(10))
#: Samples per signal (the package's ``final_seq_length``).
MNIST1D_LENGTH = 40


def _generate() -> dict:
    """The package's default data set, the global random states left untouched."""
    from mnist1d.data import get_dataset_args, make_dataset

    # the package draws from the legacy global generators, so those are what we save
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        return make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002


def _signals(x: np.ndarray, y: np.ndarray, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 40) float signals and (N,) labels as (N, 1, 1, 40) float32 and (N,) int64."""
    if x.ndim != 2 or x.shape[1] != MNIST1D_LENGTH or y.shape != (x.shape[0],):
        raise ValueError(f"mnist1d: expected {split} signals of shape (N, {MNIST1D_LENGTH}) "
                         f"with labels (N,), got {x.shape} and {y.shape}; is the installed "
                         "mnist1d package version 0.0.2.post1?")
    signals = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[:, None, None]
    return signals, torch.from_numpy(y.astype(np.int64))


def make_mnist1d() -> RawData:
    """Generate MNIST-1D as the package's defaults define it.

    Returns
    -------
    RawData
        ``x_train`` float32 of shape (4000, 1, 1, 40), ``y_train`` int64 of shape (4000,),
        ``x_test`` float32 of shape (1000, 1, 1, 40), ``y_test`` int64 of shape (1000,),
        classes ``"0"`` .. ``"9"``. The same arrays on every call.
    """
    data = _generate()
    x_train, y_train = _signals(np.asarray(data["x"]), np.asarray(data["y"]), "train")
    x_test, y_test = _signals(np.asarray(data["x_test"]), np.asarray(data["y_test"]), "test")
    return RawData(x_train, y_train, x_test, y_test, MNIST1D_CLASSES)
