"""The built-in data sets: where their files come from and how they are read.

``digits`` (scikit-learn's bundled 8x8 digits) and ``synthetic`` need no files;
``folder:PATH`` is the user's own labelled images, ``PATH/<class>/<image>`` at their own size
(one size for all; see :func:`shadownets.data.folder.load_class_folder`), split 60/20/20.
``fashion-mnist`` is read from the Debian package ``dataset-fashion-mnist`` when installed,
else from ``data_dir``. ``mnist``, ``fashion-mnist`` and ``cifar10`` are read from
``data_dir`` (default: :func:`default_cache_dir` / name).

Files in the folder are never replaced. A file there is used as it is: an IDX file may be
plain or ``.gz``; a published file name whose md5 differs from the published one is taken as
the user's own, with a one-line note (a warning on the ``shadownets.data`` logger). Only
**missing** files are downloaded, and only with ``download=True``; an error names the
missing file. Published md5 checksums are those listed by torchvision and the data sets'
home pages.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shadownets.data.cifar import read_cifar10_archive
from shadownets.data.download import (
    DownloadError,
    default_cache_dir,
    download_first,
    verify_file,
)
from shadownets.data.folder import folder_root, load_class_folder
from shadownets.data.idx import read_idx
from shadownets.data.registry import Loader, RawData, register_dataset, register_dataset_prefix
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
_log = logging.getLogger("shadownets.data")
_OWN_HINT = "it differs from the published file: move it away to download that one"


def _gather(name: str, folder: Path, wanted: list[tuple[Resource, Path | None]],
            download: bool) -> tuple[list[Path], set[Path]]:
    """The files of ``wanted`` (resource, local file or None): local ones as they are, missing
    ones downloaded (``download=True``) or named in the error. Also returns the local files
    that differ from the published ones (the user's own; see :func:`_note_own`)."""
    missing = [r.filename for r, local in wanted if local is None]
    if missing and not download:
        them = "it" if len(missing) == 1 else "them"
        raise FileNotFoundError(
            f"{name}: {folder} is missing {', '.join(missing)}; pass download=True to fetch "
            f"{them} from {wanted[0][0].urls[0].rsplit('/', 1)[0]}/, or put {them} there")
    own = {local for r, local in wanted if local is not None and local.name == r.filename
           and not verify_file(local, md5=r.md5)}
    paths = []
    for resource, local in wanted:
        if local is None:
            try:
                local = download_first(resource.urls, folder / resource.filename,
                                       md5=resource.md5)
            except DownloadError as exc:
                raise DownloadError(f"{name}: {resource.filename} is missing from {folder}; "
                                    f"{exc}") from exc
        paths.append(local)
    return paths, own


def _note_own(name: str, folder: Path, own: AbstractSet[Path]) -> None:
    """One note line that the user's own files were used (after they were read)."""
    if not own:
        return
    one = len(own) == 1
    _log.warning("note: %s: using your own %s in %s (%s from the published %s; move %s away "
                 "to download the published %s)", name, ", ".join(sorted(p.name for p in own)),
                 folder, "it differs" if one else "they differ", "file" if one else "files",
                 "it" if one else "them", "file" if one else "files")


def fetch(resource: Resource, folder: Path, download: bool, name: str = "data_dir") -> Path:
    """Path of ``resource`` in ``folder``: a file there is used as it is (never replaced; a
    note when its md5 differs), a missing one is downloaded with ``download=True``."""
    dest = folder / resource.filename
    paths, own = _gather(name, folder, [(resource, dest if dest.is_file() else None)], download)
    _note_own(name, folder, own)
    return paths[0]


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


def _read_own(path: Path, own: AbstractSet[Path], reader: Callable[[Path], Any]) -> Any:
    """``reader(path)``; a file of the user's own that cannot be read says so."""
    try:
        return reader(path)
    except ValueError as exc:
        if path in own:
            raise ValueError(f"{exc} ({_OWN_HINT})") from exc
        raise


def _read_idx_set(paths: list[Path], own: AbstractSet[Path] = frozenset()
                  ) -> tuple[torch.Tensor, ...]:
    x_train, y_train, x_test, y_test = (_read_own(p, own, read_idx) for p in paths)
    for x, y, (px, py) in ((x_train, y_train, paths[:2]), (x_test, y_test, paths[2:])):
        if x.dtype != np.uint8 or x.ndim != 3 or y.shape != (x.shape[0],):
            hint = f" ({_OWN_HINT})" if own & {px, py} else ""
            raise ValueError(f"data_dir: {px} does not hold uint8 (N, H, W) images matching "
                             f"its labels {py.name} (images {x.shape}, labels {y.shape}){hint}")
    return (torch.from_numpy(x_train[:, None]), torch.from_numpy(y_train.astype(np.int64)),
            torch.from_numpy(x_test[:, None]), torch.from_numpy(y_test.astype(np.int64)))


def _idx_dataset(name: str, resources: tuple[Resource, ...], classes: tuple[str, ...],
                 data_dir: Path | None, download: bool) -> RawData:
    """Read the four IDX files from ``data_dir`` (plain or .gz), fetching only missing ones."""
    folder = data_dir if data_dir is not None else default_cache_dir() / name
    wanted = [(r, _find_idx(folder, stem)) for r, stem in zip(resources, _IDX_STEMS, strict=True)]
    paths, own = _gather(name, folder, wanted, download)
    raw = RawData(*_read_idx_set(paths, own), classes)
    _note_own(name, folder, own)
    return raw


@register_dataset("digits")
def _digits(*, data_dir: Path | None, download: bool) -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return RawData(x, y, None, None, tuple(str(c) for c in bunch.target_names))


@register_dataset("mnist")
def _mnist(*, data_dir: Path | None, download: bool) -> RawData:
    return _idx_dataset("mnist", MNIST_RESOURCES, tuple(str(c) for c in range(10)), data_dir,
                        download)


@register_dataset("fashion-mnist")
def _fashion_mnist(*, data_dir: Path | None, download: bool) -> RawData:
    system = debian_fashion_mnist_dir()
    if system is not None:  # a system package: trusted, its .gz files are recompressed
        paths = [_find_idx(system, stem) for stem in _IDX_STEMS]
        return RawData(*_read_idx_set(paths), FASHION_MNIST_CLASSES)  # type: ignore[arg-type]
    return _idx_dataset("fashion-mnist", FASHION_MNIST_RESOURCES, FASHION_MNIST_CLASSES,
                        data_dir, download)


@register_dataset("cifar10")
def _cifar10(*, data_dir: Path | None, download: bool) -> RawData:
    folder = data_dir if data_dir is not None else default_cache_dir() / "cifar10"
    local = folder / CIFAR10_RESOURCE.filename
    (archive,), own = _gather("cifar10", folder,
                              [(CIFAR10_RESOURCE, local if local.is_file() else None)], download)
    x_train, y_train, x_test, y_test, classes = _read_own(archive, own, read_cifar10_archive)
    _note_own("cifar10", folder, own)
    return RawData(torch.from_numpy(x_train), torch.from_numpy(y_train),
                   torch.from_numpy(x_test), torch.from_numpy(y_test), classes)


@register_dataset("synthetic")
def _synthetic(*, data_dir: Path | None, download: bool) -> RawData:
    return make_synthetic()


@register_dataset_prefix("folder", argument="PATH")
def _folder(name: str) -> Loader:
    root = folder_root(name)  # a missing folder is refused before any work

    def load(*, data_dir: Path | None, download: bool) -> RawData:
        x, y, classes = load_class_folder(root)
        return RawData(x, y, None, None, classes)

    return load
