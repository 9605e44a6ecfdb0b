"""Issue 10, training side: finished runs are never silently replaced, resumed only with the same
settings, corrupt checkpoints are refused, epochs are committed whole, absurd settings and
diverged runs are refused or recorded (never ranked as valid)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import shadownets.train.checkpoint as ckpt_mod
from _cli import refused, snapshot
from shadownets.cli import app
from shadownets.rundir import OutDirError
from shadownets.train.checkpoint import (
    load_checkpoint,
    load_run_model,
    read_run_file,
    save_checkpoint,
)
from shadownets.train.compare import CompareConfig, compare
from shadownets.train.config import TrainConfig
from shadownets.train.loop import TrainingDiverged, fit
from shadownets.train.models import create_model

runner = CliRunner()
TINY = ["--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16",
        "--model-kwargs", '{"widths": [16]}']
TRAIN = ["train", "--labels", "50", *TINY]
COMPARE = ["compare", "--budgets", "30", "--seeds", "0,1", "--methods", "plain,input-noise",
           "--reference", "input-noise", "--grid", '{"input-noise": [{"noise_std": 0.5}]}',
           "--steps-per-epoch", "2", "--batch-size", "16"]
SMALL = {"model_kwargs": {"widths": [16]}, "steps_per_epoch": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def digits():
    from shadownets.data import load_dataset

    return load_dataset("digits")






def _train(out: Path, *extra: str):
    result = runner.invoke(app, [*TRAIN, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


# ------------------------------------------------------------------ 1. no silent replacement


def test_train_over_a_finished_run_is_refused(tmp_path):
    out = tmp_path / "run"
    _train(out)
    before = snapshot(out)
    refused(runner.invoke(app, [*TRAIN, "--out", str(out)]), "holds a finished train run",
            "--overwrite")
    refused(runner.invoke(app, [*TRAIN, "--out", str(out), "--resume", "--overwrite"]),
            "at most one of --resume and --overwrite")
    assert snapshot(out) == before


def test_train_overwrite_replaces_the_run(tmp_path):
    out = tmp_path / "run"
    _train(out)
    old = json.loads((out / "run.json").read_text())
    _train(out, "--overwrite", "--seed", "3")
    new = json.loads((out / "run.json").read_text())
    assert new["config"]["seed"] == 3 and new["created"] >= old["created"]
    assert load_checkpoint(out).state["config"]["seed"] == 3
    assert len([p for p in out.iterdir() if p.name.startswith("epoch-")]) == 1


def test_overwrite_that_would_fail_keeps_the_old_run(tmp_path):
    out = tmp_path / "run"
    _train(out)
    before = snapshot(out)
    refused(runner.invoke(app, [*TRAIN, "--out", str(out), "--overwrite",
                                "--model-kwargs", '{"widths": "x"}']), "widths")
    assert snapshot(out) == before


def test_train_into_a_folder_of_user_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    refused(runner.invoke(app, [*TRAIN, "--out", str(tmp_path), "--overwrite"]),
            "holds no shadownets run")
    assert snapshot(tmp_path) == before


def test_compare_over_an_existing_comparison_is_refused(tmp_path):
    out = tmp_path / "cmp"
    assert runner.invoke(app, [*COMPARE, "--out", str(out), "--epochs", "1",
                               "--json"]).exit_code == 0
    before = snapshot(out)
    refused(runner.invoke(app, [*COMPARE, "--out", str(out), "--epochs", "1"]),
            "holds a finished compare run")
    assert snapshot(out) == before
    again = runner.invoke(app, [*COMPARE, "--out", str(out), "--epochs", "1", "--overwrite",
                                "--json"])
    assert again.exit_code == 0, again.output


def test_library_claims_and_resume_into_a_new_folder_starts_fresh(digits, tmp_path):
    cfg = TrainConfig(n_labels=50, epochs=1, **SMALL)
    fresh = fit(cfg, splits=digits, out_dir=tmp_path / "new", resume=True, progress=False)
    assert len(fresh.history) == 1  # what shadownets.report.nets.ensure_nets relies on
    before = snapshot(tmp_path / "new")
    with pytest.raises(OutDirError, match="holds a finished train run"):
        fit(cfg, splits=digits, out_dir=tmp_path / "new", progress=False)
    assert snapshot(tmp_path / "new") == before
    record = json.loads((tmp_path / "new" / "run.json").read_text())
    assert record["kind"] == "train" and record["status"] == "finished"
    assert record["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert record["data"]["name"] == "digits"


# ------------------------------------------------------------------ 2. resume: same settings


def test_compare_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "cmp"
    first = runner.invoke(app, [*COMPARE, "--out", str(out), "--epochs", "1", "--model", "mlp",
                                "--model-kwargs", '{"widths": [16]}', "--json"])
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    refused(runner.invoke(app, [*COMPARE, "--out", str(out), "--epochs", "5", "--model",
                                "lenet", "--lr", "0.01", "--resume"]),
            "--resume", "other settings (base.epochs: 1 → 5)")
    assert snapshot(out) == before


def test_train_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    _train(out)
    before = snapshot(out)
    refused(runner.invoke(app, [*TRAIN, "--out", str(out), "--resume", "--lr", "0.01"]),
            "other settings (lr: 0.001 → 0.01)")
    assert snapshot(out) == before


def test_compare_reuses_a_run_only_with_its_fingerprint(digits, tmp_path):
    base = TrainConfig(epochs=1, **SMALL)
    config = CompareConfig(datasets=("digits",), budgets=(30,), methods=("plain", "dropout"),
                           seeds=(0, 1), base=base, grids={"dropout": [{"dropout": 0.2}]},
                           reference="dropout")
    first = compare(config, out_dir=tmp_path, splits={"digits": digits})
    assert first.runs.fingerprint.nunique() == 4
    # adding a seed on resume is allowed: only the new runs are trained
    more = CompareConfig(**{**config.__dict__, "seeds": (0, 1, 2)})
    seen: list[dict] = []
    compare(more, out_dir=tmp_path, splits={"digits": digits}, resume=True,
            on_run=seen.append)
    assert sorted((r["method"], r["seed"]) for r in seen) == [("dropout", 2), ("plain", 2)]
    # a row whose fingerprint does not match its planned run is not reused
    runs = pd.read_csv(tmp_path / "runs.csv", dtype={"budget": str, "params": str,
                                                      "fingerprint": str})
    runs.loc[0, "fingerprint"] = "0" * 16
    runs.to_csv(tmp_path / "runs.csv", index=False)
    seen.clear()
    again = compare(more, out_dir=tmp_path, splits={"digits": digits}, resume=True,
                    on_run=seen.append)
    assert [(r["method"], r["seed"]) for r in seen] == [(runs.method[0], int(runs.seed[0]))]
    assert (again.runs.fingerprint != "0" * 16).all()
    # another base is refused before anything is touched
    before = snapshot(tmp_path)
    other = CompareConfig(**{**more.__dict__, "base": base.replace(lr=0.01)})
    with pytest.raises(OutDirError, match=r"other settings \(base.lr: 0.001 → 0.01\)"):
        compare(other, out_dir=tmp_path, splits={"digits": digits}, resume=True)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ 3. corrupt checkpoints


def _flip(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def _data_start(path: Path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_flipped_bit_in_checkpoint_refuses_resume(tmp_path):
    out = tmp_path / "run"
    _train(out, "--epochs", "3")
    real = Path(os.path.realpath(out / "checkpoint.safetensors"))
    _flip(real, _data_start(real) + 5, bit=3)
    before = snapshot(out)
    refused(runner.invoke(app, [*TRAIN, "--out", str(out), "--epochs", "3", "--resume"]),
            "checkpoint.safetensors is corrupt")
    assert snapshot(out) == before
    with pytest.raises(ValueError, match="model.safetensors is corrupt"):
        _flip(Path(os.path.realpath(out / "model.safetensors")), -3)
        load_run_model(out)


def test_no_single_bit_flip_of_a_loose_file_loads(tmp_path):
    """A checkpoint copied out of its run folder (no manifest) is checked by its own hash."""
    out = tmp_path / "run"
    _train(out)
    loose = tmp_path / "loose.safetensors"
    shutil.copyfile(out / "checkpoint.safetensors", loose)
    good = loose.read_bytes()
    load_checkpoint(loose)
    start = _data_start(loose)
    offsets = sorted({*range(0, 16), *range(16, start, max(1, start // 60)),
                      *range(start, len(good), max(1, (len(good) - start) // 60)),
                      len(good) - 1})
    for offset in offsets:
        loose.write_bytes(good)
        _flip(loose, offset, bit=offset % 8)
        with pytest.raises(ValueError, match=r"loose\.safetensors (is corrupt|is not a shad)"):
            load_checkpoint(loose)


# ------------------------------------------------------------------ 4. epochs committed whole


class Killed(BaseException):
    """Stands for kill -9: nothing of the writer's own clean-up runs."""


