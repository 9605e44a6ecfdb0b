"""Data sets for shadownets: a registry, readers (IDX, CIFAR-10 binary, image folders),
downloads with checksums, seeded stratified splits and label budgets; image presets, the
photographs bundled with scikit-image, and the one parser of data specs (``--data``).

Importing this package registers the built-in data sets (``digits``, ``mnist``,
``fashion-mnist``, ``cifar10``, ``mnist1d``, ``synthetic`` and the family ``folder:PATH``);
nothing is read or downloaded until :func:`load_dataset` or :func:`load_inputs` is called.

>>> x = load_inputs("photos")                         # doctest: +SKIP  (5, 3, 224, 224)
>>> x = load_inputs("folder:val/", preset="imagenet")  # doctest: +SKIP
>>> splits = load_dataset("folder:my_classes/")        # doctest: +SKIP  (train/val/test)
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
from shadownets.data.folder import load_class_folder, load_image_folder, read_image
from shadownets.data.idx import read_idx, write_idx
from shadownets.data.inputs import DataSpec, load_inputs, parse_data_spec
from shadownets.data.loader import make_loader
from shadownets.data.loading import DataSplits, load_dataset
from shadownets.data.photos import PHOTO_NAMES, Photos, load_photos, photo_inputs
from shadownets.data.presets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagePreset,
    get_preset,
    list_presets,
    preprocess,
)
from shadownets.data.registry import (
    RawData,
    list_datasets,
    register_dataset,
    register_dataset_prefix,
)
from shadownets.data.splits import label_budget, stratified_split, stratified_subset
from shadownets.data.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "ChecksumError",
    "DataSpec",
    "DataSplits",
    "DownloadError",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImagePreset",
    "PHOTO_NAMES",
    "Photos",
    "RawData",
    "SyntheticConfig",
    "default_cache_dir",
    "download",
    "file_digest",
    "get_preset",
    "label_budget",
    "list_datasets",
    "list_presets",
    "load_class_folder",
    "load_dataset",
    "load_image_folder",
    "load_inputs",
    "load_photos",
    "make_loader",
    "make_synthetic",
    "parse_data_spec",
    "photo_inputs",
    "preprocess",
    "read_cifar10_archive",
    "read_cifar_bin",
    "read_idx",
    "read_image",
    "register_dataset",
    "register_dataset_prefix",
    "stratified_split",
    "stratified_subset",
    "write_cifar_bin",
    "write_idx",
]
