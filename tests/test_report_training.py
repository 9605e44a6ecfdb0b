"""Tests for the report part "training": its rule and judge on crafted comparison files, and
the tiny part end to end."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest

from shadownets.io import save_dataframe_csv, save_json
from shadownets.report.base import VERDICTS, Context, rule_dict
from shadownets.report.parts.training import RULE, TrainingRule, judge
from shadownets.train.compare import DIFF_COLUMNS, RUN_COLUMNS, summarise

# per-seed differences shadow − best other (10 seeds) giving each comparison verdict
WIN = [-0.05, -0.052, -0.048, -0.051, -0.049, -0.05, -0.047, -0.053, -0.05, -0.05]
LOSS = [-d for d in WIN]
TIE = [0.001, -0.001, 0.0005, -0.0005, 0.0, 0.001, -0.001, 0.0, 0.0002, -0.0002]
UNDET = [0.03, -0.03, 0.02, -0.025, 0.0, 0.01, -0.01, 0.04, -0.04, 0.005]


def _write(folder, cases: dict[str, list[float]]):
    """The files ``compare`` writes (runs.csv, cells.csv, diffs.csv, summary.json) for a toy
    comparison: per budget, plain is the best other method (by validation) and shadow's test
    error is plain's plus ``cases[budget][seed]``; dropout is far worse."""
    rows = []
    for budget, diffs in cases.items():
        for seed, delta in enumerate(diffs):
            b = 0.2 + 0.03 * math.sin(seed)
            for method, val, test in (("plain", 0.1, b), ("dropout", 0.4, b + 0.1),
                                      ("shadow", 0.2, b + delta)):
                rows.append(dict(dataset="toy", budget=budget, n_labels=int(budget),
                                 method=method, candidate=0, params="{}", seed=seed,
                                 val_error=val, test_error=test, val_loss=0.0, test_loss=0.0,
                                 train_loss=0.0))
    runs = pd.DataFrame(rows)[RUN_COLUMNS]
    cells, diffs, summary = summarise(runs)
    summary["config"] = {"seeds": list(range(len(next(iter(cases.values())))))}
    folder.mkdir(parents=True, exist_ok=True)
    save_dataframe_csv(folder / "runs.csv", runs)
    save_dataframe_csv(folder / "cells.csv", cells)
    save_dataframe_csv(folder / "diffs.csv", diffs)
    save_json(folder / "summary.json", summary)
    return folder


@pytest.mark.parametrize("cases, verdict", [
    ({"50": WIN, "100": TIE}, "holds"),
    ({"50": WIN, "100": UNDET}, "holds"),
    ({"50": LOSS, "100": UNDET}, "does not hold"),
    ({"50": TIE, "100": TIE}, "does not hold"),  # shown equivalent everywhere: no improvement
    ({"50": UNDET, "100": TIE}, "undetermined"),
    ({"50": WIN, "100": LOSS}, "undetermined"),  # mixed
])
def test_judge_gives_each_verdict(tmp_path, cases, verdict):
    folder = _write(tmp_path / "training", cases)
    j = judge(folder, RULE)
    assert j.verdict == verdict
    assert j.numbers["n_comparisons"] == 2 and j.numbers["seeds"] == list(range(10))
    assert "toy/50 vs plain" in j.evidence and "power" in j.evidence
    assert j.flip


def test_judge_reads_the_written_comparison_verdicts(tmp_path):
    folder = _write(tmp_path / "t", {"50": WIN, "100": LOSS, "300": TIE, "1000": UNDET})
    diffs = pd.read_csv(folder / "diffs.csv", dtype={"budget": str})
    assert list(diffs.columns) == DIFF_COLUMNS
    j = judge(folder, RULE)
    assert (j.numbers["wins"], j.numbers["losses"], j.numbers["ties"],
            j.numbers["undetermined"]) == (["toy/50"], ["toy/100"], ["toy/300"], ["toy/1000"])
    written = diffs[diffs.family == "best_other"].verdict.tolist()
    assert [c["verdict"] for c in j.numbers["comparisons"]] == written
    assert j.numbers["plain_wins"] == ["toy/50"]  # descriptive, from the each_other family


def test_undetermined_flip_names_the_seeds_needed(tmp_path):
    folder = _write(tmp_path / "t", {"50": UNDET, "100": TIE})
    j = judge(folder, RULE)
    need = int(pd.read_csv(folder / "diffs.csv").query("family == 'best_other'")
               .seeds_needed.max())
    assert need > 10
    assert j.flip.startswith(f"with {need} seeds a 0.01 difference would be detectable at 80% "
                             f"power")


def test_the_rule_sets_the_thresholds_not_the_file(tmp_path):
    # margin 0.01: undetermined; a declared margin of 0.06 shows the same run equivalent
    folder = _write(tmp_path / "t", {"50": UNDET, "100": TIE})
    assert judge(folder, TrainingRule()).verdict == "undetermined"
    wide = judge(folder, TrainingRule(margin=0.06))
    assert wide.verdict == "does not hold" and wide.numbers["ties"] == ["toy/50", "toy/100"]


def test_holm_in_the_rule_changes_the_verdict(tmp_path):
    # one budget wins unadjusted (p ≈ 0.02) but not after Holm over 4 budgets
    weak = [-0.01 + 0.012 * x for x in (0.9, -1.1, 0.4, -0.3, 1.3, -0.8, 0.2, -1.6, 0.6, 0.7)]
    folder = _write(tmp_path / "t", {"50": weak, "100": UNDET, "300": UNDET, "1000": UNDET})
    p = pd.read_csv(folder / "diffs.csv").query("family == 'best_other'").p_diff.iloc[0]
    assert 0.0125 < p < 0.05
    assert judge(folder, TrainingRule(correction="none")).verdict == "holds"
    assert judge(folder, TrainingRule(correction="holm")).verdict == "undetermined"


def test_rule_text_declares_all_outcomes():
    text = RULE.text()
    assert "Holds if" in text and "does not hold if" in text and "undetermined otherwise" in text
    assert "±0.01" in text and "α = 0.05" in text
    assert rule_dict(RULE) == {"margin": 0.01, "alpha": 0.05, "correction": "holm",
                               "power": 0.8, "reference": "shadow"}


def test_tiny_part_end_to_end(tmp_path):
    from shadownets.report.base import PARTS

    start = time.perf_counter()
    ctx = Context(tmp_path, scale="tiny")
    part = PARTS["training"]
    out = part.run(ctx)
    folder = ctx.part_dir("training")
    for item in [*out.tables, *out.figures]:
        assert (folder / item["path"]).is_file()
    j = part.judge(folder, part.rule)
    assert j.verdict in VERDICTS
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["margin"], summary["alpha"], summary["correction"]) == (0.01, 0.05, "holm")
    assert time.perf_counter() - start < 60