STEPS = ("_put", "_rename", "_point", "_remove")


def _kill_after(monkeypatch, n: int) -> dict[str, int]:
    """Make the n+1-th filesystem step of a commit raise Killed (n steps complete)."""
    count = {"done": 0}
    for name in STEPS:
        real = getattr(ckpt_mod, name)

        def step(*args, _real=real, **kwargs):
            if count["done"] >= n:
                raise Killed
            count["done"] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(ckpt_mod, name, step)
    return count


def _epoch_seen(out: Path) -> int:
    """The epoch a reader sees; asserts every file shows that same epoch."""
    ck = load_checkpoint(out)
    epoch = int(ck.state["epoch"])
    model = load_run_model(out)
    assert all(torch.equal(v, ck.model_state[k]) for k, v in model.state_dict().items())
    assert json.loads((out / "state.json").read_text())["epoch"] == epoch
    assert list(pd.read_csv(out / "metrics.csv").epoch) == list(range(1, epoch + 1))
    assert json.loads(read_run_file(out, "state.json"))["epoch"] == epoch
    assert (out / "summary.json").is_file() == (epoch == 3)
    return epoch


def test_kill_at_every_step_of_a_commit_leaves_one_epoch(digits, tmp_path, monkeypatch):
    cfg = TrainConfig(n_labels=50, epochs=3, method="dropout", **SMALL)
    straight = fit(cfg, splits=digits, out_dir=tmp_path / "straight", progress=False)
    base = tmp_path / "base"
    fit(cfg, splits=digits, out_dir=base, stop_after=2, progress=False)
    seen = set()
    for n in range(50):
        run = tmp_path / f"killed-{n}"
        shutil.copytree(base, run, symlinks=True)
        with monkeypatch.context() as m:
            _kill_after(m, n)
            try:
                fit(cfg, splits=digits, out_dir=run, resume=True, progress=False)
                finished = True
            except Killed:
                finished = False
        epoch = _epoch_seen(run)
        assert epoch in (2, 3)
        seen.add(epoch)
        resumed = fit(cfg, splits=digits, out_dir=run, resume=True, progress=False)
        assert _epoch_seen(run) == 3
        a, b = straight.model.state_dict(), resumed.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
        assert [p.name for p in run.iterdir() if p.name.startswith("epoch-")] == ["epoch-000003"]
        if finished:
            break
    assert finished and seen == {2, 3} and n >= 8


