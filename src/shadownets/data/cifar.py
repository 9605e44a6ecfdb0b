"""Reader and writer for the CIFAR-10 *binary* version (no unpickling anywhere).

Each ``*.bin`` file is a sequence of fixed-size records: one label byte followed by
3 x 32 x 32 = 3072 pixel bytes (red plane, green plane, blue plane, each row-major).
The archive ``cifar-10-binary.tar.gz`` is read member by member without extracting it.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from shadownets.io import atomic_write_bytes

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_TRAIN_MEMBERS",
    "CIFAR10_TEST_MEMBER",
    "parse_cifar_records",
    "read_cifar_bin",
    "read_cifar10_archive",
    "write_cifar_bin",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_MEMBER = "cifar-10-batches-bin/test_batch.bin"
_META_MEMBER = "cifar-10-batches-bin/batches.meta.txt"
_IMAGE_SHAPE = (3, 32, 32)
_RECORD = 1 + 3 * 32 * 32


def parse_cifar_records(data: bytes, *, source: str = "data",
                        num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Decode CIFAR-10 binary records.

    Parameters
    ----------
    data : bytes
        Concatenated records of 3073 bytes.
    source : str
        Name used in error messages.
    num_classes : int, default 10
        Labels must lie in ``[0, num_classes)``.

    Returns
    -------
    x : ndarray of shape (N, 3, 32, 32), uint8
    y : ndarray of shape (N,), int64
    """
    if len(data) % _RECORD:
        raise ValueError(
            f"{source}: size {len(data)} bytes is not a multiple of the CIFAR-10 record size "
            f"{_RECORD} (1 label byte + 3072 pixel bytes); the file is truncated or not CIFAR-10"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    y = records[:, 0].astype(np.int64)
    if y.size and int(y.max()) >= num_classes:
        raise ValueError(
            f"{source}: label {int(y.max())} out of range [0, {num_classes}); "
            "the file is not CIFAR-10 binary data"
        )
    x = records[:, 1:].reshape(-1, *_IMAGE_SHAPE).copy()
    return x, y


def read_cifar_bin(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 ``*.bin`` batch file: uint8 (N, 3, 32, 32) images, int64 (N,) labels."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no CIFAR-10 batch file at {path}")
    return parse_cifar_records(path.read_bytes(), source=f"path {path}")


def _member_bytes(tar: tarfile.TarFile, name: str, archive: Path) -> bytes:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise ValueError(f"path: archive {archive} has no member {name!r}") from None
    handle = tar.extractfile(info) if info.isfile() else None
    if handle is None:
        raise ValueError(f"path: member {name!r} of {archive} is not a regular file")
    with handle:
        return handle.read()


def read_cifar10_archive(path: str | os.PathLike) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read ``cifar-10-binary.tar.gz`` without extracting it.

    Returns
    -------
    x_train : ndarray of shape (50000, 3, 32, 32), uint8
    y_train : ndarray of shape (50000,), int64
    x_test : ndarray of shape (10000, 3, 32, 32), uint8
    y_test : ndarray of shape (10000,), int64
    classes : tuple of str
        From ``batches.meta.txt`` when present, else the standard ten names.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no CIFAR-10 archive at {path}")
    try:
        with tarfile.open(path, "r:*") as tar:
            parts = [parse_cifar_records(_member_bytes(tar, m, path), source=f"{path}:{m}")
                     for m in CIFAR10_TRAIN_MEMBERS]
            x_test, y_test = parse_cifar_records(
                _member_bytes(tar, CIFAR10_TEST_MEMBER, path),
                source=f"{path}:{CIFAR10_TEST_MEMBER}")
            names = tar.getnames()
            meta = _member_bytes(tar, _META_MEMBER, path) if _META_MEMBER in names else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"path: {path} is not a readable tar archive ({exc})") from exc
    classes = tuple(line.strip() for line in meta.decode("ascii", "replace").splitlines()
                    if line.strip())
    if len(classes) != len(CIFAR10_CLASSES):
        classes = CIFAR10_CLASSES
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test, classes


def write_cifar_bin(path: str | os.PathLike, x: np.ndarray, y: np.ndarray) -> Path:
    """Write uint8 images (N, 3, 32, 32) and labels (N,) as a CIFAR-10 ``*.bin`` file (atomic)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != np.uint8 or x.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(f"x: expected uint8 of shape (N, 3, 32, 32), got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],) or (y.size and not 0 <= int(y.min()) <= int(y.max()) <= 255):
        raise ValueError(f"y: expected ({x.shape[0]},) labels in [0, 255], got shape {y.shape}")
    records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(x.shape[0], -1)], axis=1)
    return atomic_write_bytes(path, records.tobytes())
