"""Tests for shadownets.train.executor and compare's --jobs / --executor: same numbers as the
serial loop, a killed parallel comparison resumes from its finished runs, Ray on a local
instance, progress lines."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from shadownets.progress import Progress, format_seconds
from shadownets.train.compare import CompareConfig, compare
from shadownets.train.config import TrainConfig
from shadownets.train.executor import default_threads, run_all

BASE = TrainConfig(epochs=1, steps_per_epoch=3, batch_size=16, model_kwargs={"widths": [16]})


def _config(**kw) -> CompareConfig:
    return CompareConfig(datasets=("digits",), budgets=(30, 60), methods=("plain", "dropout"),
                         seeds=(0, 1), base=BASE, grids={"dropout": [{"dropout": 0.2}]},
                         reference="dropout", threads=1, **kw)


@pytest.fixture(scope="module")
def splits():
    from shadownets.data import load_dataset

    return {"digits": load_dataset("digits")}


@pytest.fixture(scope="module")
def serial(splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return compare(_config(), out_dir=out, splits=splits), out


def test_two_local_jobs_give_the_serial_results(serial, splits, tmp_path):
    result, out = serial
    parallel = compare(_config(jobs=2), out_dir=tmp_path, splits=splits)
    pd.testing.assert_frame_equal(parallel.runs, result.runs)  # same rows, same order, bits
    pd.testing.assert_frame_equal(parallel.cells, result.cells)
    assert (tmp_path / "runs.csv").read_bytes() == (out / "runs.csv").read_bytes()
    assert (tmp_path / "diffs.csv").read_bytes() == (out / "diffs.csv").read_bytes()


def test_killed_parallel_comparison_resumes_from_finished_runs(serial, splits, tmp_path):
    result, _ = serial
    seen: list[dict] = []

    def stop_after_three(row: dict) -> None:
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt  # as Ctrl-C in the parent would

    with pytest.raises(KeyboardInterrupt):
        compare(_config(jobs=2), out_dir=tmp_path, splits=splits, on_run=stop_after_three)
    on_disk = pd.read_csv(tmp_path / "runs.csv")
    assert len(on_disk) == 3  # every finished run was written before the next one
    rerun: list[dict] = []
    again = compare(_config(jobs=2), out_dir=tmp_path, splits=splits, resume=True,
                    on_run=rerun.append)
    assert len(rerun) == len(result.runs) - 3  # the three finished runs were re-used
    pd.testing.assert_frame_equal(again.runs, result.runs)


def test_bad_execution_settings_are_refused():
    with pytest.raises(ValueError, match=r"jobs must be an int >= 1; got 0"):
        _config(jobs=0)
    with pytest.raises(ValueError, match=r"executor must be one of local, ray; got 'slurm'"):
        _config(executor="slurm")
    with pytest.raises(ValueError, match=r"address is the Ray cluster's \(executor 'ray'\)"):
        _config(address="auto")
    with pytest.raises(ValueError, match=r"threads must be an int >= 1 \(or none\); got 0"):
        CompareConfig(threads=0)
    with pytest.raises(ValueError, match=r"executor must be one of \['local', 'ray'\]"):
        list(run_all([], {}, executor="nope"))
    assert default_threads(1) >= 1 and default_threads(10_000) == 1


def test_ray_on_a_local_instance_gives_the_serial_results(serial, splits, tmp_path):
    ray = pytest.importorskip("ray")  # the optional extra shadownets[ray]; installed in CI
    result, out = serial
    try:
        parallel = compare(_config(jobs=2, executor="ray"), out_dir=tmp_path, splits=splits)
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(parallel.runs, result.runs)
    assert (tmp_path / "runs.csv").read_bytes() == (out / "runs.csv").read_bytes()


def test_progress_lines_with_eta():
    stream = io.StringIO()
    with Progress(3, "compare", stream=stream, every=0.0, live=False) as bar:
        for _ in range(3):
            bar.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("[compare] 1/3 runs, 0:00:0")
    assert "ETA" in lines[0] and lines[-1].endswith("ETA 0:00:00")
    quiet = io.StringIO()
    with Progress(5, "compare", stream=quiet, every=3600.0, live=False) as bar:
        for _ in range(5):
            bar.advance()
    assert len(quiet.getvalue().splitlines()) == 2  # the first and the last only
    assert format_seconds(3725) == "1:02:05" and format_seconds(float("nan")) == "?"


def test_reproduce_training_part_with_jobs_shows_progress_and_records_the_command(tmp_path):
    import json

    from typer.testing import CliRunner

    from shadownets.cli import app

    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["reproduce", "--scale", "tiny", "--part", "training",
                                   "--jobs", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("[compare] ")]
    # one comparison per use: supervised (4 methods × 2 seeds), semi-supervised (5 × 2)
    done = [ln for ln in lines if "ETA 0:00:00" in ln]
    assert [ln.split(" runs")[0] for ln in done] == ["[compare] 8/8", "[compare] 10/10"]
    meta = json.loads((out / "meta.json").read_text())
    assert "--jobs 2" in meta["command"]
