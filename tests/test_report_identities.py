"""The identities part's judge on crafted Monte-Carlo tables: each verdict is reachable."""

import pandas as pd
import pytest

from shadownets.report.base import Context
from shadownets.report.parts.identities import RULE, IdentitiesRule, identities, judge


def _write(tmp_path, rows):
    cols = ["identity", "setting", "expected", "measured", "std_error", "z", "holds", "n_draws"]
    df = pd.DataFrame([{"identity": "E[x] = h/2", "setting": f"s{i}", "expected": e,
                        "measured": m, "std_error": se, "z": (m - e) / se, "holds": True,
                        "n_draws": 1000} for i, (e, m, se) in enumerate(rows)], columns=cols)
    df.to_csv(tmp_path / "identities.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(("rows", "verdict"), [
    ([(0.5, 0.501, 0.001), (1.0, 0.998, 0.002)], "holds"),
    ([(0.5, 0.501, 0.001), (1.0, 1.10, 0.002)], "does not hold"),  # 10% off, shown
    ([(0.5, 0.501, 0.001), (1.0, 1.00, 0.05)], "undetermined"),  # too noisy for ±2%
    ([(0.5, 0.48, 0.001)], "does not hold"),  # 4% low
])
def test_each_verdict_is_reachable(tmp_path, rows, verdict):
    assert judge(_write(tmp_path, rows), RULE).verdict == verdict


def test_holm_makes_a_marginal_check_undetermined(tmp_path):
    # one check alone is shown inside ±2% at α = 0.05 (TOST p = 0.028), but two such checks
    # are not after Holm (the smaller p is doubled: 0.057)
    rows = [(1.0, 1.0, 0.0105)] * 2
    alone = judge(_write(tmp_path, rows[-1:]), RULE)
    family = judge(_write(tmp_path, rows), RULE)
    assert alone.verdict == "holds" and family.verdict == "undetermined"


def test_the_tolerance_is_the_rule_s(tmp_path):
    folder = _write(tmp_path, [(1.0, 1.03, 0.001)])
    assert judge(folder, RULE).verdict == "does not hold"
    assert judge(folder, IdentitiesRule(tolerance=0.05)).verdict == "holds"


def test_tiny_run_holds(tmp_path):
    ctx = Context(tmp_path, scale="tiny")
    identities(ctx)
    j = judge(tmp_path / "identities", RULE)
    assert j.verdict in ("holds", "undetermined") and j.numbers["n_outside"] == 0


def test_empty_tables_are_undetermined_not_a_crash(tmp_path):
    from shadownets.report import PARTS

    pd.DataFrame(columns=["identity", "setting", "expected", "measured", "std_error", "z",
                          "holds", "n_draws"]).to_csv(tmp_path / "identities.csv", index=False)
    assert judge(tmp_path, RULE).verdict == "undetermined"
    cos = tmp_path / "shadows"
    cos.mkdir()
    pd.DataFrame(columns=["net", "layer", "input", "cos_trained", "cos_init", "diff"]).to_csv(
        cos / "cosines.csv", index=False)
    assert PARTS["shadows"].judge(cos, PARTS["shadows"].rule).verdict == "undetermined"