def test_failed_write_of_an_extra_file_keeps_the_previous_epoch(tmp_path):
    torch.manual_seed(0)
    model = create_model("mlp", (1, 4, 4), 3, widths=(8,))
    save_checkpoint(tmp_path, model, None, {"epoch": 1}, files={"metrics.csv": b"epoch\n1\n"})
    before = snapshot(tmp_path)

    def crash(path, write):
        if path.name == "metrics.csv":
            raise OSError("disk full")
        return real(path, write)

    real = ckpt_mod._put
    ckpt_mod._put = crash
    try:
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(tmp_path, model, None, {"epoch": 2},
                            files={"metrics.csv": b"epoch\n1\n2\n"})
    finally:
        ckpt_mod._put = real
    assert snapshot(tmp_path) == before
    assert read_run_file(tmp_path, "metrics.csv") == b"epoch\n1\n"


# ------------------------------------------------------------------ 5. absurd settings, divergence


@pytest.mark.parametrize("changes, match", [
    ({"lr": math.inf}, r"lr must be a positive float; got inf \(not finite\)"),
    ({"lr": math.nan}, r"lr must be a positive float; got nan"),
    ({"weight_decay": math.inf}, r"weight_decay must be a non-negative float; got inf"),
    ({"noise_std": math.inf}, r"noise_std must be a non-negative float; got inf"),
    ({"aug_weight": math.inf}, r"aug_weight must be a non-negative float; got inf"),
    ({"momentum": 5.0}, r"momentum must be a float in \[0, 1\); got 5.0"),
    ({"momentum": 1.0, "optimizer": "sgd"}, r"momentum must be a float in \[0, 1\)"),
    ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\); got 1.0"),
    ({"shadow_rho": 0.0}, r"shadow_rho must be a float in \(0, 1\]; got 0.0"),
    ({"shadow_alpha": math.inf}, r"shadow_alpha must be a positive float; got inf"),
    ({"epochs": 0}, r"epochs must be an int >= 1; got 0"),
])
def test_absurd_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


