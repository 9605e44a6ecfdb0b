"""The built-in data sets: where their files come from and how they are read.

``digits`` (scikit-learn's bundled 8x8 digits) and ``synthetic`` need no files.
``fashion-mnist`` is read from the Debian package ``dataset-fashion-mnist`` when installed,
else from ``data_dir``, else downloaded. ``mnist`` and ``cifar10`` are read from ``data_dir``
(default: :func:`default_cache_dir` / name), downloaded there first when missing.
Published md5 checksums are those listed by torchvision and the data sets' home pages.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from shadownets.data.cifar import read_cifar10_archive
from shadownets.data.download import default_cache_dir, download_first, verify_file
from shadownets.data.idx import read_idx
from shadownets.data.registry import RawData, register_dataset
from shadownets.data.synthetic import make_synthetic

__all__ = ["Resource", "MNIST_RESOURCES", "FASHION_MNIST_RESOURCES", "CIFAR10_RESOURCE",
           "fetch", "debian_fashion_mnist_dir"]


@dataclass(frozen=True)
class Resource:
    """One published file: its name, mirrors (tried in order) and checksum."""

    filename: str
    urls: tuple[str, ...]
    md5: str


def _idx_set(mirrors: tuple[str, ...], md5s: dict[str, str]) -> tuple[Resource, ...]:
    return tuple(Resource(f, tuple(m + f for m in mirrors), h) for f, h in md5s.items())


MNIST_RESOURCES = _idx_set(
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
     "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
     "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
     "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
)
FASHION_MNIST_RESOURCES = _idx_set(
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
     "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
     "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
     "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
)
CIFAR10_RESOURCE = Resource(
    "cifar-10-binary.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    "c32a1d4ab5d03f1284b67883e8d87530",
)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
_IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_DEBIAN_PACKAGE = "dataset-fashion-mnist"
_DEBIAN_DEFAULT = Path("/usr/share/datasets/fashion-mnist")


def fetch(resource: Resource, folder: Path, download: bool) -> Path:
    """Path of ``resource`` in ``folder``: verified, re-fetched if corrupt, fetched if missing."""
    dest = folder / resource.filename
    if verify_file(dest, md5=resource.md5):
        return dest
    if not download:
        state = "does not match its published md5" if dest.exists() else "is missing"
        raise FileNotFoundError(
            f"data_dir: {dest} {state}; pass download=True to fetch it from {resource.urls[0]}"
        )
    return download_first(resource.urls, dest, md5=resource.md5)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def debian_fashion_mnist_dir() -> Path | None:
    """Folder holding the IDX files of the Debian package ``dataset-fashion-mnist``, if any.

    Asks ``dpkg -L`` first and falls back to the package's usual install folder.
    """
    candidates: list[Path] = []
    if shutil.which("dpkg"):
        try:
            listing = subprocess.run(["dpkg", "-L", _DEBIAN_PACKAGE], capture_output=True,
                                     text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        candidates += [Path(line).parent for line in listing.splitlines()
                       if Path(line).name.startswith(_IDX_STEMS[0])]
    candidates.append(_DEBIAN_DEFAULT)
    for folder in candidates:
        if all(_find_idx(folder, stem) for stem in _IDX_STEMS):
            return folder
    return None


def _read_idx_set(paths: list[Path]) -> tuple[torch.Tensor, ...]:
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for x, y, p in ((x_train, y_train, paths[0]), (x_test, y_test, paths[2])):
        if x.dtype != np.uint8 or x.ndim != 3 or y.shape != (x.shape[0],):
            raise ValueError(f"data_dir: {p} does not hold uint8 (N, H, W) images matching "
                             f"its labels (images {x.shape}, labels {y.shape})")
    return (torch.from_numpy(x_train[:, None]), torch.from_numpy(y_train.astype(np.int64)),
            torch.from_numpy(x_test[:, None]), torch.from_numpy(y_test.astype(np.int64)))


def _idx_dataset(name: str, resources: tuple[Resource, ...], classes: tuple[str, ...],
                 folders: list[Path], data_dir: Path | None, download: bool) -> RawData:
    for folder in folders:  # folders already holding every file (plain or .gz), unverified
        found = [_find_idx(folder, stem) for stem in _IDX_STEMS]
        if all(found) and not all(f.suffix == ".gz" for f in found):  # type: ignore[union-attr]
            return RawData(*_read_idx_set(found), classes)  # type: ignore[arg-type]
    target = data_dir if data_dir is not None else default_cache_dir() / name
    paths = [fetch(r, target, download) for r in resources]
    return RawData(*_read_idx_set(paths), classes)


@register_dataset("digits")
def _digits(*, data_dir: Path | None, download: bool) -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return RawData(x, y, None, None, tuple(str(c) for c in bunch.target_names))


@register_dataset("mnist")
def _mnist(*, data_dir: Path | None, download: bool) -> RawData:
    folders = [data_dir] if data_dir is not None else []
    return _idx_dataset("mnist", MNIST_RESOURCES, tuple(str(c) for c in range(10)), folders,
                        data_dir, download)


@register_dataset("fashion-mnist")
def _fashion_mnist(*, data_dir: Path | None, download: bool) -> RawData:
    system = debian_fashion_mnist_dir()
    if system is not None:  # a system package: trusted, its .gz files are recompressed
        paths = [_find_idx(system, stem) for stem in _IDX_STEMS]
        return RawData(*_read_idx_set(paths), FASHION_MNIST_CLASSES)  # type: ignore[arg-type]
    folders = [data_dir] if data_dir is not None else []
    return _idx_dataset("fashion-mnist", FASHION_MNIST_RESOURCES, FASHION_MNIST_CLASSES,
                        folders, data_dir, download)


@register_dataset("cifar10")
def _cifar10(*, data_dir: Path | None, download: bool) -> RawData:
    target = data_dir if data_dir is not None else default_cache_dir() / "cifar10"
    archive = fetch(CIFAR10_RESOURCE, target, download)
    x_train, y_train, x_test, y_test, classes = read_cifar10_archive(archive)
    return RawData(torch.from_numpy(x_train), torch.from_numpy(y_train),
                   torch.from_numpy(x_test), torch.from_numpy(y_test), classes)


@register_dataset("synthetic")
def _synthetic(*, data_dir: Path | None, download: bool) -> RawData:
    return make_synthetic()
