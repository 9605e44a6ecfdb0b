"""Tests for shadownets.data.download against a local http.server (no internet)."""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shadownets.data.download import (
    ChecksumError,
    DownloadError,
    default_cache_dir,
    download,
    download_first,
    file_digest,
    verify_file,
)

PAYLOAD = bytes(range(256)) * 40  # 10 240 bytes, several reads of any buffer size
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """Serves routes {path: (status, body, declared length)} on 127.0.0.1, counts hits."""

    def __init__(self, routes: dict[str, tuple[int, bytes, int]]) -> None:
        self.routes, self.hits = routes, Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits[self.path] += 1
                status, body, length = outer.routes.get(self.path, (404, b"no", 2))
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)  # fewer bytes than declared = truncated transfer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,),
                                       daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = _Server({
        "/ok.bin": (200, PAYLOAD, len(PAYLOAD)),
        "/short.bin": (200, PAYLOAD[:1000], len(PAYLOAD)),
    })
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_success_writes_verified_file(server, tmp_path):
    dest = download(server.url("/ok.bin"), tmp_path / "c" / "ok.bin", md5=MD5, sha256=SHA)
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path / "c") == ["ok.bin"]  # no temporary file left behind


def test_cache_hit_does_not_contact_server(server, tmp_path):
    dest = tmp_path / "ok.bin"
    download(server.url("/ok.bin"), dest, sha256=SHA)
    download(server.url("/ok.bin"), dest, sha256=SHA)
    assert server.hits["/ok.bin"] == 1


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=r"sha256 .* expected 0{64}.*not kept"):
        download(server.url("/ok.bin"), tmp_path / "ok.bin", sha256=wrong)
    assert _leftovers(tmp_path) == []


def test_file_with_other_checksum_is_never_replaced(server, tmp_path):
    dest = tmp_path / "ok.bin"
    dest.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"ok.bin exists and does not match the published "
                                              r"md5; it was left as it is .*move it away"):
        download(server.url("/ok.bin"), dest, md5=MD5)
    assert server.hits["/ok.bin"] == 0  # refused before the network
    assert dest.read_bytes() == b"mine" and _leftovers(tmp_path) == ["ok.bin"]


def test_file_appearing_during_download_is_not_replaced(server, tmp_path, monkeypatch):
    """The download is moved into place only when the destination does not exist."""
    dl = importlib.import_module("shadownets.data.download")  # the package shadows its name

    dest, real = tmp_path / "ok.bin", dl._stream

    def racing(url, tmp, timeout, expected, content=b"theirs"):
        real(url, tmp, timeout, expected)
        dest.write_bytes(content)  # another process finishes first

    monkeypatch.setattr(dl, "_stream", racing)
    with pytest.raises(FileExistsError, match="does not match"):
        download(server.url("/ok.bin"), dest, md5=MD5)
    assert dest.read_bytes() == b"theirs" and _leftovers(tmp_path) == ["ok.bin"]
    dest.unlink()  # the published file appearing meanwhile is simply used
    monkeypatch.setattr(dl, "_stream", lambda *a: racing(*a, content=PAYLOAD))
    assert download(server.url("/ok.bin"), dest, md5=MD5) == dest
    assert dest.read_bytes() == PAYLOAD and _leftovers(tmp_path) == ["ok.bin"]


@pytest.mark.parametrize("after", [0, 1, 5])
def test_interrupted_download_leaves_nothing(server, tmp_path, monkeypatch, after):
    """Killed after ``after`` chunks were written: no partial file, no temporary file."""
    dl = importlib.import_module("shadownets.data.download")  # the package shadows its name

    monkeypatch.setattr(dl, "_CHUNK", 1000)
    real_open, written = open, []

    class Dying:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

        def write(self, chunk):
            if len(written) >= after:
                raise KeyboardInterrupt
            written.append(len(chunk))
            return self.fh.write(chunk)

    def dying_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        return Dying(fh) if "w" in mode and str(path).endswith(".tmp") else fh

    monkeypatch.setattr(dl, "open", dying_open, raising=False)
    with pytest.raises(KeyboardInterrupt):
        download(server.url("/ok.bin"), tmp_path / "ok.bin", md5=MD5)
    assert len(written) == after and _leftovers(tmp_path) == []


def test_checksum_mismatch_keeps_other_files(server, tmp_path):
    (tmp_path / "other.bin").write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download(server.url("/ok.bin"), tmp_path / "ok.bin", md5="f" * 32)
    assert _leftovers(tmp_path) == ["other.bin"]  # untouched, no partial file


def test_truncated_transfer_is_an_error(server, tmp_path):
    with pytest.raises(DownloadError, match="truncated download"):
        download(server.url("/short.bin"), tmp_path / "short.bin")
    assert _leftovers(tmp_path) == []


def test_missing_file_404(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/absent.bin"), tmp_path / "absent.bin", md5=MD5)
    assert _leftovers(tmp_path) == []


def test_download_first_falls_back_to_next_mirror(server, tmp_path):
    urls = [server.url("/absent.bin"), server.url("/ok.bin")]
    dest = download_first(urls, tmp_path / "ok.bin", md5=MD5)
    assert dest.read_bytes() == PAYLOAD
    assert server.hits["/absent.bin"] == 1


def test_download_first_all_mirrors_fail_lists_each(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 404.*HTTP 404"):
        download_first([server.url("/a"), server.url("/b")], tmp_path / "x")


def test_file_url_and_digests(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = download(src.as_uri(), tmp_path / "out" / "dst.bin", md5=MD5)
    assert file_digest(dest, "md5") == MD5 and file_digest(dest, "sha256") == SHA
    assert verify_file(dest, md5=MD5) and not verify_file(tmp_path / "none", md5=MD5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "ftp://x/y"}, "url: expected an http"),
        ({"md5": "abc"}, "md5: expected 32 hex digits"),
        ({"sha256": "z" * 64}, "sha256: expected 64 hex digits"),
        ({"timeout": 0}, "timeout: expected a positive"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = {"url": "http://127.0.0.1:9/x", **kwargs}
    with pytest.raises(ValueError, match=match):
        download(args.pop("url"), tmp_path / "x", **args)


def test_download_first_needs_urls(tmp_path):
    with pytest.raises(ValueError, match="urls: expected at least one"):
        download_first([], tmp_path / "x")


def test_default_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SHADOWNETS_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.setenv("SHADOWNETS_DATA", "")
    assert default_cache_dir() == tmp_path / "b" / "shadownets"
    monkeypatch.delenv("SHADOWNETS_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "shadownets"


def test_existing_file_without_checksum_is_trusted(server, tmp_path):
    dest = tmp_path / "ok.bin"
    dest.write_bytes(b"mine")
    download(server.url("/ok.bin"), dest)
    assert dest.read_bytes() == b"mine" and server.hits["/ok.bin"] == 0
