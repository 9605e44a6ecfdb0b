"""Image folders: ``root/<class name>/<image file>`` (or images directly in ``root``), decoded
with PIL.

Decoding converts every picture to the channels asked for: to RGB for three channels (a
grayscale image is replicated to R = G = B, an alpha channel is dropped, a palette expanded)
and to luma ("L", ITU-R 601-2) for one. Images with 16-bit, 32-bit or float pixels, images past
PIL's decompression-bomb limit and files that do not decode are refused with an error naming
the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["IMAGE_EXTENSIONS", "FOLDER_PREFIX", "folder_root", "list_image_files",
           "read_image", "load_image_folder", "load_class_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")

#: The spelling of an image folder in a data spec: ``folder:PATH``.
FOLDER_PREFIX = "folder:"

#: PIL modes whose pixels do not fit 8 bits (converting them would clip).
_WIDE_MODES = ("I", "F")


def folder_root(spec: str) -> Path:
    """The folder of the data spec ``folder:PATH`` (``~`` expanded), which must exist.

    Raises
    ------
    ValueError
        ``spec`` does not start with ``folder:`` or names no path.
    FileNotFoundError
        No folder at PATH.
    """
    if not isinstance(spec, str) or not spec.startswith(FOLDER_PREFIX):
        raise ValueError(f"data: expected folder:PATH, got {spec!r}")
    text = spec[len(FOLDER_PREFIX):]
    if not text.strip():
        raise ValueError(f"data: folder: needs a path, e.g. folder:images/ (got {spec!r})")
    root = Path(text).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "not found"
        raise FileNotFoundError(f"data folder {what}: {root} (from {spec!r})")
    return root


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_image_files(root: str | os.PathLike, *, classes: bool
                     ) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image files of a folder, in a fixed order.

    Parameters
    ----------
    root : path-like
        An existing folder. Files whose extension is not in :data:`IMAGE_EXTENSIONS` and
        hidden files and folders are ignored.
    classes : bool
        True: ``root/<class>/<image>`` with at least one image in every class folder (images
        directly in ``root`` are ignored). False: every image directly in ``root`` (label 0,
        class ``""``) and in its sub-folders ``root/<class>/`` (one level), at least one
        in all.

    Returns
    -------
    files : list of Path
        Sorted by class (top-level images first), then file name.
    labels : list of int
        Class index of each file.
    classes : tuple of str
        Sorted class-folder names (with ``""`` first for top-level images when
        ``classes=False`` and there are some).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root: no folder at {root}")
    dirs = _class_dirs(root)
    groups = [(d.name, _images_in(d)) for d in dirs]
    if classes:
        if not dirs:
            raise ValueError(f"folder {root} has no class sub-folders (expected "
                             f"{root}/<class>/<image>)")
        for folder, (_, found) in zip(dirs, groups, strict=True):
            if not found:
                raise ValueError(f"class folder {folder} holds no images with "
                                 f"extensions {', '.join(IMAGE_EXTENSIONS)}")
    else:
        groups = [g for g in [("", _images_in(root)), *groups] if g[1]]
        if not groups:
            raise ValueError(f"folder {root} holds no images with extensions "
                             f"{', '.join(IMAGE_EXTENSIONS)} (nor do its sub-folders)")
    files = [f for _, found in groups for f in found]
    labels = [i for i, (_, found) in enumerate(groups) for _ in found]
    return files, labels, tuple(name for name, _ in groups)


def read_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """Decode one image file as uint8 pixels of shape (H, W, channels).

    Parameters
    ----------
    path : path-like
    channels : {1, 3}, default 3
        3: RGB (grayscale replicated, alpha dropped); 1: luma.

    Returns
    -------
    ndarray of shape (H, W, channels), uint8
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 or 3, got {channels!r}")
    path = Path(path)
    try:
        with warnings.catch_warnings():  # an image past PIL's pixel limit: refused, not read
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                mode = image.mode
                array = None
                if not mode.startswith(_WIDE_MODES):
                    array = np.array(image.convert("L" if channels == 1 else "RGB"),
                                     dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        text = " ".join(str(exc).split())
        raise ValueError(f"image {path} is too large to decode safely ({text}); shrink "
                         "it or move it out of the folder") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"cannot decode image {path} ({text})") from exc
    if array is None:
        raise ValueError(f"image {path} has pixels wider than 8 bits (PIL mode {mode}), "
                         "which would be clipped; save it as 8-bit RGB or grayscale")
    return array[..., None] if channels == 1 else array


def load_image_folder(root: str | os.PathLike, *, size: tuple[int, int] = (32, 32),
                      grayscale: bool = False) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """Read every image under ``root/<class>/``; class names are the sorted sub-folder names.

    Parameters
    ----------
    root : path-like
        Folder with one sub-folder per class. Files with other extensions than
        :data:`IMAGE_EXTENSIONS` and hidden files are ignored.
    size : (int, int), default (32, 32)
        Output (height, width); images are stretched to it (bilinear, antialiased: the
        ``"resize"`` preset of :mod:`shadownets.data.presets`, without its normalisation).
    grayscale : bool, default False
        One channel (luma) instead of three (RGB; grayscale images replicated).

    Returns
    -------
    x : Tensor of shape (N, C, H, W), float32 in [0, 1]
        C is 1 when ``grayscale`` else 3. Images in class order, then file-name order.
    y : Tensor of shape (N,), int64
    classes : tuple of str
    """
    from shadownets.data.presets import resize_to

    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size))
    if not ok:
        raise ValueError(f"size: expected (height, width) as two positive ints, got {size!r}")
    size = (int(size[0]), int(size[1]))
    files, labels, classes = list_image_files(root, classes=True)
    x = torch.empty(len(files), 1 if grayscale else 3, *size)
    for i, path in enumerate(files):
        pixels = torch.from_numpy(read_image(path, 1 if grayscale else 3))
        x[i] = resize_to(pixels.permute(2, 0, 1).to(torch.float32) / 255.0, size)
    return x.clamp_(0.0, 1.0), torch.tensor(labels, dtype=torch.int64), classes


def load_class_folder(root: str | os.PathLike) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """Every image under ``root/<class>/`` at its own size, as a labelled data set.

    All images must have one size (none is resized: training data keeps its pixels). They are
    read as RGB; when every one of them is gray (R = G = B, as grayscale files are read), the
    data set has one channel.

    Parameters
    ----------
    root : path-like
        Folder with one sub-folder per class (see :func:`list_image_files`).

    Returns
    -------
    x : Tensor of shape (N, C, H, W), uint8
        C is 1 or 3. Images in class order, then file-name order.
    y : Tensor of shape (N,), int64
    classes : tuple of str
        Sorted class-folder names; label = index.
    """
    files, labels, classes = list_image_files(root, classes=True)
    first = read_image(files[0])
    x = np.empty((len(files), *first.shape), dtype=np.uint8)  # (N, H, W, 3)
    for i, path in enumerate(files):
        pixels = first if i == 0 else read_image(path)
        if pixels.shape != first.shape:
            raise ValueError(
                f"images differ in size ({files[0]} is {first.shape[0]}x"
                f"{first.shape[1]}, {path} is {pixels.shape[0]}x{pixels.shape[1]}); a training "
                "folder needs one size: resize the images (inputs for audit/generate are "
                "resized by a preset)")
        x[i] = pixels
    gray = bool((x[..., :1] == x[..., 1:]).all())
    images = torch.from_numpy(x[..., :1] if gray else x).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(labels, dtype=torch.int64), classes
