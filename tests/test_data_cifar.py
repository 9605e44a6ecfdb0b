"""Tests for the CIFAR-10 binary reader: round trips, archives read in place, bad files."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from shadownets.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR10_TEST_MEMBER,
    CIFAR10_TRAIN_MEMBERS,
    parse_cifar_records,
    read_cifar10_archive,
    read_cifar_bin,
    write_cifar_bin,
)


def _batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def make_archive(path, n_per_batch: int = 3, meta: bytes | None = None):
    """Write a tiny cifar-10-binary.tar.gz; returns the (x, y) written for train and test."""
    batches = [_batch(n_per_batch, s) for s in range(6)]
    with tarfile.open(path, "w:gz") as tar:
        members = [*CIFAR10_TRAIN_MEMBERS, CIFAR10_TEST_MEMBER]
        for name, (x, y) in zip(members, batches, strict=True):
            data = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], 1)
            _add(tar, name, data.tobytes())
        if meta is not None:
            _add(tar, "cifar-10-batches-bin/batches.meta.txt", meta)
    return batches


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_round_trip(tmp_path):
    x, y = _batch(4, 0)
    back_x, back_y = read_cifar_bin(write_cifar_bin(tmp_path / "b.bin", x, y))
    np.testing.assert_array_equal(back_x, x)
    np.testing.assert_array_equal(back_y, y)


def test_record_layout_is_label_then_rgb_planes():
    # oracle: the layout on the CIFAR page, built by hand
    record = bytes([7]) + bytes([1]) * 1024 + bytes([2]) * 1024 + bytes([3]) * 1024
    x, y = parse_cifar_records(record)
    assert y.tolist() == [7] and x.shape == (1, 3, 32, 32)
    assert [int(x[0, c].min()) for c in range(3)] == [1, 2, 3]
    assert [int(x[0, c].max()) for c in range(3)] == [1, 2, 3]


def test_archive_read_without_extraction(tmp_path):
    batches = make_archive(tmp_path / "c.tar.gz", meta=b"\n".join(c.encode() for c in "abcdefghij"))
    x_tr, y_tr, x_te, y_te, classes = read_cifar10_archive(tmp_path / "c.tar.gz")
    np.testing.assert_array_equal(x_tr, np.concatenate([b[0] for b in batches[:5]]))
    np.testing.assert_array_equal(y_tr, np.concatenate([b[1] for b in batches[:5]]))
    np.testing.assert_array_equal(x_te, batches[5][0])
    np.testing.assert_array_equal(y_te, batches[5][1])
    assert classes == tuple("abcdefghij")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tar.gz"]


def test_archive_without_meta_uses_standard_names(tmp_path):
    make_archive(tmp_path / "c.tar.gz")
    assert read_cifar10_archive(tmp_path / "c.tar.gz")[4] == CIFAR10_CLASSES


def test_truncated_batch(tmp_path):
    (tmp_path / "t.bin").write_bytes(b"\x01" * 3000)
    with pytest.raises(ValueError, match="not a multiple of the CIFAR-10 record size 3073"):
        read_cifar_bin(tmp_path / "t.bin")


def test_bad_label(tmp_path):
    (tmp_path / "l.bin").write_bytes(bytes([12]) + b"\x00" * 3072)
    with pytest.raises(ValueError, match="label 12 out of range \\[0, 10\\)"):
        read_cifar_bin(tmp_path / "l.bin")


def test_archive_missing_member(tmp_path):
    with tarfile.open(tmp_path / "m.tar.gz", "w:gz") as tar:
        _add(tar, "cifar-10-batches-bin/data_batch_1.bin", b"")
    with pytest.raises(ValueError, match="has no member 'cifar-10-batches-bin/data_batch_2.bin'"):
        read_cifar10_archive(tmp_path / "m.tar.gz")


def test_archive_member_must_be_regular_file(tmp_path):
    with tarfile.open(tmp_path / "s.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(CIFAR10_TRAIN_MEMBERS[0])
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="data_batch_1.bin' of .* is not a regular file"):
        read_cifar10_archive(tmp_path / "s.tar.gz")


def test_not_an_archive(tmp_path):
    (tmp_path / "n.tar.gz").write_bytes(b"not a tar file at all" * 30)
    with pytest.raises(ValueError, match="not a readable tar archive"):
        read_cifar10_archive(tmp_path / "n.tar.gz")


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batch file"):
        read_cifar_bin(tmp_path / "x.bin")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 archive"):
        read_cifar10_archive(tmp_path / "x.tar.gz")


def test_write_checks_shape(tmp_path):
    with pytest.raises(ValueError, match="x: expected uint8 of shape \\(N, 3, 32, 32\\)"):
        write_cifar_bin(tmp_path / "w.bin", np.zeros((2, 3, 8, 8), np.uint8), np.zeros(2))
