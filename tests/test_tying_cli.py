"""``shadownets tying`` (the CLI skin over shadownets.tying.run_tying)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import refused, snapshot
from shadownets.cli import app
from shadownets.tying import ALIGNMENT_COLUMNS, HEADLINE_COLUMNS

SMALL = ["--data", "model:n=32,m=8,k=2,rho=0.5", "--hidden", "8", "--epochs", "2",
         "--seeds", "2", "--n-train", "256", "--n-test", "64"]


def _run(*args: str):
    return CliRunner().invoke(app, ["tying", *args])


def test_tying_writes_tables_record_and_figures(tmp_path):
    out = tmp_path / "t"
    res = _run(*SMALL, "--out", str(out))
    assert res.exit_code == 0, res.output
    alignment = pd.read_csv(out / "alignment.csv")
    assert list(alignment.columns) == list(ALIGNMENT_COLUMNS) and len(alignment) == 6
    head = pd.read_csv(out / "headline.csv")
    assert list(head.columns) == list(HEADLINE_COLUMNS)
    assert list(head["model"]) == ["untied", "tied", "linear"]
    assert len(pd.read_csv(out / "matching.csv")) == 4
    doc = json.loads((out / "tying.json").read_text())
    assert doc["config"]["hidden"] == 8 and doc["info"]["noise"] == "dropout:0.5"
    assert doc["info"]["alpha"] == pytest.approx(2 / (0.5 * 32))
    for stem in ("alignment", "histogram"):
        assert (out / f"{stem}.png").stat().st_size > 1000
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert "weight tying on model:n=32,m=8,k=2,rho=0.5" in res.output

    before = snapshot(out)
    again = _run(*SMALL, "--out", str(out))  # a finished run is not replaced ...
    refused(again, "holds a finished tying run", "--overwrite")
    assert snapshot(out) == before
    again = _run(*SMALL, "--no-tied", "--no-figures", "--json", "--out", str(out),
                 "--overwrite")  # ... unless asked
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert [r["model"] for r in doc["headline"]] == ["untied", "linear"]
    assert not (out / "alignment.png").exists()


def test_depth_two_on_digits_with_gaussian_noise(tmp_path):
    out = tmp_path / "d"
    res = _run("--data", "digits", "--hidden", "8", "--depth", "2", "--noise", "gaussian:0.3",
               "--epochs", "1", "--seeds", "2", "--n-train", "200", "--n-test", "50",
               "--no-control", "--no-figures", "--json", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(r["model"], r["layer"]) for r in doc["headline"]] == \
        [("untied", 1), ("untied", 2), ("tied", 1), ("tied", 2)]
    assert pd.read_csv(out / "matching.csv").empty  # no known W on real data


@pytest.mark.parametrize("args, fragments", [
    (["--hidden", "0"], ["hidden must be an int >= 1; got 0"]),
    (["--hidden", "-2"], ["hidden must be an int >= 1; got -2"]),
    (["--noise", "dropout:abc"], ["noise must be dropout:RHO", "'abc' is not a number"]),
    (["--noise", "dropout:1.5"], ["keep probability RHO of dropout:RHO must lie in (0, 1]"]),
    (["--noise", "salt"], ["noise must be dropout:RHO"]),
    (["--depth", "3"], ["depth must be 1 or 2; got 3"]),
    (["--data", "model:n=abc"], ["data 'model:n=abc': n must be a number, got 'abc'"]),
    (["--data", "model:k=100"], ["k must lie in [1, m=64], got k=100"]),
    (["--data", "imagenet"], ["data must be model or model:n=N,m=M,k=K,rho=RHO or a data set"]),
    (["--data", "photos"], ["too few to train an autoencoder"]),
])
def test_bad_input_is_one_error_line(tmp_path, args, fragments):
    out = tmp_path / "bad"
    base = {"--data": "model", "--hidden": "4"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    res = _run(*[t for kv in base.items() for t in kv], "--out", str(out))
    refused(res, *fragments)
    assert not out.exists()  # refused before the folder was claimed, or the claim undone
