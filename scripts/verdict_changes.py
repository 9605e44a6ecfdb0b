"""Write docs/results/verdict_changes.csv: each report part's verdict before and after the
verdict rules of issue 9 (three-valued, declared thresholds, Holm, power).

    python scripts/verdict_changes.py

"before" is read from docs/results/verdicts_before_issue9.json (docs/report/verdicts.json as
committed before the change, `git show 4e4ff72:docs/report/verdicts.json`); "after" from the
committed quick report, docs/report/verdicts.json. The "why" column is the one written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from shadownets.io import save_dataframe_csv

ROOT = Path(__file__).resolve().parents[1]

WHY = {
    "theorem": "the slope band [0.7, 1.2] became a test of one constant across the grid (drift "
               "of err/(k·ln m/(ρn)) in n) and of the slope's own interval",
    "bias": "'calibrated beats none' was true by construction (c = 0 is in the calibration "
            "grid); now calibrated vs the oracle and vs the theory constant, paired, with TOST",
    "depth": "'partly' only needed every error below 1; now each depth's top-layer error is "
             "tested against a declared level with intervals and Holm",
    "sparse": "shares of a handful of pairs became a paired test per degree (TOST at ×1.5), "
              "decided at the degrees the claim speaks for (d·k/m ≥ 2)",
    "baselines": "speed alone became the error–time plane: speed ratio and error at matched time",
    "identities": "|z| < 4 per check became equivalence within ±2% (TOST), Holm across checks",
    "audit": "an interval that merely met the band counted as random-like; now random-like "
             "needs the confidence interval of the ratio to the typical null net inside the "
             "band and worse/better the prediction interval outside it, the interval no longer "
             "counts input noise twice, BatchNorm nulls are re-normalised, Holm per net, and a "
             "twin decided non-random voids the run",
    "shadows": "'≥ 50% of 12 pairs' became paired per-input tests of the cosine difference "
               "against ±0.02 with Holm",
    "training": "'tie' for any interval straddling 0 became equivalence within ±1 point, "
                "Holm across budgets and the power of each comparison",
}


def table() -> pd.DataFrame:
    """The table as the committed files give it."""
    before = {v["name"]: v["verdict"] for v in json.loads(
        (ROOT / "docs/results/verdicts_before_issue9.json").read_text(encoding="utf-8"))}
    after = {v["name"]: v["verdict"] for v in json.loads(
        (ROOT / "docs/report/verdicts.json").read_text(encoding="utf-8"))}
    rows = [{"part": name, "before": before.get(name, ""), "after": after.get(name, ""),
             "why the rule changed": WHY[name]} for name in WHY]
    return pd.DataFrame(rows)


def main() -> None:
    path = save_dataframe_csv(ROOT / "docs/results/verdict_changes.csv", table())
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
