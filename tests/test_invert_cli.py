"""``shadownets invert`` and ``shadownets leakage`` (the CLI skin over shadownets.invert)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from _cli import refused, snapshot
from shadownets.cli import app
from shadownets.invert import SUMMARY_COLUMNS, TABLE_COLUMNS

LENET = ["--model", "zoo:lenet", "--model-kwargs", '{"input_shape": [1, 8, 8], '
         '"num_classes": 10}']
SMALL = ["--data", "digits", "--n", "6", "--steps", "4", "--record-every", "2"]


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_invert_writes_tables_reconstructions_and_figures(tmp_path):
    out = tmp_path / "inv"
    res = _run("invert", *LENET, *SMALL, "--layer", "net.4", "--method", "warm",
               "--out", str(out))
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "invert.csv")
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == 6
    assert set(table["method"]) == {"warm"} and set(table["switches"]) == {"known"}
    curves = pd.read_csv(out / "curves.csv")
    assert sorted(set(curves["step"])) == [0, 2, 4]
    doc = json.loads((out / "invert.json").read_text())
    assert doc["config"]["steps"] == 4 and doc["info"]["calibrated_on"] == "aux"
    assert doc["info"]["accuracy_vs"] == "labels" and doc["info"]["scale"] == "data"
    tensors = load_file(str(out / "reconstructions.safetensors"))
    assert tuple(tensors["reconstructions"].shape) == (1, 6, 1, 8, 8)
    for stem in ("grid", "psnr_time"):
        assert (out / f"{stem}.png").stat().st_size > 1000
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert "wall time" in res.output


def test_leakage_prints_and_writes_the_per_layer_table(tmp_path):
    out = tmp_path / "leak"
    res = _run("leakage", *LENET, *SMALL, "--no-figures", "--json", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["layers"] == ["net.1", "net.4", "net.8", "net.10"]
    table = pd.read_csv(out / "leakage.csv")
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert [r["layer"] for r in doc["rows"]] == list(table["layer"])
    assert set(table["method"]) == {"shadow", "optimize", "warm"}
    assert not (out / "leakage.png").exists()


def test_leakage_figures_and_named_layers(tmp_path):
    out = tmp_path / "leak"
    res = _run("leakage", *LENET, *SMALL, "--layers", "net.8,net.1", "--methods", "shadow",
               "--out", str(out))
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "leakage.csv")
    assert list(table["layer"]) == ["net.1", "net.8", "net.8"]  # net.8: known and unknown
    assert list(table["switches"]) == ["none", "known", "unknown"]
    assert (out / "leakage.png").stat().st_size > 1000 and "leakage of zoo:lenet" in res.output


@pytest.mark.parametrize("args, fragments", [
    (["--layer", "conv9"], ["layer: unknown activation point 'conv9'", "known: net.0"]),
    (["--layer", "net.1", "--steps", "0"], ["steps must be an int >= 1; got 0"]),
    (["--layer", "net.1", "--method", "deconv"], ["method must be one of shadow, optimize"]),
    (["--layer", "net.1", "--n", "0"], ["--n must be a positive number of images"]),
])
def test_invert_bad_input_is_one_error_line(tmp_path, args, fragments):
    out = tmp_path / "inv"
    res = _run("invert", *LENET, "--data", "digits", "--n", "4", *args, "--out", str(out))
    refused(res, *fragments)
    assert not out.exists()  # a failed fresh claim leaves nothing behind


def test_wrong_data_shape_is_one_error_line(tmp_path):
    big = ["--model", "zoo:lenet", "--model-kwargs", '{"input_shape": [1, 28, 28], '
           '"num_classes": 10}']
    res = _run("invert", *big, "--data", "digits", "--n", "4", "--layer", "net.1",
               "--out", str(tmp_path / "inv"))
    refused(res, "expected inputs of shape (batch, 1, 28, 28)", "got (4, 1, 8, 8)")
    res = _run("leakage", *LENET, "--data", "digits", "--methods", "shadow,deconv",
               "--out", str(tmp_path / "leak"))
    refused(res, "methods: expected distinct names")


def test_an_existing_run_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "inv"
    args = ["invert", *LENET, *SMALL, "--layer", "net.1", "--no-figures", "--out", str(out)]
    assert _run(*args).exit_code == 0
    before = snapshot(out)
    refused(_run(*args), "--overwrite")
    assert snapshot(out) == before
    assert _run(*args, "--overwrite").exit_code == 0