@pytest.mark.parametrize("args, fragment", [
    (["--lr", "inf"], "lr must be a positive float; got inf"),
    (["--weight-decay", "inf"], "weight_decay must be a non-negative float; got inf"),
    (["--method", "input-noise", "--noise-std", "inf"], "noise_std must be a non-negative"),
    (["--method", "shadow", "--aug-weight", "inf"], "aug_weight must be a non-negative"),
    (["--optimizer", "sgd", "--momentum", "5"], "momentum must be a float in [0, 1)"),
    (["--momentum", "0.5"], "--momentum does not apply to --optimizer adam"),
    (["--noise-std", "0.5"], "--noise-std does not apply to --method plain"),  # the default
    (["--method", "shadow", "--dropout", "0.3"], "--dropout does not apply to --method shadow"),
    (["--method", "input-noise", "--shadow-rho", "0.5"], "--shadow-rho does not apply"),
    (["--method", "dropout", "--aug-weight", "0.5", "--n-aug", "2"],
     "--aug-weight, --n-aug do not apply to --method dropout"),
])
def test_train_cli_refuses_absurd_or_unused_options(tmp_path, args, fragment):
    out = tmp_path / "run"
    _train(out)
    before = snapshot(out)
    refused(runner.invoke(app, [*TRAIN, "--out", str(out), "--resume", *args]), fragment)
    assert snapshot(out) == before
    refused(runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "new"), *args]), fragment)
    assert not (tmp_path / "new").exists()


def test_diverged_training_stops_with_one_line(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*TRAIN, "--out", str(out), "--epochs", "4", "--optimizer",
                                 "sgd", "--lr", "1e12"])
    line = refused(result, "training diverged: the loss became")
    epoch = int(line.split(" in epoch ")[1].split()[0])
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "diverged" and record["diverged"]["epoch"] == epoch
    assert not (out / "summary.json").exists()
    if epoch > 1:  # what was committed is the last finite epoch
        assert load_checkpoint(out).state["epoch"] == epoch - 1


def test_fit_raises_training_diverged(digits):
    cfg = TrainConfig(n_labels=50, epochs=4, optimizer="sgd", lr=1e12, **SMALL)
    with pytest.raises(TrainingDiverged, match=r"training diverged: the loss became (nan|inf)"):
        fit(cfg, splits=digits, progress=False)


