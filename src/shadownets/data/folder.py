"""Image-folder reader: ``root/<class name>/<image file>``, decoded with PIL."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size))
    if not ok:
        raise ValueError(f"size: expected (height, width) as two positive ints, got {size!r}")
    return int(size[0]), int(size[1])


def _read_image(path: Path, size: tuple[int, int], grayscale: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # an image past PIL's pixel limit: refused, not read
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image = image.convert("L" if grayscale else "RGB")
                if image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        text = " ".join(str(exc).split())
        raise ValueError(f"root: image {path} is too large to decode safely ({text}); shrink "
                         "it or move it out of the folder") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"root: cannot decode image {path} ({exc})") from exc
    return array[None] if grayscale else array.transpose(2, 0, 1)


def load_image_folder(root: str | os.PathLike, *, size: tuple[int, int] = (32, 32),
                      grayscale: bool = False) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """Read every image under ``root/<class>/``; class names are the sorted sub-folder names.

    Parameters
    ----------
    root : path-like
        Folder with one sub-folder per class. Files with other extensions than
        :data:`IMAGE_EXTENSIONS` and hidden files are ignored.
    size : (int, int), default (32, 32)
        Output (height, width); images are resized bilinearly.
    grayscale : bool, default False
        One channel ("L") instead of three ("RGB").

    Returns
    -------
    x : Tensor of shape (N, C, H, W), float32 in [0, 1]
        C is 1 when ``grayscale`` else 3. Images in class order, then file-name order.
    y : Tensor of shape (N,), int64
    classes : tuple of str
    """
    size = _check_size(size)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root: no folder at {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"root: {root} has no class sub-folders (expected root/<class>/<image>)")
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(
                f"root: class folder {folder} holds no images with extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}"
            )
        images.extend(_read_image(p, size, grayscale) for p in files)
        labels.extend([label] * len(files))
    x = torch.from_numpy(np.stack(images)).to(torch.float32) / 255.0
    y = torch.tensor(labels, dtype=torch.int64)
    return x, y, tuple(p.name for p in class_dirs)
