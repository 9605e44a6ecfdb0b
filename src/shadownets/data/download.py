"""Downloads with checksums into a cache folder; a file already there is never replaced.

A download streams into a temporary file next to its destination (``.NAME.*.tmp``), is
checked (length promised by the server, then the checksum) and only then moved into place,
and only when the destination does not exist (a hard link, atomic where the file system has
them), so the cache never holds a partial or corrupt file and nobody's file is overwritten.

A file already at the destination is never replaced:

* one whose checksum matches is used as it is (no network);
* without a checksum to compare, it is trusted as it is;
* one whose checksum differs is the user's own: :func:`download` refuses it with a
  :class:`FileExistsError` saying so (nothing is fetched, the file is left byte for byte),
  and the built-in data sets (:mod:`shadownets.data.sources`) **use it as the user's own**
  with a one-line note (a warning on the ``shadownets.data`` logger, printed on stderr when
  logging is not configured). To get the published file, move the local one away.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from shadownets.io import atomic_write_with

__all__ = [
    "DownloadError",
    "ChecksumError",
    "default_cache_dir",
    "file_digest",
    "verify_file",
    "download",
    "download_first",
]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed: HTTP error, network error or a truncated transfer."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the published checksum."""


def default_cache_dir() -> Path:
    """Where data sets are cached.

    ``$SHADOWNETS_DATA`` if set, else ``$XDG_CACHE_HOME/shadownets`` if ``XDG_CACHE_HOME`` is
    set, else ``~/.cache/shadownets``. Empty variables count as unset.
    """
    if os.environ.get("SHADOWNETS_DATA"):
        return Path(os.environ["SHADOWNETS_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "shadownets"
    return Path.home() / ".cache" / "shadownets"


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest (``"md5"`` or ``"sha256"``) of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(sha256: str | None, md5: str | None) -> list[tuple[str, str]]:
    expected = []
    for algorithm, value, length in (("sha256", sha256, 64), ("md5", md5, 32)):
        if value is None:
            continue
        value = value.lower()
        if len(value) != length or any(ch not in "0123456789abcdef" for ch in value):
            raise ValueError(f"{algorithm}: expected {length} hex digits, got {value!r}")
        expected.append((algorithm, value))
    return expected


def verify_file(path: str | os.PathLike, *, sha256: str | None = None,
                md5: str | None = None) -> bool:
    """True when ``path`` exists and matches every checksum given (no checksum: exists)."""
    path = Path(path)
    if not path.is_file():
        return False
    return all(file_digest(path, a) == v for a, v in _expected(sha256, md5))


def _stream(url: str, tmp: Path, timeout: float,
            expected: list[tuple[str, str]]) -> None:
    digests = {a: hashlib.new(a) for a, _ in expected}
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            promised = int(length) if length and length.isdigit() else None
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                received += len(chunk)
                for d in digests.values():
                    d.update(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"url: {url} answered HTTP {exc.code} {exc.reason}") from exc
    except http.client.IncompleteRead as exc:
        raise DownloadError(
            f"url: {url} closed the connection early: got {received + len(exc.partial)} "
            f"bytes of {received + len(exc.partial) + (exc.expected or 0)} (truncated download)"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"url: fetching {url} failed: {exc}") from exc
    if promised is not None and received != promised:
        raise DownloadError(
            f"url: {url} sent {received} bytes but promised {promised} (truncated download)"
        )
    for algorithm, value in expected:
        got = digests[algorithm].hexdigest()
        if got != value:
            raise ChecksumError(
                f"url: {url} gave a file with {algorithm} {got}, expected {value}; "
                "the file was not kept"
            )


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None,
             md5: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` unless ``dest`` exists (it is never replaced).

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` address.
    dest : path-like
        Destination file; its folder is created.
    sha256, md5 : str, optional
        Published hex checksums; every one given must match, by the download and by a file
        already at ``dest``. With neither, an existing file is trusted as it is.
    timeout : float, default 60
        Socket timeout in seconds.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        HTTP error (e.g. 404), network failure or a truncated transfer.
    ChecksumError
        The file fetched does not match; nothing is written to ``dest``.
    FileExistsError
        ``dest`` exists and does not match the checksums; it is left as it is.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "file://")):
        raise ValueError(f"url: expected an http://, https:// or file:// address, got {url!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    expected = _expected(sha256, md5)
    dest = Path(dest)
    if os.path.lexists(dest):
        _check_existing(dest, sha256, md5)
        return dest  # a cache hit (or a file without a checksum to compare): kept as it is
    try:
        return atomic_write_with(dest, lambda tmp: _stream(url, tmp, float(timeout), expected),
                                 replace=False)
    except FileExistsError:  # the file appeared while downloading (another process)
        if not os.path.lexists(dest):
            raise  # e.g. a file in the way of dest's folder
        _check_existing(dest, sha256, md5)
        return dest


def _check_existing(dest: Path, sha256: str | None, md5: str | None) -> None:
    """Accept an existing ``dest`` with the right checksum; refuse any other (never replaced)."""
    if not dest.is_file():
        raise FileExistsError(f"dest: {dest} exists and is not a file; it was left as it is "
                              "(nothing was downloaded); give another destination")
    if not verify_file(dest, sha256=sha256, md5=md5):
        which = " and ".join(a for a, v in (("sha256", sha256), ("md5", md5)) if v)
        raise FileExistsError(
            f"dest: {dest} exists and does not match the published {which}; it was left as it "
            "is (nothing was downloaded); move it away to download the published file")


def download_first(urls: Sequence[str], dest: str | os.PathLike, *, sha256: str | None = None,
                   md5: str | None = None, timeout: float = 60.0) -> Path:
    """:func:`download` from the first of several mirrors that works.

    Raises
    ------
    DownloadError
        Every mirror failed; the message lists each failure.
    """
    if not urls:
        raise ValueError("urls: expected at least one address, got none")
    failures = []
    for url in urls:
        try:
            return download(url, dest, sha256=sha256, md5=md5, timeout=timeout)
        except DownloadError as exc:
            failures.append(str(exc))
    raise DownloadError(f"could not fetch {Path(dest).name} from any mirror: "
                        + "; ".join(failures))
