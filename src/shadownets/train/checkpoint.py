"""Checkpoints of training runs: safetensors only, committed one epoch at a time, never unpickled.

Layout. A run folder keeps one folder per committed epoch and a pointer to the current one::

    run/
      current -> epoch-000005            the commit pointer: a relative symbolic link
      epoch-000005/                      all files of one epoch, never changed once committed
        checkpoint.safetensors           weights, optimizer tensors, RNG states, JSON state
        model.safetensors                the weights alone, with the model spec
        state.json                       a readable copy of the JSON state
        metrics.csv, summary.json, ...   files the caller adds (fit: metrics; at the end summary)
        manifest.json                    format, epoch and the sha256 of every file above
      checkpoint.safetensors -> current/checkpoint.safetensors   static links, so the usual
      model.safetensors -> current/model.safetensors              paths always show the
      state.json -> current/state.json                            committed epoch
      ...

``checkpoint.safetensors`` holds everything resume needs: model weights (``model.*``),
optimizer tensors (``optim.<param index>.<name>``), RNG states (``rng.<name>``) and, in the
safetensors metadata under ``"shadownets"``, a JSON state (format, model spec, training config,
epoch, optimizer param groups, metric history). ``model.safetensors`` serves
``--model zoo:NAME --weights run/model.safetensors`` and ``--model zoo:RUN_FOLDER``.

Commit protocol (:func:`save_checkpoint`): (1) every file is written (and fsynced) into a
fresh staging folder ``.epoch-000005.tmp/``, ``manifest.json`` last; (2) the staging folder is
renamed to ``epoch-000005/``; (3) top-level links for new file names are added (they dangle
until the commit); (4) a new link ``current`` replaces the old one with :func:`os.replace` —
**this is the commit point**; (5) the previous epoch folder is removed. A crash at any step
leaves ``current`` at the old epoch (before 4) or the new one (from 4 on), never a mix.
Leftovers of an interrupted commit (staging folders, uncommitted epoch folders, link
temporaries) are removed by :func:`clean_stale` at the next start and before every commit.

Readers (:func:`load_checkpoint`, :func:`load_run_model`, :func:`read_run_file`, resume) follow
``current`` once, read only files its manifest names, and check each against the manifest's
sha256. Each safetensors file also carries, in its metadata, a hash of its JSON state and
tensors (sorted names, dtypes, shapes, bytes), checked on every load, so a file copied out of
its run folder is checked too; a mismatch is a ``ValueError`` naming the file, never a silent
resume. Folders written before this layout (plain files, format 1, no hashes) are still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shadownets.io import atomic_write_with, to_jsonable
from shadownets.train.models import ZooNet, create_model

__all__ = [
    "FORMAT",
    "Checkpoint",
    "model_spec",
    "save_checkpoint",
    "load_checkpoint",
    "save_weights",
    "load_run_model",
    "has_checkpoint",
    "read_run_file",
    "committed_dir",
    "clean_stale",
    "content_hash",
    "optimizer_tensors",
    "load_optimizer_tensors",
]

#: Format tag stored in every checkpoint's JSON state (format 2: with a content hash).
FORMAT = "shadownets-train-checkpoint/2"
_LEGACY_FORMATS = ("shadownets-train-checkpoint/1",)  # read, without a hash to check
MANIFEST_FORMAT = "shadownets-run-epoch/1"
CHECKPOINT_FILE = "checkpoint.safetensors"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
CURRENT = "current"
_META_KEY = "shadownets"
_HASH_KEY = "shadownets_sha256"
_EPOCH_PREFIX = "epoch-"
_EPOCH_DIR = re.compile(r"epoch-\d{6,}(-\d+)?")  # the names _epoch_name gives
_STAGE_DIR = re.compile(r"\.epoch-\d{6,}(-\d+)?\.tmp")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model_state : dict of str to Tensor
        The model's ``state_dict``.
    optim_tensors : dict of str to Tensor
        Optimizer tensors keyed ``"<param index>.<name>"`` (see :func:`optimizer_tensors`).
    rng : dict of str to Tensor
        RNG states (uint8 tensors) keyed by name.
    state : dict
        The JSON state (format, model spec, config, epoch, param groups, history).
    """

    model_state: dict[str, torch.Tensor]
    optim_tensors: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    state: dict[str, Any]


