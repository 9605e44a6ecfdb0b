"""Data sets for shadownets: a registry, readers (IDX, CIFAR-10 binary, image folders),
downloads with checksums, seeded stratified splits and label budgets.

Importing this package registers the built-in data sets (``digits``, ``mnist``,
``fashion-mnist``, ``cifar10``, ``synthetic``); nothing is read or downloaded until
:func:`load_dataset` is called.
"""

from shadownets.data import sources as _sources  # noqa: F401  (registers built-in data sets)
from shadownets.data.cifar import read_cifar10_archive, read_cifar_bin, write_cifar_bin
from shadownets.data.download import (
    ChecksumError,
    DownloadError,
    default_cache_dir,
    download,
    file_digest,
)
from shadownets.data.folder import load_image_folder
from shadownets.data.idx import read_idx, write_idx
from shadownets.data.loader import make_loader
from shadownets.data.loading import DataSplits, load_dataset
from shadownets.data.registry import RawData, list_datasets, register_dataset
from shadownets.data.splits import label_budget, stratified_split, stratified_subset
from shadownets.data.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "ChecksumError",
    "DataSplits",
    "DownloadError",
    "RawData",
    "SyntheticConfig",
    "default_cache_dir",
    "download",
    "file_digest",
    "label_budget",
    "list_datasets",
    "load_dataset",
    "load_image_folder",
    "make_loader",
    "make_synthetic",
    "read_cifar10_archive",
    "read_cifar_bin",
    "read_idx",
    "register_dataset",
    "stratified_split",
    "stratified_subset",
    "write_cifar_bin",
    "write_idx",
]
