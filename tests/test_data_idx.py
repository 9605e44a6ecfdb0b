"""Tests for the IDX reader/writer: round trips, gzip detection, bad headers."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from shadownets.data.idx import read_idx, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (5, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_matches_hand_written_mnist_header(tmp_path):
    # oracle: the layout of the MNIST page, written by hand with struct
    labels = bytes([3, 1, 4, 1, 5])
    (tmp_path / "l").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 5) + labels)
    images = bytes(range(2 * 2 * 3))
    raw = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 2, 3) + images
    (tmp_path / "i.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), [3, 1, 4, 1, 5])
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz"),
                                  np.arange(12, dtype=np.uint8).reshape(2, 2, 3))


def test_gzip_detected_by_content_not_name(tmp_path):
    write_idx(tmp_path / "x.gz", np.arange(6, dtype=np.uint8))
    (tmp_path / "x.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), np.arange(6))


def test_big_endian_on_disk(tmp_path):
    write_idx(tmp_path / "x", np.array([1, 256], dtype=np.int32))
    assert (tmp_path / "x").read_bytes()[8:] == b"\x00\x00\x00\x01\x00\x00\x01\x00"


@pytest.mark.parametrize("head", [b"\x08\x03\x00\x00", b"\x00\x00\x07\x01", b"\x00\x01\x08\x01"])
def test_bad_magic(tmp_path, head):
    (tmp_path / "bad").write_bytes(head + b"\x00" * 16)
    with pytest.raises(ValueError, match="not an IDX file \\(bad magic number"):
        read_idx(tmp_path / "bad")


def test_size_mismatch(tmp_path):
    (tmp_path / "short").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 5) + b"\x01\x02")
    with pytest.raises(ValueError, match="holds 2 data bytes but its header \\(5,\\) promises 5"):
        read_idx(tmp_path / "short")


def test_truncated_header(tmp_path):
    (tmp_path / "h").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="truncated inside its IDX header"):
        read_idx(tmp_path / "h")


def test_damaged_gzip(tmp_path):
    (tmp_path / "d.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"x" * 100)[:20])
    with pytest.raises(ValueError, match="damaged gzip"):
        read_idx(tmp_path / "d.gz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no IDX file"):
        read_idx(tmp_path / "none")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="array: dtype uint16 cannot be stored in IDX"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