def model_spec(model: nn.Module) -> dict[str, Any]:
    """What rebuilds a zoo model: ``{"name", "kwargs", "input_shape", "num_classes"}``."""
    if not isinstance(model, ZooNet):
        raise ValueError(f"model must be a zoo model (ZooNet); got {type(model).__name__}")
    return {"name": model.zoo_name, "kwargs": dict(model.zoo_kwargs),
            "input_shape": list(model.input_shape), "num_classes": model.num_classes}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor],
                                                                  list[dict[str, Any]]]:
    """Split an optimizer's state into tensors (for safetensors) and JSON param groups.

    Returns
    -------
    tensors : dict of str to Tensor
        ``"<param index>.<name>"`` → state tensor (non-tensor scalars become 0-d float64).
    groups : list of dict
        ``optimizer.state_dict()["param_groups"]`` as plain JSON values.
    """
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value), dtype=torch.float64)
            tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous().clone()
    groups = json.loads(json.dumps(sd["param_groups"]))
    return tensors, groups


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           groups: list[dict[str, Any]]) -> None:
    """Inverse of :func:`optimizer_tensors`: load the state into ``optimizer`` in place."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    # JSON turned tuples (Adam's betas) into lists; give them back as tuples.
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v)
               for k, v in group.items()} for group in groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------- content hashes


def content_hash(tensors: dict[str, torch.Tensor], meta_text: str) -> str:
    """sha256 (hex) of a safetensors file's content: its JSON state text, then each tensor's
    name, dtype, shape and bytes, in sorted name order."""
    digest = hashlib.sha256()
    digest.update(meta_text.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safetensors_writer(tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> Callable[[Path], None]:
    """A writer of one safetensors file with ``meta`` and its content hash in the metadata."""
    text = json.dumps(to_jsonable(meta), allow_nan=False)
    metadata = {_META_KEY: text, _HASH_KEY: content_hash(tensors, text)}

    def write(path: Path) -> None:
        from safetensors.torch import save_file

        save_file(tensors, str(path), metadata=metadata)

    return write


def _parse(data: bytes, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON state of a shadownets safetensors file given as bytes (checked)."""
    from safetensors.torch import load

    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + size].decode("utf-8"))
        meta = header.get("__metadata__") or {}
        tensors = load(data)
    except Exception as exc:  # safetensors' own error type, JSON, Unicode, ...
        raise ValueError(f"{path} is corrupt or not a safetensors file "
                         f"({type(exc).__name__}: {exc}); restore it or start the run "
                         f"again") from None
    if _META_KEY not in meta:
        raise ValueError(f"{path} is not a shadownets checkpoint (no {_META_KEY!r} metadata)")
    try:
        state = json.loads(meta[_META_KEY])
    except ValueError:
        raise ValueError(f"{path} is corrupt: its {_META_KEY!r} metadata is not JSON; restore "
                         "it or start the run again") from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if _HASH_KEY in meta and meta[_HASH_KEY] != content_hash(tensors, meta[_META_KEY]):
        raise ValueError(f"{path} is corrupt: its content does not match the hash stored in "
                         "it; restore it or start the run again")
    if fmt in _LEGACY_FORMATS:
        return tensors, state
    if fmt != FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {fmt!r}; expected {FORMAT!r}")
    if _HASH_KEY not in meta:
        raise ValueError(f"{path} is corrupt: it has no content hash ({_HASH_KEY!r} metadata); "
                         "restore it or start the run again")
    return tensors, state


