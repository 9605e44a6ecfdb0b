"""Tests for the built-in file-backed data sets, with local files and file:// mirrors only."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch

from shadownets.data import load_dataset, write_idx
from shadownets.data import sources as src
from shadownets.data.cifar import CIFAR10_TEST_MEMBER, CIFAR10_TRAIN_MEMBERS

_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _write_mnist_like(folder, suffix: str, n_train: int = 40, n_test: int = 20):
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              (np.arange(n_train) % 10).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              (np.arange(n_test) % 10).astype(np.uint8))
    paths = [write_idx(folder / f"{stem}{suffix}", a) for stem, a in zip(_STEMS, arrays,
                                                                          strict=True)]
    return arrays, paths


def _mirror(monkeypatch, attr: str, paths):
    resources = tuple(src.Resource(p.name, (p.as_uri(),), hashlib.md5(p.read_bytes()).hexdigest())
                      for p in paths)
    monkeypatch.setattr(src, attr, resources)


def test_mnist_from_plain_files_in_data_dir(tmp_path):
    arrays, _ = _write_mnist_like(tmp_path, "")
    d = load_dataset("mnist", data_dir=tmp_path, download=False, val_size=10)
    assert d.input_shape == (1, 28, 28) and (len(d.y_train), len(d.y_val)) == (30, 10)
    torch.testing.assert_close(d.raw(d.x_test)[:, 0] * 255, torch.from_numpy(arrays[2]).float(),
                               atol=1e-3, rtol=0)


def test_mnist_downloads_into_cache_and_verifies(tmp_path, monkeypatch):
    _, paths = _write_mnist_like(tmp_path / "mirror", ".gz")
    _mirror(monkeypatch, "MNIST_RESOURCES", paths)
    monkeypatch.setenv("SHADOWNETS_DATA", str(tmp_path / "cache"))
    d = load_dataset("mnist")
    assert len(d.y_test) == 20
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == sorted(p.name for p in paths)
    load_dataset("mnist", download=False)  # now served from the verified cache


def test_mnist_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is missing train-images-idx3-ubyte.gz, "
                                                r".*t10k-labels-idx1-ubyte.gz; pass "
                                                r"download=True \(--download\) to fetch them from"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_mnist_unreadable_own_files_are_kept(tmp_path, monkeypatch):
    _, paths = _write_mnist_like(tmp_path / "mirror", ".gz")
    _mirror(monkeypatch, "MNIST_RESOURCES", paths)
    (tmp_path / "data").mkdir()
    for p in paths:
        (tmp_path / "data" / p.name).write_bytes(b"corrupt")
    for download in (False, True):
        with pytest.raises(ValueError, match=r"not an IDX file .*differs from the published "
                                             r"file: move it away to download that one"):
            load_dataset("mnist", data_dir=tmp_path / "data", download=download)
    assert {p.read_bytes() for p in (tmp_path / "data").iterdir()} == {b"corrupt"}
    for p in (tmp_path / "data").iterdir():  # moved away: the published files are fetched
        p.unlink()
    assert len(load_dataset("mnist", data_dir=tmp_path / "data").y_test) == 20


def test_fashion_mnist_uses_data_dir_without_system_package(tmp_path, monkeypatch):
    monkeypatch.setattr(src, "debian_fashion_mnist_dir", lambda: None)
    _write_mnist_like(tmp_path, "")
    d = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert d.classes[0] == "T-shirt/top" and len(d.y_test) == 20


def test_fashion_mnist_system_package():
    if src.debian_fashion_mnist_dir() is None:
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    d = load_dataset("fashion-mnist", download=False, limit_train=100, val_size=100)
    assert d.input_shape == (1, 28, 28) and len(d.y_test) == 10_000
    assert torch.bincount(d.y_train).tolist() == [10] * 10


def _cifar_archive(path, n_per_batch: int):
    rng = np.random.default_rng(1)
    batches = []
    with tarfile.open(path, "w:gz") as tar:
        for name in (*CIFAR10_TRAIN_MEMBERS, CIFAR10_TEST_MEMBER):
            x = rng.integers(0, 256, (n_per_batch, 3, 32, 32), dtype=np.uint8)
            y = rng.integers(0, 10, n_per_batch, dtype=np.uint8)
            data = np.concatenate([y[:, None], x.reshape(n_per_batch, -1)], 1).tobytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            batches.append((x, y))
    return batches


def test_cifar10_from_file_mirror(tmp_path, monkeypatch):
    archive = tmp_path / "mirror" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    batches = _cifar_archive(archive, n_per_batch=4)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(src, "CIFAR10_RESOURCE",
                        src.Resource(archive.name, (archive.as_uri(),), md5))
    d = load_dataset("cifar10", data_dir=tmp_path / "data", val_size=0)
    assert d.input_shape == (3, 32, 32) and len(d.y_train) == 4 * len(CIFAR10_TRAIN_MEMBERS)
    torch.testing.assert_close(d.raw(d.x_test) * 255, torch.from_numpy(batches[5][0]).float(),
                               atol=1e-3, rtol=0)


def test_debian_lookup_falls_back_without_dpkg(tmp_path, monkeypatch):
    monkeypatch.setattr(src.shutil, "which", lambda name: None)
    monkeypatch.setattr(src, "_DEBIAN_DEFAULT", tmp_path)
    assert src.debian_fashion_mnist_dir() is None  # folder exists but holds no files
    _write_mnist_like(tmp_path, ".gz")
    assert src.debian_fashion_mnist_dir() == tmp_path
