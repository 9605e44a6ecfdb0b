"""Run folders: nothing finished is silently replaced, resume only with the same settings.

Every command that writes into ``--out`` claims the folder first, **before any work**, with
:func:`claim`. The folder then holds ``run.json``:

* ``kind`` — which command made it (``train``, ``compare``, ``sweep``, ``audit``, ``report``);
* ``config`` — the full resolved settings (plain JSON);
* ``code`` — the package version plus a hash of its source (:func:`code_version`);
* ``fingerprint`` — a hash of kind, config and code (:func:`fingerprint`), and, once the data
  are loaded, ``data`` — their identity (:meth:`Claim.check_data`);
* ``status`` — ``"running"`` until :meth:`Claim.finish` marks it ``"finished"``.

The rules (:func:`claim`):

* a path that is a file, or a folder that cannot be written, is refused;
* a new or empty folder is taken;
* a folder holding a run is refused unless ``resume`` (continue the **same** run: same kind,
  settings and code — otherwise the first differing setting is named) or ``overwrite``
  (replace it: the previous run's files are removed first);
* a non-empty folder that holds no run (someone's own files) is always refused.

Each refusal is one :class:`OutDirError` line saying how to proceed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadownets import io as _io
from shadownets.io import atomic_write_text, to_jsonable

__all__ = ["RUN_FILE", "OutDirError", "Claim", "claim", "check_out", "code_version",
           "fingerprint",
           "first_difference", "clean_stale_tmp", "read_run"]

#: The record of a run folder.
RUN_FILE = "run.json"


class OutDirError(ValueError):
    """The output folder cannot be used as asked (one line, with what to do instead)."""


def code_version() -> str:
    """The shadownets version plus a hash of its source files."""
    import shadownets

    root = Path(shadownets.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{shadownets.__version__}+{digest.hexdigest()[:12]}"


def _canonical(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def fingerprint(kind: str, config: dict[str, Any], code: str) -> str:
    """A hash of what determines a run's results: its kind, settings and code."""
    return hashlib.sha256(_canonical({"kind": kind, "config": config,
                                      "code": code}).encode()).hexdigest()[:16]


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key in sorted(obj):
            out.update(_flat(obj[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: obj}


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting (dotted name) whose value differs, as ``"name: old → new"``."""
    a, b = _flat(to_jsonable(old)), _flat(to_jsonable(new))
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            return f"{key}: {a.get(key, '<unset>')!r} → {b.get(key, '<unset>')!r}"
    return None


def read_run(out: str | os.PathLike) -> dict[str, Any] | None:
    """The ``run.json`` record of a folder (None when it has none)."""
    path = Path(out) / RUN_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutDirError(f"{path} is unreadable ({exc}); move the folder away or use "
                          "--overwrite") from None
    if not isinstance(record, dict) or "kind" not in record:
        raise OutDirError(f"{path} is not a shadownets run record; move the folder away or "
                          "use --overwrite")
    return record


def clean_stale_tmp(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a crashed atomic write left directly in ``out``
    (``.NAME.XXXXXXXX.tmp``, as :func:`shadownets.io.atomic_write_with` names them; not in
    subfolders, and no other file); return them."""
    import re

    pattern = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
    removed = []
    for path in Path(out).iterdir():
        if path.is_file() and not path.is_symlink() and pattern.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@dataclass
class Claim:
    """A claimed run folder (see :func:`claim`)."""

    out: Path
    kind: str
    config: dict[str, Any]
    code: str
    resumed: bool  # an earlier run of the same settings is being continued
    record: dict[str, Any]
    created: bool = False  # the folder did not exist before the claim
    backup: Path | None = None  # the replaced run (--overwrite), until this run ends

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abandon()

    def abandon(self) -> None:
        """After a failure: a run that replaced another (``overwrite``) is discarded and the
        replaced run put back; a fresh claim that wrote nothing but ``run.json`` is undone (the
        folder is left as it was found); otherwise the run stays, marked unfinished."""
        if self.backup is not None:
            shutil.rmtree(self.out, ignore_errors=True)
            os.replace(self.backup, self.out)
            self.backup = None
            return
        if self.resumed or not (self.out / RUN_FILE).is_file():
            return
        others = [p for p in self.out.iterdir() if p.name != RUN_FILE]
        if others:
            return
        (self.out / RUN_FILE).unlink()
        if self.created:
            try:
                self.out.rmdir()
            except OSError:
                pass

    def _write(self, *, first: bool = False) -> None:
        text = json.dumps(to_jsonable(self.record), indent=2, allow_nan=False) + "\n"
        if not first:
            atomic_write_text(self.out / RUN_FILE, text)
            return
        try:  # the claim itself: fails if another process claimed the folder meanwhile
            _io.atomic_write_with(self.out / RUN_FILE,
                                  lambda p: p.write_text(text, encoding="utf-8"), replace=False)
        except FileExistsError:
            raise OutDirError(f"--out {self.out} was claimed by another run just now; use "
                              "another folder") from None

    def check_data(self, identity: dict[str, Any], *, partial: bool = False) -> None:
        """Record the data's identity; on resume refuse data other than the first run's
        (``run.json`` is then left exactly as it was). ``partial``: only the keys both
        identities have must agree (a comparison may add data sets), and the record keeps
        the union."""
        old = self.record.get("data")
        new = to_jsonable(identity)
        if partial and old is not None:
            shared = set(old) & set(new)
            old_c, new_c = {k: old[k] for k in shared}, {k: new[k] for k in shared}
            identity = {**old, **new}
        else:
            old_c, new_c = old, new
        if self.resumed and old is not None and old_c != new_c:
            diff = first_difference(old_c, new_c)
            raise OutDirError(f"--resume: {self.out} was made from other data ({diff}); use "
                              f"the same data, --overwrite, or another folder")
        if self.resumed and old is not None and old == to_jsonable(identity) and \
                self.record.get("status") == "finished":
            return  # resuming a finished run with the same data: its record stays as it is
        self.record["data"] = to_jsonable(identity)
        self.record["status"] = "running"
        self._write()

    def finish(self, **extra: Any) -> None:
        """Mark the run finished (with ``extra`` fields, e.g. a summary)."""
        self.end("finished", **extra)

    def end(self, status: str, **extra: Any) -> None:
        """Record how the run ended: ``"finished"``, or e.g. ``"diverged"`` / ``"failed"``
        (with ``extra`` fields: a reason, a summary)."""
        self.record.update(status=status, finished=time.time(), **to_jsonable(extra))
        self._write()
        if self.backup is not None:  # the replaced run is gone for good only now
            shutil.rmtree(self.backup, ignore_errors=True)
            self.backup = None


def _describe(record: dict[str, Any]) -> str:
    status = record.get("status", "unknown")
    return ("a finished" if status == "finished" else "an unfinished") + f" {record['kind']} run"


def check_out(out: str | os.PathLike, *, kind: str, config: dict[str, Any],
              resume: bool = False, overwrite: bool = False, code: str | None = None,
              same_code: bool = True, resumable: bool = True) -> dict[str, Any] | None:
    """The checks of :func:`claim` alone: nothing is written. Returns the folder's existing
    run record when it will be resumed (or replaced), None for a fresh folder."""
    if resume and overwrite:
        raise OutDirError("give at most one of --resume and --overwrite")
    if resume and not resumable:
        raise OutDirError(f"a {kind} run cannot be resumed; use --overwrite or another folder")
    out = Path(out)
    code = code if code is not None else code_version()
    config = to_jsonable(config)
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {out} is a file, not a folder; give a folder")
    existing = read_run(out) if out.is_dir() else None
    if out.is_dir() and existing is None and any(out.iterdir()):
        raise OutDirError(f"--out {out} is not empty and holds no shadownets run; give a new or "
                          "empty folder (nothing in it was touched)")
    if existing is not None and overwrite and existing["kind"] != kind:
        raise OutDirError(f"--overwrite: {out} holds {_describe(existing)}, not a {kind} run; "
                          "--overwrite replaces only a run of the same kind; use another folder")
    if existing is not None and not overwrite:
        what = _describe(existing)
        if not resume:
            how = "--resume to continue the same run, " if resumable else ""
            raise OutDirError(f"--out {out} holds {what}; use {how}--overwrite to replace it, "
                              "or another folder")
        if existing["kind"] != kind:
            raise OutDirError(f"--resume: {out} holds {what}, not a {kind} run; use another "
                              "folder")
        diff = first_difference(existing.get("config", {}), config)
        if diff is not None:
            raise OutDirError(f"--resume: {out} was made with other settings ({diff}); use "
                              "the same settings, --overwrite, or another folder")
        if same_code and existing.get("code") != code:
            raise OutDirError(f"--resume: {out} was made by shadownets {existing.get('code')}, "
                              f"this is {code}; finish it with that version, --overwrite, or "
                              "another folder")
    parent = out if out.is_dir() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutDirError(f"--out {out} cannot be written (no write permission on {parent})")
    return existing


def claim(out: str | os.PathLike, *, kind: str, config: dict[str, Any], resume: bool = False,
          overwrite: bool = False, code: str | None = None,
          same_code: bool = True, resumable: bool = True) -> Claim:
    """Take ``out`` for a run of ``kind`` with ``config``, before any work is done.

    Parameters
    ----------
    out : path-like
        The output folder.
    kind : str
        What writes it (``"train"``, ``"compare"``, ...).
    config : dict
        The full resolved settings (JSON-able). Resume requires them equal.
    resume : bool
        Continue the run already in ``out`` (same kind, settings and code); a new or empty
        folder is simply started.
    overwrite : bool
        Replace the run in ``out``: its files are removed first. Never removes a folder that
        holds no run.
    code : str, optional
        Code version (default :func:`code_version`).
    same_code : bool
        Whether resume requires the same code version (default True).
    resumable : bool
        Whether this kind of run can be continued (the refusal then offers ``--resume``).

    Use it as a context manager: if the work fails, a fresh claim that wrote nothing else is
    undone, so a failed command leaves the folder as it found it.

    Raises
    ------
    OutDirError
        One line saying what is in the way and how to proceed.
    """
    out = Path(out)
    code = code if code is not None else code_version()
    config = to_jsonable(config)
    existing = check_out(out, kind=kind, config=config, resume=resume, overwrite=overwrite,
                         code=code, same_code=same_code, resumable=resumable)
    backup = None
    if existing is not None and overwrite:  # moved aside: restored if the new run fails,
        backup = _set_aside(out)            # removed once it ends
        existing = None
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutDirError(f"--out {out} cannot be written ({exc.strerror or exc})") from None
    clean_stale_tmp(out)
    resumed = existing is not None
    record = dict(existing) if resumed else {
        "kind": kind, "config": config, "code": code,
        "fingerprint": fingerprint(kind, config, code), "created": time.time()}
    c = Claim(out, kind, config, code, resumed, record, created, backup)
    if not resumed:  # a fresh run reserves the folder at once; a resumed run's record is
        record["status"] = "running"  # updated only once its data are accepted (check_data)
        c._write(first=True)
    return c


def _set_aside(out: Path) -> Path:
    """Move a run folder to a hidden sibling (``.NAME.replaced-PID``); return its path."""
    backup = out.parent / f".{out.name}.replaced-{os.getpid()}-{int(time.time())}"
    try:
        os.replace(out, backup)
    except OSError as exc:
        raise OutDirError(f"--overwrite: cannot move the old run in {out} aside "
                          f"({exc.strerror or exc})") from None
    return backup
