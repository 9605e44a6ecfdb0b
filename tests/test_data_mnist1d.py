"""Tests for MNIST-1D (shadownets.data.mnist1d): generated locally, deterministic, no side
effects, loadable end to end with load_dataset."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
import torch

from shadownets.data import list_datasets, load_dataset
from shadownets.data.mnist1d import MNIST1D_CLASSES, MNIST1D_LENGTH, make_mnist1d

# sha256 of the float32 train signals (4000, 1, 1, 40) of mnist1d==0.0.2.post1's
# make_dataset(get_dataset_args()): it changes when the package's generator (templates,
# transforms, seed handling) changes, which would silently change the data set.
TRAIN_SHA256 = "d53506bddd12d3b72c7153b1ae7f34807724b1dd078a7273809bf9d0792319f6"


@pytest.fixture(scope="module")
def raw():
    return make_mnist1d()


def _sha256(x: torch.Tensor) -> str:
    return hashlib.sha256(x.numpy().tobytes()).hexdigest()


def test_registered():
    assert "mnist1d" in list_datasets()


def test_shapes_dtypes_classes_and_split_sizes(raw):
    assert raw.x_train.shape == (4000, 1, 1, MNIST1D_LENGTH)
    assert raw.x_test.shape == (1000, 1, 1, MNIST1D_LENGTH)
    assert raw.x_train.dtype == raw.x_test.dtype == torch.float32
    assert raw.y_train.shape == (4000,) and raw.y_test.shape == (1000,)
    assert raw.y_train.dtype == raw.y_test.dtype == torch.int64
    assert raw.classes == MNIST1D_CLASSES == tuple("0123456789")
    assert set(raw.y_train.tolist()) == set(raw.y_test.tolist()) == set(range(10))
    assert torch.isfinite(raw.x_train).all() and torch.isfinite(raw.x_test).all()


def test_deterministic_and_pinned(raw):
    again = make_mnist1d()
    for a, b in ((raw.x_train, again.x_train), (raw.y_train, again.y_train),
                 (raw.x_test, again.x_test), (raw.y_test, again.y_test)):
        assert torch.equal(a, b)
    assert _sha256(raw.x_train) == TRAIN_SHA256


def test_global_random_states_untouched():
    # make_dataset seeds the legacy global generators (random, numpy.random): both restored
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    make_mnist1d()
    assert random.getstate() == py_state
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert random.random() == random.Random(123).random()
    assert np.random.rand() == np.random.RandomState(123).rand()  # noqa: NPY002


def test_load_dataset_end_to_end(raw):
    splits = load_dataset("mnist1d", seed=0, limit_train=50)
    assert splits.input_shape == (1, 1, MNIST1D_LENGTH) and splits.num_classes == 10
    assert splits.x_train.shape == (50, 1, 1, MNIST1D_LENGTH)
    assert torch.equal(torch.bincount(splits.y_train, minlength=10), torch.full((10,), 5))
    assert splits.x_val.shape == (400, 1, 1, MNIST1D_LENGTH)  # 10 % of the official train
    assert splits.x_test.shape == (1000, 1, 1, MNIST1D_LENGTH)  # the official test split
    assert splits.x_train.dtype == splits.x_val.dtype == splits.x_test.dtype == torch.float32
    (mean,), (std,) = splits.mean, splits.std
    torch.testing.assert_close(splits.x_train.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(splits.x_test, (raw.x_test - mean) / std)
    assert torch.equal(splits.y_test, raw.y_test)
