"""Tests for the report part ``audit``: its judge on crafted summaries, and a tiny run."""

from __future__ import annotations

import pandas as pd
import pytest

from shadownets.report.base import Context
from shadownets.report.parts.audit import RULE, AuditRule, audit_part, judge

RL, WORSE, BETTER, UND = ("random-like", "worse than random", "better than random",
                          "undetermined")


def _write(folder, trained, init):
    rows = [{"net": "n", "state": state, "layer": f"l{i}", "verdict": v}
            for state, vs in (("trained", trained), ("random init", init))
            for i, v in enumerate(vs)]
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    return folder


def test_holds(tmp_path):
    j = judge(_write(tmp_path, [RL, RL, RL, UND], [RL, RL, RL, UND]), RULE)
    assert j.verdict == "holds"
    assert j.numbers["trained_random_like"] == 0.75


def test_does_not_hold(tmp_path):
    # 2 of 4 trained layers decided non-random, no twin false alarm (twins undetermined)
    j = judge(_write(tmp_path, [WORSE, BETTER, RL, UND], [UND, UND, RL, UND]), RULE)
    assert j.verdict == "does not hold"
    assert "worse than random" in j.evidence


@pytest.mark.parametrize(("trained", "init"), [
    ([RL, RL, RL, RL], [RL, UND, UND, UND]),  # the twins are not shown random-like enough
    ([WORSE, WORSE, RL, RL], [WORSE, RL, RL, RL]),  # a false alarm on a random twin
    ([WORSE, RL, UND, UND], [RL, RL, RL, RL]),  # 25% decided: not more than 25%
    ([UND, UND, UND, UND], [UND, UND, UND, UND]),
])
def test_undetermined(tmp_path, trained, init):
    assert judge(_write(tmp_path, trained, init), RULE).verdict == "undetermined"


def test_rule_thresholds_are_used(tmp_path):
    folder = _write(tmp_path, [RL, RL, UND, UND], [RL, RL, RL, RL])
    assert judge(folder, RULE).verdict == "undetermined"
    assert judge(folder, AuditRule(holds_share=0.5)).verdict == "holds"
    assert "Holm per net" in RULE.text() and "does not hold" in RULE.text()


def _write_estimates(folder, trained, init, se=0.05, df=9):
    """summary.csv with saved log-ratio estimates (both null kinds alike) per layer."""
    rows = [{"net": "n", "state": state, "layer": f"l{i}", "verdict": "stale", "n_null": df + 1,
             **{f"log_ratio{s}_{k}": v for k in ("gaussian", "shuffle")
                for s, v in (("", lr), ("_se", se), ("_df", df))}}
            for state, lrs in (("trained", trained), ("random init", init))
            for i, lr in enumerate(lrs)]
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    return folder


def test_verdicts_are_redecided_with_the_rule_s_band_and_significance(tmp_path):
    import math

    # trained ratio ×1.8 (outside ×1.5, inside ×3); twins at ×1
    folder = _write_estimates(tmp_path, [math.log(1.8)] * 4, [0.0] * 4)
    assert judge(folder, RULE).verdict == "does not hold"
    assert judge(folder, AuditRule(factor=3.0)).verdict == "holds"
    # a wide estimate is decided at a lax significance, not at the default
    folder = _write_estimates(tmp_path, [math.log(1.8)], [0.0], se=0.1)
    assert judge(folder, RULE).verdict == "undetermined"
    assert judge(folder, AuditRule(significance=0.5)).verdict == "does not hold"


@pytest.mark.slow
def test_tiny_run_then_judge(tmp_path):
    ctx = Context(tmp_path, scale="tiny")
    out = audit_part(ctx)
    j = judge(tmp_path / "audit", RULE)
    assert j.verdict in ("holds", "does not hold", "undetermined")
    summary = pd.read_csv(tmp_path / "audit" / "summary.csv")
    assert set(summary["state"]) == {"trained", "random init"}
    assert (tmp_path / "audit" / out.figures[0]["path"]).exists()
