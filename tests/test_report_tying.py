"""The report part "tying": its rule and judge on crafted alignment files (each verdict), and
the part's tiny run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shadownets.report.base import Context
from shadownets.report.parts.tying import (
    ALIGNMENT_COLUMNS,
    OUTCOME_COLUMNS,
    RULE,
    TyingRule,
    judge,
    outcome_table,
)

TIED = [0.90, 0.91, 0.89, 0.905, 0.895]  # shown above 0.8
LOOSE = [0.30, 0.32, 0.28, 0.31, 0.29]  # shown below 0.8
STRADDLE = [0.60, 0.95, 0.85, 0.70, 0.98]  # mean 0.816, interval across 0.8


def _rows(setting, kind, untied, null=0.01, control=0.999):
    rows = []
    for seed, cos in enumerate(untied):
        for model, value, nul in (("untied", cos, null), ("tied", 1.0, 0.0),
                                  ("linear", control, 0.0)):
            rows.append({"setting": setting, "kind": kind, "data": setting, "model": model,
                         "seed": seed, "layer": 1, "n_units": 64, "n_live": 60,
                         "median_cosine": value, "mean_cosine": value, "null_median": nul,
                         "c": 1.0, "residual": 0.3, "null_c": 0.0, "null_residual": 1.0})
    return rows


def _write(folder, *settings):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for s in settings for r in _rows(*s)]
    pd.DataFrame(rows, columns=list(ALIGNMENT_COLUMNS)).to_csv(folder / "alignment.csv",
                                                               index=False)
    return folder


def test_holds_when_every_model_setting_is_shown_tied(tmp_path):
    folder = _write(tmp_path / "t", ("m1", "model", TIED), ("m2", "model", TIED),
                    ("digits", "real", LOOSE))
    j = judge(folder, RULE)
    assert j.verdict == "holds"
    assert j.numbers["outcomes"] == {"m1": "tied", "m2": "tied"}
    assert j.numbers["real_outcomes"] == {"digits": "not tied"}  # stated, not in the verdict
    assert "m1: 0.900 [" in j.evidence and "digits: 0.300" in j.evidence
    assert "not in the verdict" in j.evidence and j.flip


def test_plain_autoencoders_are_stated_separately(tmp_path):
    j = judge(_write(tmp_path / "t", ("m1", "model", LOOSE), ("p1", "plain", TIED)), RULE)
    assert j.verdict == "does not hold" and j.numbers["outcomes"] == {"m1": "not tied"}
    assert j.numbers["plain_outcomes"] == {"p1": "tied"} and j.numbers["real_outcomes"] == {}
    assert "Plain autoencoder (no noise) on model data (stated separately" in j.evidence


@pytest.mark.parametrize("settings", [
    [("m1", "model", LOOSE)],
    [("m1", "model", TIED), ("m2", "model", LOOSE)],  # one shown below is enough
    [("m1", "model", STRADDLE), ("m2", "model", LOOSE)],
])
def test_does_not_hold_when_a_model_setting_is_shown_below(tmp_path, settings):
    j = judge(_write(tmp_path / "t", *settings, ("digits", "real", TIED)), RULE)
    assert j.verdict == "does not hold"
    assert j.numbers["real_outcomes"] == {"digits": "tied"}


@pytest.mark.parametrize("settings, outcome", [
    ([("m1", "model", STRADDLE)], "undetermined"),
    ([("m1", "model", TIED[:1])], "undetermined"),  # one seed: no interval
    ([("m1", "model", TIED, 0.5)], "null too high"),  # the threshold is not above the null
    ([("m1", "model", LOOSE, 0.5)], "null too high"),
    ([("m1", "model", TIED, 0.01, 0.9)], "control failed"),  # the instrument failed
])
def test_undetermined(tmp_path, settings, outcome):
    j = judge(_write(tmp_path / "t", *settings), RULE)
    assert j.verdict == "undetermined"
    assert j.numbers["outcomes"]["m1"] == outcome


def test_undetermined_without_model_data(tmp_path):
    j = judge(_write(tmp_path / "t", ("digits", "real", TIED)), RULE)
    assert j.verdict == "undetermined" and j.numbers["outcomes"] == {}
    assert "generative model" in j.flip


def test_missing_control_and_the_rule_thresholds(tmp_path):
    folder = _write(tmp_path / "t", ("m1", "model", TIED))
    df = pd.read_csv(folder / "alignment.csv")
    df[df["model"] != "linear"].to_csv(folder / "alignment.csv", index=False)
    assert judge(folder, RULE).numbers["outcomes"] == {"m1": "no control"}
    folder = _write(tmp_path / "u", ("m1", "model", TIED))
    assert judge(folder, TyingRule(threshold=0.95)).verdict == "does not hold"
    assert judge(folder, TyingRule(control_min=0.9999)).verdict == "undetermined"
    assert "0.8" in RULE.text() and "stated separately" in RULE.text()


def test_holm_is_within_each_kind(tmp_path):
    near = [0.84, 0.86, 0.85]  # p ≈ 0.0064 one-sided: shown alone, not with 10 others
    alone = outcome_table(pd.read_csv(_write(tmp_path / "a", ("m1", "model", near),
                                             ("r", "real", TIED)) / "alignment.csv"))
    assert list(alone.columns) == list(OUTCOME_COLUMNS)
    assert alone.set_index("setting").loc["m1", "outcome"] == "tied"
    crowd = [("m1", "model", near)] + [(f"x{i}", "model", STRADDLE) for i in range(10)]
    table = outcome_table(pd.read_csv(_write(tmp_path / "b", *crowd) / "alignment.csv"))
    assert table.set_index("setting").loc["m1", "outcome"] == "undetermined"


def test_the_tiny_part_writes_its_files(tmp_path):
    from shadownets.report.parts.tying import tying

    out = tying(Context(out=tmp_path, scale="tiny"))
    folder = tmp_path / "tying"
    for t in out.tables + out.figures:
        assert (folder / t["path"]).is_file()
    alignment = pd.read_csv(folder / "alignment.csv")
    assert list(alignment.columns) == list(ALIGNMENT_COLUMNS)
    assert set(alignment["kind"]) == {"model", "real"}
    assert judge(folder, RULE).verdict in ("holds", "does not hold", "undetermined")
    assert json.loads((folder / "settings.json").read_text())["common"]["seeds"] == 2