# --------------------------------------------------------------------------- one file


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def _weights(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    return _cpu(model.state_dict()), {"format": FORMAT, "model": model_spec(model)}


def save_weights(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model``'s weights with its spec (and a content hash) in the metadata, atomically."""
    tensors, meta = _weights(model)
    return atomic_write_with(Path(path), _safetensors_writer(tensors, meta))


# --------------------------------------------------------------------------- the run folder
# Every change to a run folder goes through the four steps below (tests interrupt them).


def _put(path: Path, write: Callable[[Path], None]) -> None:
    """Write one file of a staging folder and flush it to disk."""
    write(path)
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(path, 0o666 & ~_umask())  # some writers make 0600; give the usual mode


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _rename(src: Path, dst: Path) -> None:
    """Rename a folder (atomic within one file system)."""
    os.rename(src, dst)
    _fsync_dir(dst.parent)


def _point(link: Path, target: str) -> None:
    """Make ``link`` a symbolic link to ``target``, atomically replacing what was there."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _remove(path: Path) -> None:
    """Remove a folder tree or a file/link."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def committed_dir(run_dir: str | os.PathLike) -> Path | None:
    """The epoch folder ``run_dir/current`` points at (None when nothing is committed)."""
    link = Path(run_dir) / CURRENT
    if not link.is_symlink():
        return None
    folder = link.parent / os.readlink(link)
    return folder if folder.is_dir() else None


def clean_stale(run_dir: str | os.PathLike) -> list[Path]:
    """Remove what an interrupted commit left in ``run_dir``; return the removed paths.

    That is: staging folders (``.epoch-*.tmp``), epoch folders ``current`` does not point at,
    and link temporaries (``.<name>.<pid>.tmp``). The committed epoch is never touched.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    current = committed_dir(run_dir)
    if current is None and (run_dir / CURRENT).is_symlink():
        return []  # ``current`` dangles: touch nothing, the reader reports it
    removed = []
    for child in run_dir.iterdir():
        stale_stage = _STAGE_DIR.fullmatch(child.name) is not None
        stale_epoch = (_EPOCH_DIR.fullmatch(child.name) is not None and child.is_dir()
                       and not child.is_symlink()
                       and (current is None or child.name != current.name))
        stale_link = child.is_symlink() and child.name.startswith(".") \
            and child.name.endswith(".tmp")
        if stale_stage or stale_epoch or stale_link:
            _remove(child)
            removed.append(child)
    return removed


def _epoch_name(run_dir: Path, state: dict[str, Any]) -> str:
    epoch = state.get("epoch")
    base = f"{_EPOCH_PREFIX}{epoch if isinstance(epoch, int) and epoch >= 0 else 0:06d}"
    name, k = base, 0
    while (run_dir / name).exists() or (run_dir / f".{name}.tmp").exists():
        k += 1
        name = f"{base}-{k}"
    return name


def _bytes_writer(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def save_checkpoint(run_dir: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, state: dict[str, Any],
                    rng: dict[str, torch.Tensor] | None = None,
                    files: dict[str, bytes] | None = None) -> Path:
    """Commit one epoch: checkpoint, weights, readable state and ``files``, all at once.

    See the module docstring for the protocol; a crash at any point leaves the previous
    commit readable and complete.

    Parameters
    ----------
    run_dir : path-like
        The run folder (created if needed).
    model : ZooNet
        The bare model (not a DDP wrapper).
    optimizer : torch.optim.Optimizer or None
    state : dict
        JSON-able state (config, epoch, history, ...); format, model spec and param groups are
        added here.
    rng : dict of str to Tensor, optional
        RNG states to store.
    files : dict of str to bytes, optional
        Further files of the same epoch (plain names, e.g. ``"metrics.csv"``).

    Returns
    -------
    Path
        ``run_dir/checkpoint.safetensors`` (a link into the committed epoch folder).
    """
    run_dir = Path(run_dir)
    files = dict(files or {})
    bad = [n for n in files if n in (CHECKPOINT_FILE, WEIGHTS_FILE, STATE_FILE, MANIFEST_FILE,
                                     CURRENT) or Path(n).name != n or n.startswith(".")]
    if bad:
        raise ValueError(f"files: names {bad} are reserved or not plain file names")
    tensors = {f"model.{k}": v for k, v in _cpu(model.state_dict()).items()}
    groups: list[dict[str, Any]] = []
    if optimizer is not None:
        opt_t, groups = optimizer_tensors(optimizer)
        tensors.update({f"optim.{k}": v for k, v in opt_t.items()})
    for name, value in (rng or {}).items():
        tensors[f"rng.{name}"] = value.detach().cpu().contiguous().clone()
    full = {**state, "format": FORMAT, "model": model_spec(model), "param_groups": groups}
    readable = {k: v for k, v in full.items() if k != "param_groups"}
    weights, weights_meta = _weights(model)
    writers: dict[str, Callable[[Path], None]] = {
        CHECKPOINT_FILE: _safetensors_writer(tensors, full),
        WEIGHTS_FILE: _safetensors_writer(weights, weights_meta),
        STATE_FILE: _bytes_writer((json.dumps(to_jsonable(readable), indent=2,
                                              allow_nan=False) + "\n").encode()),
        **{name: _bytes_writer(data) for name, data in files.items()},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(run_dir)
    old = committed_dir(run_dir)
    name = _epoch_name(run_dir, state)
    stage = run_dir / f".{name}.tmp"
    try:
        stage.mkdir()
        hashes = {}
        for fname, write in writers.items():
            _put(stage / fname, write)
            hashes[fname] = _sha256((stage / fname).read_bytes())
        manifest = {"format": MANIFEST_FORMAT, "epoch": state.get("epoch"), "files": hashes}
        _put(stage / MANIFEST_FILE, _bytes_writer(
            (json.dumps(to_jsonable(manifest), indent=2, allow_nan=False) + "\n").encode()))
    except Exception:
        _remove(stage)
        raise
    _rename(stage, run_dir / name)
    for fname in writers:  # the usual paths: links through `current` (dangling until commit)
        link = run_dir / fname
        if not (link.is_symlink() and os.readlink(link) == f"{CURRENT}/{fname}"):
            _point(link, f"{CURRENT}/{fname}")
    _point(run_dir / CURRENT, name)  # the commit point
    if old is not None and old.name != name:
        _remove(old)
    return run_dir / CHECKPOINT_FILE


# --------------------------------------------------------------------------- readers


def _read_committed(run_dir: Path, name: str) -> tuple[bytes, Path]:
    """The bytes of file ``name`` of the committed epoch (checked against its manifest)."""
    for attempt in range(3):
        folder = committed_dir(run_dir)
        if folder is None:
            if (run_dir / CURRENT).is_symlink():
                raise FileNotFoundError(f"{run_dir / CURRENT} points at a missing folder; "
                                        "restore it or start the run again")
            legacy = run_dir / name
            if legacy.is_file() and not legacy.is_symlink():  # a folder of format 1
                return legacy.read_bytes(), legacy
            raise FileNotFoundError(f"checkpoint file not found: {legacy} (no committed "
                                    f"epoch in {run_dir})")
        try:
            manifest_bytes = (folder / MANIFEST_FILE).read_bytes()
            path = folder / name
            data = path.read_bytes() if path.is_file() else None
        except FileNotFoundError:
            if attempt < 2:  # a writer committed meanwhile and removed the folder: look again
                continue
            raise
        try:
            manifest = json.loads(manifest_bytes)
            expected = manifest["files"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{folder / MANIFEST_FILE} is corrupt; restore it or start the "
                             "run again") from None
        if name not in expected or data is None:
            raise FileNotFoundError(f"{run_dir / name}: the committed epoch "
                                    f"({folder.name}) has no such file")
        if _sha256(data) != expected[name]:
            raise ValueError(f"{path} is corrupt: its sha256 differs from the one recorded in "
                             f"{folder / MANIFEST_FILE}; restore it or start the run again")
        return data, path
    raise AssertionError("unreachable")


def _read(path: Path, default_name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if path.is_dir():
        data, where = _read_committed(path, default_name)
    elif path.is_file():
        data, where = path.read_bytes(), path
    else:
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    return _parse(data, where)


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a committed checkpoint (or one of format 1)."""
    run_dir = Path(run_dir)
    if committed_dir(run_dir) is not None or (run_dir / CURRENT).is_symlink():
        return True  # a dangling ``current`` too: loading it then says what is missing
    legacy = run_dir / CHECKPOINT_FILE
    return legacy.is_file() and not legacy.is_symlink()


def read_run_file(run_dir: str | os.PathLike, name: str) -> bytes:
    """The bytes of file ``name`` (e.g. ``"metrics.csv"``) of the committed epoch, checked."""
    return _read_committed(Path(run_dir), name)[0]


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint (a run folder or a ``checkpoint.safetensors``) without unpickling.

    Raises
    ------
    FileNotFoundError
        Nothing committed there.
    ValueError
        The file is not a shadownets checkpoint, or it is corrupt (hash mismatch).
    """
    tensors, state = _read(Path(path), CHECKPOINT_FILE)
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "optim": {}, "rng": {}}
    for key, value in tensors.items():
        prefix, rest = key.split(".", 1)
        parts[prefix][rest] = value
    return Checkpoint(parts["model"], parts["optim"], parts["rng"], state)


def load_run_model(path: str | os.PathLike) -> ZooNet:
    """Rebuild a trained zoo model from a run folder or one of its safetensors files.

    Parameters
    ----------
    path : path-like
        A run folder written by :func:`shadownets.train.fit` (its committed epoch is read),
        or a ``model.safetensors`` / ``checkpoint.safetensors`` file.

    Returns
    -------
    ZooNet
        The model with its trained weights, in eval mode.
    """
    tensors, state = _read(Path(path), WEIGHTS_FILE)
    spec = state["model"]
    model = create_model(spec["name"], tuple(spec["input_shape"]), int(spec["num_classes"]),
                         **spec["kwargs"])
    model_state = {k.split(".", 1)[1] if k.startswith("model.") else k: v
                   for k, v in tensors.items() if not k.startswith(("optim.", "rng."))}
    model.load_state_dict(model_state)
    return model.eval()
