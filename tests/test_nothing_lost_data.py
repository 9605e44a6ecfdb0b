"""Issue 10, "Nothing lost": data files, checkpoints, theory and generate commands.

Every test snapshots the files that existed before a command and checks them byte for byte
after it; a refused command prints exactly one line on stderr, starting with ``error:``.
No test touches the network: mirrors are ``file://`` addresses or a fake ``download_first``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import shadownets.io as io_mod
import shadownets.theory.sweep as sweep_mod
from _cli import one_error_line, snapshot
from shadownets.cli import app
from shadownets.data import load_dataset, write_idx
from shadownets.data import sources as src
from shadownets.specs import build_model, load_state_dict

runner = CliRunner()

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NETS = '''
import torch.nn as nn

def net28():
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(2 * 14 * 14, 10))
    m.input_shape = (1, 28, 28)
    return m
'''
TINY_GRID = sweep_mod.SweepGrid(n=(300, 600, 1200), m=(100,), k=(4,), rho=(1.0,),
                                bias=("calibrated",), batch=8)


class Payload:
    """A small custom class: a checkpoint holding one must not be unpickled."""

    def __init__(self) -> None:
        self.value = 3






def write_mnist_like(folder: Path, n_train: int = 20, n_test: int = 10) -> list[Path]:
    """Small IDX files under the published .gz names (so their md5 differ from MNIST's)."""
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              (np.arange(n_train) % 10).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              (np.arange(n_test) % 10).astype(np.uint8))
    return [write_idx(folder / f"{stem}.gz", a) for stem, a in zip(STEMS, arrays, strict=True)]


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of small MNIST-like files with their own md5 as published ones."""
    paths = write_mnist_like(tmp_path / "mirror")
    monkeypatch.setattr(src, "MNIST_RESOURCES", tuple(
        src.Resource(p.name, (p.as_uri(),), hashlib.md5(p.read_bytes()).hexdigest())
        for p in paths))
    return paths


@pytest.fixture
def fetched(monkeypatch):
    """Record (instead of doing) every download the data sets ask for; each one fails."""
    calls: list[str] = []

    def fake(urls, dest, **kwargs):
        calls.append(Path(dest).name)
        raise src.DownloadError(f"could not fetch {Path(dest).name} from any mirror: "
                                f"url: fetching {urls[0]} failed: no network in tests")

    monkeypatch.setattr(src, "download_first", fake)
    return calls


def generate_argv(tmp_path: Path, data_dir: Path, out: Path, *extra: str) -> list[str]:
    nets = tmp_path / "nets.py"
    if not nets.exists():
        nets.write_text(NETS)
    return ["generate", "--model", f"{nets}:net28", "--layer", "1", "--data", "mnist",
            "--data-dir", str(data_dir), "--n", "2", "--out", str(out), *extra]


# --- case 1: the user's own .gz files are used, never replaced by a download ---------------

def test_own_gz_files_are_used_with_a_note_never_replaced(tmp_path, fetched, caplog):
    data = tmp_path / "data"
    write_mnist_like(data)  # md5 differ from the published MNIST files
    before = snapshot(data)
    with caplog.at_level(logging.WARNING, logger="shadownets.data"):
        res = runner.invoke(app, generate_argv(tmp_path, data, tmp_path / "grid.png"))
    assert res.exit_code == 0, res.output
    assert fetched == []  # no download was even tried
    assert snapshot(data) == before
    notes = [r.getMessage() for r in caplog.records if r.name == "shadownets.data"]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert notes[0].startswith("note: mnist: using your own t10k-images-idx3-ubyte.gz")
    assert "move them away to download the published files" in notes[0]


def test_own_file_note_is_one_line_on_stderr_without_logging_setup(tmp_path):
    """Outside pytest (no logging configured) the note is one line on stderr."""
    data = tmp_path / "data"
    write_mnist_like(data)
    code = ("from shadownets.data import load_dataset; "
            f"d = load_dataset('mnist', data_dir={str(data)!r}, download=False); "
            "print(len(d.y_test))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "10"
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("note: mnist: using your own"), res.stderr


# --- case 2: a folder missing one file names that file, network only for it ---------------

def test_missing_file_named_without_network(tmp_path, fetched):
    data = tmp_path / "data"
    write_mnist_like(data)[3].unlink()  # t10k-labels missing
    before = snapshot(data)
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", data_dir=data, download=False)
    message = str(info.value)
    assert f"{data} is missing t10k-labels-idx1-ubyte.gz; pass download=True (--download) to " \
        "fetch it" in message
    assert "train-images" not in message and "could not be fetched" not in message
    assert fetched == [] and snapshot(data) == before


def test_missing_file_cli_fetches_only_it_and_names_it(tmp_path, fetched, caplog):
    data = tmp_path / "data"
    write_mnist_like(data)[0].unlink()  # train-images missing
    before = snapshot(data)
    with caplog.at_level(logging.WARNING, logger="shadownets.data"):
        res = runner.invoke(app, generate_argv(tmp_path, data, tmp_path / "grid.png"))
    assert not caplog.records  # a refusal prints the error only, no note beside it
    assert res.exit_code == 2
    line = one_error_line(res)
    assert f"mnist: train-images-idx3-ubyte.gz is missing from {data}" in line
    assert fetched == ["train-images-idx3-ubyte.gz"]  # the present files were not fetched
    assert snapshot(data) == before and not (tmp_path / "grid.png").exists()


def test_missing_file_download_true_fetches_only_it(tmp_path, mirror):
    data = tmp_path / "data"
    data.mkdir()
    for p in mirror[:3]:  # the published copies of three files, the fourth missing
        (data / p.name).write_bytes(p.read_bytes())
    before = snapshot(data)
    d = load_dataset("mnist", data_dir=data, download=True, val_size=0)
    assert len(d.y_test) == 10
    after = snapshot(data)
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == [str(data / "t10k-labels-idx1-ubyte.gz")]
    assert sorted(p.name for p in data.iterdir()) == sorted(p.name for p in mirror)  # no .tmp


# --- case 3: a pickled object in a checkpoint is refused, named, with what to do -----------

def test_pickled_class_in_checkpoint_is_refused_clearly(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, evil)
    argv = generate_argv(tmp_path, tmp_path / "data", tmp_path / "g.png", "--weights", str(evil))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError) as info:
        load_state_dict(evil)
    message = str(info.value)
    assert f"{Payload.__module__}.Payload" in message
    assert "loading it would run code from the file" in message
    assert "torch.save(model.state_dict(), path)" in message and "safetensors" in message
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    line = one_error_line(res)
    assert "Payload" in line and "run code" in line and "weights_only" not in line
    assert snapshot(tmp_path) == before


# --- case 4: options that do not apply to the chosen mode are errors -----------------------

@pytest.mark.parametrize("argv, message", [
    (["recover", "--n", "400", "--m", "100", "--k", "4", "--degree", "5"],
     "--degree applies to --weights sparse only, got --weights gaussian"),
    (["recover", "--n", "400", "--m", "100", "--k", "4", "--weights", "gaussian",
      "--degree", "5"], "drop --degree or add --weights sparse"),
])
def test_options_of_another_mode_are_errors(argv, message):
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert message in one_error_line(res)


def test_generate_from_codes_with_switches_is_an_error(tmp_path):
    argv = generate_argv(tmp_path, tmp_path / "data", tmp_path / "g.png", "--from-codes",
                         "--unpool", "switches")
    before = snapshot(tmp_path)
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert "--unpool switches needs the switches of real inputs" in one_error_line(res)
    assert snapshot(tmp_path) == before


# --- case 5: sweep --out claims its folder before any work ---------------------------------

@pytest.fixture
def tiny_sweep(monkeypatch):
    monkeypatch.setattr(sweep_mod, "QUICK_GRID", TINY_GRID)
    ran = []
    real = sweep_mod.sweep_tables

    def counting(*args, **kwargs):
        ran.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "sweep_tables", counting)
    return ran


def sweep(out: Path, *flags: str):
    return runner.invoke(app, ["sweep", "--quick", "--out", str(out), "--json", *flags])


def test_sweep_refuses_a_folder_of_other_files(tmp_path, tiny_sweep):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    before = snapshot(out)
    for flags in ((), ("--resume",), ("--overwrite",)):
        res = sweep(out, *flags)
        assert res.exit_code == 2
        assert "holds no shadownets run" in one_error_line(res)
    assert tiny_sweep == [] and snapshot(out) == before


def test_sweep_refuses_a_file_as_out(tmp_path, tiny_sweep):
    out = tmp_path / "file.txt"
    out.write_text("mine")
    res = sweep(out)
    assert res.exit_code == 2 and "is a file, not a folder" in one_error_line(res)
    assert out.read_text() == "mine" and tiny_sweep == []


def test_sweep_finished_run_refused_resumed_or_overwritten(tmp_path, tiny_sweep, monkeypatch):
    out = tmp_path / "sweep"
    res = sweep(out)
    assert res.exit_code == 0, res.output
    record = json.loads((out / "run.json").read_text())
    assert record["kind"] == "sweep" and record["status"] == "finished"
    assert record["config"]["n"] == [300, 600, 1200]
    before = snapshot(out)

    res = sweep(out)  # no flag: refused
    assert res.exit_code == 2
    assert "holds a finished sweep run; use --resume" in one_error_line(res)
    assert snapshot(out) == before

    res = sweep(out, "--resume")  # identical and finished: left as it is, summary printed
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["slope"] == json.loads((out / "summary.json").read_text())[
        "slope"]
    assert snapshot(out) == before and tiny_sweep == [1]

    monkeypatch.setattr(sweep_mod, "QUICK_GRID", sweep_mod.SweepGrid(
        **{**TINY_GRID.__dict__, "batch": 9}))
    res = sweep(out, "--resume")  # other settings: refused, naming the setting
    assert res.exit_code == 2
    assert "other settings (batch: 8 → 9)" in one_error_line(res)
    assert snapshot(out) == before

    res = sweep(out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "run.json").read_text())["config"]["batch"] == 9
    assert tiny_sweep == [1, 1]


def _count_writes(monkeypatch) -> list[str]:
    names: list[str] = []
    real = io_mod.atomic_write_with

    def counting(path, writer, **kwargs):
        names.append(Path(path).name)
        return real(path, writer, **kwargs)

    monkeypatch.setattr(io_mod, "atomic_write_with", counting)
    return names


def test_sweep_killed_between_writes_resumes(tmp_path, tiny_sweep, monkeypatch):
    with monkeypatch.context() as mp:
        writes = _count_writes(mp)
        assert sweep(tmp_path / "count").exit_code == 0
    assert writes[0] == "run.json" and writes[-1] == "run.json" and len(writes) >= 5
    real = io_mod.atomic_write_with
    for step in range(len(writes)):  # killed at the write of writes[step]
        out = tmp_path / f"killed{step}"
        def dying(path, writer, _step=step, _calls=[], **kwargs):  # noqa: B006 (one per step)
            _calls.append(path)
            if len(_calls) > _step:
                raise KeyboardInterrupt
            return real(path, writer, **kwargs)

        with monkeypatch.context() as mp:
            mp.setattr(io_mod, "atomic_write_with", dying)
            res = sweep(out)
        assert res.exit_code == 130 and one_error_line(res) == "error: interrupted"
        assert not list(out.rglob("*.tmp"))
        if not (out / "run.json").exists():  # killed before any result was written: the
            assert snapshot(out) == {}  # fresh claim is undone, the folder left as it was
            assert sweep(out).exit_code == 0
            continue
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "running"  # never marked finished
        before = snapshot(out)
        res = sweep(out)  # an unfinished run is not silently replaced either
        assert res.exit_code == 2
        assert "unfinished sweep run; use --resume" in one_error_line(res)
        assert snapshot(out) == before
        res = sweep(out, "--resume")
        assert res.exit_code == 0, res.output
        assert json.loads((out / "run.json").read_text())["status"] == "finished"
        assert (out / "summary.json").is_file()


# --- case 6: generate --out over an existing file --------------------------------------------

def test_generate_refuses_an_existing_out_unless_overwrite(tmp_path):
    weights = tmp_path / "w.safetensors"
    (tmp_path / "nets.py").write_text(NETS.replace("28", "8").replace("14 * 14", "4 * 4"))
    from safetensors.torch import save_file

    save_file(build_model(f"{tmp_path / 'nets.py'}:net8").state_dict(), str(weights))
    out = tmp_path / "grid.png"
    out.write_bytes(b"my picture")
    argv = ["generate", "--model", f"{tmp_path / 'nets.py'}:net8", "--weights", str(weights),
            "--layer", "1", "--data", "digits", "--n", "2", "--out", str(out)]
    before = snapshot(tmp_path)
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert f"--out {out} exists; use --overwrite to replace it" in one_error_line(res)
    assert snapshot(tmp_path) == before
    folder = tmp_path / "pics"
    folder.mkdir()
    res = runner.invoke(app, [*argv[:-1], str(folder)])
    assert res.exit_code == 2 and "is a folder" in one_error_line(res)
    res = runner.invoke(app, [*argv[:-1], str(tmp_path / "grid.xyz")])
    assert res.exit_code == 2 and "expected an image file ending in" in one_error_line(res)
    assert snapshot(tmp_path) == before
    res = runner.invoke(app, [*argv, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_figure_write_never_replaces_a_file_that_appeared(tmp_path):
    """replace=False: a file created while the figure was drawn is left as it is."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out = tmp_path / "g.png"
    fig = Figure()
    real = fig.savefig

    def racing(path, **kwargs):
        real(path, **kwargs)
        out.write_bytes(b"theirs")

    fig.savefig = racing
    with pytest.raises(FileExistsError, match="already exists; it was left as it is"):
        io_mod.save_figure(out, fig, replace=False)
    assert out.read_bytes() == b"theirs" and [p.name for p in tmp_path.iterdir()] == ["g.png"]
