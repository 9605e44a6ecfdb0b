"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (plain or gzip).

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes, then the data, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from shadownets.io import atomic_write_bytes

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX type code -> numpy dtype (big-endian as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"path: {path} is a damaged gzip file ({exc})") from exc
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a native-endian numpy array.

    Parameters
    ----------
    path : path-like
        The file. Gzip compression is detected from the content.

    Returns
    -------
    ndarray
        Array of the shape and dtype stored in the header, e.g. uint8 (N, 28, 28) images or
        uint8 (N,) labels.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no IDX file at {path}")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(
            f"path: {path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}; "
            f"expected 0000 followed by a type code in "
            f"{sorted(hex(c) for c in IDX_DTYPES)} and the number of dimensions)"
        )
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"path: {path} is truncated inside its IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"path: {path} holds {len(data) - header} data bytes but its header {shape} "
            f"promises {expected}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in ``.gz`` (atomic)."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(
            f"array: dtype {array.dtype} cannot be stored in IDX; allowed: "
            f"{', '.join(str(d) for d in codes)}"
        )
    if array.ndim > 255:
        raise ValueError(f"array: at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)