def test_compare_records_diverged_candidates_and_never_selects_them(digits, tmp_path):
    blow_up = {"lr": 1e12, "optimizer": "sgd"}
    config = CompareConfig(datasets=("digits",), budgets=(30,), methods=("plain", "dropout"),
                           seeds=(0, 1), base=TrainConfig(epochs=4, **SMALL),
                           grids={"plain": [blow_up, {}], "dropout": [{**blow_up,
                                                                       "dropout": 0.2}]},
                           reference="dropout")
    result = compare(config, out_dir=tmp_path, splits={"digits": digits})
    runs = pd.read_csv(tmp_path / "runs.csv")
    bad = runs[runs.diverged]
    assert len(bad) == 4 and bad.val_error.isna().all() and bad.test_error.isna().all()
    assert list(result.cells.method) == ["plain"]  # dropout: every candidate diverged
    assert json.loads(result.cells.params.iloc[0]) == {}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(d["method"], d["candidate"], d["seeds"]) for d in summary["diverged"]] == [
        ("plain", 0, [0, 1]), ("dropout", 0, [0, 1])]
    assert summary["no_cell"] == [{"dataset": "digits", "budget": "30", "method": "dropout"}]
    assert result.diffs.empty


def test_compare_cli_prints_diverged_candidates(tmp_path):
    result = runner.invoke(app, [*COMPARE, "--out", str(tmp_path), "--epochs", "4", "--json",
                                 "--grid", '{"input-noise": [{"noise_std": 0.5}, {"lr": 1e12, '
                                 '"optimizer": "sgd"}]}'])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines()
             if line.strip() and not line.startswith("[compare] ")]  # progress lines aside
    assert len(lines) == 1 and lines[0].startswith("warning: 1 candidate(s) diverged")
    assert json.loads(result.stdout)["diverged"][0]["candidate"] == 1


@pytest.mark.parametrize("grids, match", [
    ({"magic": [{}]}, r"grids: unknown methods \['magic'\]"),
    ({"dropout": []}, r"grids\['dropout'\] is empty"),
    ({"dropout": [{"dropout": 0.2}, {"dropout": 0.2}]}, r"lists a candidate twice"),
    ({"plain": [{"noise_std": 0.3}]}, r"grids\['plain'\] sets \['noise_std'\], which method"),
    ({"plain": [{"momentum": 0.5}]}, r"sets \['momentum'\], which method 'plain' \(optimizer "
                                     r"'adam'\) does not use"),
    ({"plain": [{"bogus": 1}]}, r"unknown TrainConfig fields \['bogus'\]"),
])
def test_bad_grids_are_refused(grids, match):
    with pytest.raises(ValueError, match=match):
        CompareConfig(methods=("plain", "dropout"), reference="dropout", grids=grids)


@pytest.mark.parametrize("args, fragment", [
    (["--grid", '{"magic": [{}]}'], "--grid gives candidates for 'magic', not in --methods"),
    (["--grid", '{"input-noise": []}'], "grids['input-noise'] is empty"),
    (["--base", '{"seed": 3}'], "--base may not set seed"),
    (["--base", '{"dropout": 0.3}'], "--base sets dropout, which none of --methods"),
    (["--base", '{"lr": 0.1}', "--lr", "0.01"], "--lr is given both as an option and in --base"),
    (["--lr", "inf"], "lr must be a positive float; got inf"),
])
def test_compare_cli_refuses_bad_options(tmp_path, args, fragment):
    (tmp_path / "keep.txt").write_text("x")
    before = snapshot(tmp_path)
    refused(runner.invoke(app, [*COMPARE, "--out", str(tmp_path / "cmp"), *args]), fragment)
    assert snapshot(tmp_path) == before


def test_candidates_table_marks_diverged_cells():
    import numpy as np

    from shadownets.train.tables import candidates_table

    runs = pd.DataFrame({"dataset": ["d"] * 3, "budget": ["50"] * 3,
                         "method": ["plain", "plain", "dropout"], "candidate": [0, 1, 0],
                         "params": ["{}", '{"lr": 1e12}', "{}"], "seed": [0, 0, 0],
                         "val_error": [0.2, np.nan, 0.3], "diverged": [False, True, False]})
    lines = candidates_table(runs).splitlines()
    assert lines[-1].startswith("| plain | lr=1000000000000.0 | diverged |")
    assert "| plain | — | 0.200 | 0.200 |" in lines
