"""``shadownets study``: a tiny study from the command line, its files, and its refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from shadownets.cli import app

TINY = ["--archs", "mlp=digits", "--uses", "supervised", "--budgets", "50", "--seeds", "2",
        "--epochs", "2", "--steps-per-epoch", "3", "--grids", "first", "--warmup-epochs", "1"]


def _run(*args: str):
    return CliRunner().invoke(app, ["study", *args])


def test_tiny_study_writes_its_tables_and_verdict(tmp_path):
    out = tmp_path / "s"
    res = _run("--out", str(out), *TINY)
    assert res.exit_code == 0, res.output
    claims = pd.read_csv(out / "claims.csv")
    assert claims[["use", "arch", "reference"]].values.tolist() == [["supervised", "mlp",
                                                                     "shadow"]]
    judgement = json.loads((out / "judgement.json").read_text())
    assert f"study: {judgement['verdict']}." in res.stdout
    assert (out / "supervised/mlp/judgement.json").is_file()  # the compare call's own
    record = json.loads((out / "study.json").read_text())
    assert record["seeds_run"] == 2 and record["config"]["grids"] == "first"
    # the same study again: refused without --resume, re-used with it (no training)
    again = _run("--out", str(out), *TINY)
    assert again.exit_code == 2 and "holds a study; use --resume" in again.stderr
    resumed = _run("--out", str(out), *TINY, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert pd.read_csv(out / "claims.csv").equals(claims)


@pytest.mark.parametrize("args, match", [
    (["--archs", "mlp"], "--archs items must be ARCH=DATASET+DATASET"),
    (["--archs", "nonet=digits"], "unknown model 'nonet'"),
    (["--uses", "magic"], "uses must be some of"),
    (["--seeds", "1"], "seeds must be an int >= 2"),
])
def test_bad_settings_are_refused_in_one_line(tmp_path, args, match):
    res = _run("--out", str(tmp_path / "s"), *args)
    assert res.exit_code == 2
    assert match in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "s").exists()
