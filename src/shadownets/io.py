"""Safe file output: every result and checkpoint is written atomically.

A write goes to a temporary file in the destination folder, is flushed and fsynced, and
then replaces the destination with :func:`os.replace`, so a reader never sees a half-written
file and a crash never destroys what was there before. With ``replace=False`` the finished
file is moved into place only when the destination does not exist (a hard link, which fails
on an existing name), so a file that appeared meanwhile is never replaced.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_with",
    "save_json",
    "save_dataframe_csv",
    "save_figure",
    "to_jsonable",
]


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None], *,
                      replace: bool = True) -> Path:
    """Call ``writer(tmp_path)`` and move the finished file onto ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Destination. Parent folders are created.
    writer : callable
        Writes the whole file at the temporary path it is given.
    replace : bool, default True
        Replace an existing ``path``. When False the file is moved into place only if
        ``path`` does not exist (checked atomically where the file system has hard links).

    Returns
    -------
    Path
        The destination path.

    Raises
    ------
    FileExistsError
        ``replace=False`` and ``path`` exists; it is left as it is and nothing is kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        if replace:
            os.replace(tmp_path, path)
        else:
            _move_if_absent(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _move_if_absent(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if no file has it; ``tmp`` is gone afterwards."""
    exists = FileExistsError(f"{path} already exists; it was left as it is")
    try:
        os.link(tmp, path)  # atomic: fails when the name is taken
    except FileExistsError:
        raise exists from None
    except OSError as exc:  # no hard links here: check, then rename (a small race)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(path):
            raise exists from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write_with(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_with(path, lambda p: p.write_text(text, encoding="utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, paths and dataclasses to plain JSON values.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy / torch arrays and scalars
        return to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def save_dataframe_csv(path: str | os.PathLike, df: Any) -> Path:
    """Write a pandas DataFrame as CSV (no index), atomically."""
    return atomic_write_with(path, lambda p: df.to_csv(p, index=False))


def save_figure(path: str | os.PathLike, fig: Any, dpi: int = 110, *,
                replace: bool = True) -> Path:
    """Save a matplotlib figure atomically (format from the suffix) and close it.

    With ``replace=False`` an existing ``path`` is left as it is (FileExistsError).
    """
    suffix = Path(path).suffix.lstrip(".") or "png"
    try:
        return atomic_write_with(
            path, lambda p: fig.savefig(p, format=suffix, dpi=dpi, bbox_inches="tight"),
            replace=replace,
        )
    finally:
        if fig.canvas.manager is not None:  # a pyplot figure: release it
            import matplotlib.pyplot as plt

            plt.close(fig)
