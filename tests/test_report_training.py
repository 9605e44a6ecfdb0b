"""Tests for the report part "training": its rules (one comparison; a study of several) and
judges on crafted comparison files, the study's protocol, and the tiny part end to end."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from shadownets.io import save_dataframe_csv, save_json
from shadownets.report.base import VERDICTS, Context, rule_dict
from shadownets.report.parts.training import (
    RULE,
    TrainingRule,
    judge,
    judge_comparison,
    study_tables,
    write_study_tables,
)
from shadownets.train.compare import DIFF_COLUMNS, RUN_COLUMNS, summarise

# per-seed differences shadow − best other (10 seeds) giving each comparison verdict
WIN = [-0.05, -0.052, -0.048, -0.051, -0.049, -0.05, -0.047, -0.053, -0.05, -0.05]
LOSS = [-d for d in WIN]
TIE = [0.001, -0.001, 0.0005, -0.0005, 0.0, 0.001, -0.001, 0.0, 0.0002, -0.0002]
UNDET = [0.03, -0.03, 0.02, -0.025, 0.0, 0.01, -0.01, 0.04, -0.04, 0.005]


def _write(folder, cases: dict[str, list[float]], reference: str = "shadow"):
    """The files ``compare`` writes (runs.csv, cells.csv, diffs.csv, summary.json) for a toy
    comparison: per budget, plain is the best other method (by validation) and the
    reference's test error is plain's plus ``cases[budget][seed]``; dropout is far worse."""
    rows = []
    for budget, diffs in cases.items():
        for seed, delta in enumerate(diffs):
            b = 0.2 + 0.03 * math.sin(seed)
            for method, val, test in (("plain", 0.1, b), ("dropout", 0.4, b + 0.1),
                                      (reference, 0.2, b + delta)):
                rows.append(dict(dataset="toy", budget=budget, n_labels=int(budget),
                                 method=method, candidate=0, params="{}", seed=seed,
                                 val_error=val, test_error=test, val_loss=0.0, test_loss=0.0,
                                 train_loss=0.0))
    runs = pd.DataFrame(rows)[RUN_COLUMNS]
    cells, diffs, summary = summarise(runs, reference=reference)
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
    j = judge_comparison(folder, RULE)
    assert j.verdict == verdict
    assert j.numbers["n_comparisons"] == 2 and j.numbers["seeds"] == list(range(10))
    assert "toy/50 vs plain" in j.evidence and "power" in j.evidence
    assert j.flip


def test_judge_reads_the_written_comparison_verdicts(tmp_path):
    folder = _write(tmp_path / "t", {"50": WIN, "100": LOSS, "300": TIE, "1000": UNDET})
    diffs = pd.read_csv(folder / "diffs.csv", dtype={"budget": str})
    assert list(diffs.columns) == DIFF_COLUMNS
    j = judge_comparison(folder, RULE)
    assert (j.numbers["wins"], j.numbers["losses"], j.numbers["ties"],
            j.numbers["undetermined"]) == (["toy/50"], ["toy/100"], ["toy/300"], ["toy/1000"])
    written = diffs[diffs.family == "best_other"].verdict.tolist()
    assert [c["verdict"] for c in j.numbers["comparisons"]] == written
    assert j.numbers["plain_wins"] == ["toy/50"]  # descriptive, from the each_other family


def test_undetermined_flip_names_the_seeds_needed(tmp_path):
    folder = _write(tmp_path / "t", {"50": UNDET, "100": TIE})
    j = judge_comparison(folder, RULE)
    need = int(pd.read_csv(folder / "diffs.csv").query("family == 'best_other'")
               .seeds_needed.max())
    assert need > 10
    assert j.flip.startswith(f"with {need} seeds a 0.01 difference would be detectable at 80% "
                             f"power")


def test_the_rule_sets_the_thresholds_not_the_file(tmp_path):
    # margin 0.01: undetermined; a declared margin of 0.06 shows the same run equivalent
    folder = _write(tmp_path / "t", {"50": UNDET, "100": TIE})
    assert judge_comparison(folder, TrainingRule()).verdict == "undetermined"
    wide = judge_comparison(folder, TrainingRule(margin=0.06))
    assert wide.verdict == "does not hold" and wide.numbers["ties"] == ["toy/50", "toy/100"]


def test_holm_in_the_rule_changes_the_verdict(tmp_path):
    # one budget wins unadjusted (p ≈ 0.02) but not after Holm over 4 budgets
    weak = [-0.01 + 0.012 * x for x in (0.9, -1.1, 0.4, -0.3, 1.3, -0.8, 0.2, -1.6, 0.6, 0.7)]
    folder = _write(tmp_path / "t", {"50": weak, "100": UNDET, "300": UNDET, "1000": UNDET})
    p = pd.read_csv(folder / "diffs.csv").query("family == 'best_other'").p_diff.iloc[0]
    assert 0.0125 < p < 0.05
    assert judge_comparison(folder, TrainingRule(correction="none")).verdict == "holds"
    assert judge_comparison(folder, TrainingRule(correction="holm")).verdict == "undetermined"


def test_rule_text_declares_all_outcomes():
    for text in (RULE.text(), RULE.comparison_text()):
        assert "Holds if" in text and "does not hold if" in text
        assert "undetermined otherwise" in text
        assert "±0.01" in text and "α = 0.05" in text
    assert "all the study's comparisons together" in RULE.text()
    assert rule_dict(RULE) == {"margin": 0.01, "alpha": 0.05, "correction": "holm",
                               "power": 0.8, "reference": "shadow"}


# ------------------------------------------------------------------ the study

REFS = {"supervised": "shadow", "semi": "shadow-consistency"}


def _study(root, claims: dict[tuple[str, str], dict[str, list[float]]]):
    """A crafted study folder: study.json and one toy comparison per (use, arch)."""
    uses = sorted({u for u, _ in claims}, key=list(REFS).index)
    archs = list(dict.fromkeys(a for _, a in claims))
    for (use, arch), cases in claims.items():
        _write(root / use / arch, cases, reference=REFS[use])
    save_json(root / "study.json", {
        "uses": {u: {"methods": ["plain", "dropout", REFS[u]], "reference": REFS[u]}
                 for u in uses},
        "archs": {a: ["toy"] for a in archs}, "seeds_run": 10, "seeds_needed_max": None})
    return root


@pytest.mark.parametrize("claims, verdict", [
    ({("supervised", "mlp"): {"50": WIN}, ("semi", "mlp"): {"50": UNDET}}, "holds"),
    ({("supervised", "mlp"): {"50": WIN, "100": TIE}, ("semi", "mlp"): {"50": WIN}}, "holds"),
    ({("supervised", "mlp"): {"50": LOSS}, ("semi", "mlp"): {"50": UNDET}}, "does not hold"),
    ({("supervised", "mlp"): {"50": TIE}, ("semi", "mlp"): {"50": TIE}}, "does not hold"),
    ({("supervised", "mlp"): {"50": WIN}, ("semi", "mlp"): {"50": LOSS}}, "undetermined"),
    ({("supervised", "mlp"): {"50": UNDET}, ("semi", "mlp"): {"50": UNDET}}, "undetermined"),
    # a claim with wins and losses mixed is undetermined, and alone decides nothing
    ({("supervised", "mlp"): {"50": WIN, "100": LOSS}}, "undetermined"),
])
def test_study_judge_gives_each_verdict(tmp_path, claims, verdict):
    j = judge(_study(tmp_path / "training", claims), RULE)
    assert j.verdict == verdict
    assert j.numbers["n_comparisons"] == sum(len(c) for c in claims.values())
    assert j.flip and "power" in j.evidence


def test_study_claims_follow_the_comparison_rule(tmp_path):
    folder = _study(tmp_path / "s", {("supervised", "mlp"): {"50": WIN, "100": LOSS},
                                     ("supervised", "lenet"): {"50": TIE, "100": TIE},
                                     ("semi", "mlp"): {"50": WIN, "100": UNDET},
                                     ("semi", "lenet"): {"50": LOSS, "100": UNDET}})
    table, claims, _ = study_tables(folder, RULE)
    got = {(r.use, r.arch): r.verdict for r in claims.itertuples()}
    assert got == {("supervised", "mlp"): "undetermined", ("supervised", "lenet"): "does not hold",
                   ("semi", "mlp"): "holds", ("semi", "lenet"): "does not hold"}
    assert list(table.reference.unique()) == ["shadow", "shadow-consistency"]
    assert (table.family_size == 8).all()  # one Holm family: the whole study
    assert judge(folder, RULE).verdict == "undetermined"  # claims disagree
    written = write_study_tables(folder, RULE)
    back = pd.read_csv(folder / "claims.csv")
    assert back.verdict.tolist() == claims.verdict.tolist()
    assert len(pd.read_csv(folder / "summary.csv")) == 8
    saved = json.loads((folder / "judgement.json").read_text())
    assert saved["verdict"] == written.verdict == "undetermined"
    assert saved["rule_text"] == RULE.text()


def test_study_holm_is_over_all_comparisons(tmp_path):
    # a win alone in its comparison folder (p ≈ 0.01 < 0.05) is not one among 10 (Holm's
    # first step needs p < 0.05 / 10): the study's correction, not the folder's, decides
    strong = [-0.01 + 0.010 * x for x in (0.9, -1.1, 0.4, -0.3, 1.3, -0.8, 0.2, -1.6, 0.6, 0.7)]
    claims = {("supervised", "mlp"): {"50": strong}}
    claims |= {("supervised", a): {"50": UNDET, "100": UNDET} for a in ("lenet", "vgg")}
    claims |= {("semi", a): {"50": UNDET, "100": UNDET} for a in ("mlp", "lenet", "vgg")}
    claims[("semi", "mlp")] = {"50": UNDET}
    folder = _study(tmp_path / "s", claims)
    own = judge_comparison(folder / "supervised" / "mlp", RULE)
    p = pd.read_csv(folder / "supervised/mlp/diffs.csv").query("family == 'best_other'")
    assert 0.05 / 10 < float(p.p_diff.iloc[0]) < 0.05
    assert own.verdict == "holds"
    table, claims_df, _ = study_tables(folder, RULE)
    assert len(table) == 10
    assert claims_df.set_index(["use", "arch"]).loc[("supervised", "mlp"), "verdict"] \
        == "undetermined"
    assert judge(folder, RULE).verdict == "undetermined"
    assert judge(folder, TrainingRule(correction="none")).verdict == "holds"


def test_study_judge_names_a_missing_comparison(tmp_path):
    folder = _study(tmp_path / "s", {("supervised", "mlp"): {"50": WIN},
                                     ("semi", "mlp"): {"50": WIN}})
    (folder / "semi" / "mlp" / "diffs.csv").unlink()
    with pytest.raises(FileNotFoundError, match="semi/mlp has not run"):
        judge(folder, RULE)
    with pytest.raises(FileNotFoundError, match="holds no training study"):
        judge(tmp_path / "empty", RULE)


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": 1}, "seeds must be an int >= 2"),
    ({"uses": ("magic",)}, "uses must be some of"),
    ({"grids": "all"}, "grids must be one of"),
    ({"budgets": (0,)}, "budgets must be ints >= 1"),
    ({"archs": (("mlp", ()),)}, "archs must be"),
    ({"max_seeds": 3, "pilot_seeds": 4}, "max_seeds .* must be >= pilot_seeds"),
    ({"archs": (("no-such-net", ("digits",)),)}, "unknown model 'no-such-net'"),
    ({"archs": (("mlp", ("no-such-data",)),)}, "no-such-data"),
    ({"warmup_epochs": 30}, "warmup_epochs must be in"),
])
def test_study_config_refuses_bad_settings(kwargs, match):
    from shadownets.train.study import StudyConfig

    with pytest.raises(ValueError, match=match):
        StudyConfig(**kwargs)


def test_study_pilot_chooses_the_seeds_and_reuses_its_runs(tmp_path):
    from shadownets.train.study import StudyConfig, run_study

    cfg = StudyConfig(archs=(("mlp", ("digits",)),), uses=("supervised",), budgets=(50,),
                      seeds=None, pilot_seeds=2, max_seeds=3, epochs=2, steps_per_epoch=3,
                      grids="first", warmup_epochs=1)
    record = run_study(cfg, tmp_path / "s")
    table = pd.read_csv(tmp_path / "s/supervised/mlp/diffs.csv")
    assert record["pilot_seeds"] == 2 and record["max_seeds"] == 3
    assert record["seeds_needed_max"] >= 3  # two seeds never give 80% power at 1 point
    assert record["seeds"] == record["seeds_run"] == 3
    assert int(table.query("family == 'best_other'").n_pairs.iloc[0]) == 3
    runs = pd.read_csv(tmp_path / "s/supervised/mlp/runs.csv")
    assert sorted(runs.seed.unique()) == [0, 1, 2] and len(runs) == 4 * 3
    saved = json.loads((tmp_path / "s/study.json").read_text())
    assert saved["seeds_run"] == 3 and saved["config"]["max_seeds"] == 3


def test_tiny_part_end_to_end(tmp_path):
    from shadownets.report.base import PARTS

    ctx = Context(tmp_path, scale="tiny")
    part = PARTS["training"]
    out = part.run(ctx)
    folder = ctx.part_dir("training")
    for item in [*out.tables, *out.figures]:
        assert (folder / item["path"]).is_file()
    j = part.judge(folder, part.rule)
    assert j.verdict in VERDICTS
    claims = pd.read_csv(folder / "claims.csv")
    assert claims.use.tolist() == ["supervised", "semi"]
    assert claims.reference.tolist() == ["shadow", "shadow-consistency"]
    for use in ("supervised", "semi"):
        summary = json.loads((folder / use / "mlp" / "summary.json").read_text())
        assert (summary["margin"], summary["alpha"], summary["correction"]) == \
            (0.01, 0.05, "holm")
