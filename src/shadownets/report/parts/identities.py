"""Part: the identities behind α = 2/(ρn), checked by Monte Carlo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.stats import Estimate, decide_regions, region_tests
from shadownets.theory.identities import identity_table

__all__ = ["IdentitiesRule", "RULE", "judge"]


@dataclass(frozen=True)
class IdentitiesRule:
    """Each check's measured/expected − 1 is compared with the band ±``tolerance`` (normal
    sampling distribution from its Monte-Carlo standard error), Holm-adjusted across checks
    (all three tests of every check in one family, so that any false decision has probability
    at most ``alpha``)."""

    tolerance: float = 0.02  # relative deviation that still counts as "the identity holds"
    alpha: float = 0.05  # family-wise error rate across the checks (Holm)

    def text(self) -> str:
        return (f"each check's relative deviation measured/expected − 1 is tested against "
                f"±{self.tolerance:.0%} (TOST inside, one-sided outside; normal, from its "
                f"Monte-Carlo standard error), Holm across checks at α = {self.alpha}. Holds "
                f"if every check is shown inside ±{self.tolerance:.0%}; does not hold if any "
                f"is shown outside; undetermined otherwise.")


RULE = IdentitiesRule()


def judge(folder: Path, rule: IdentitiesRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/identities.csv`` (columns of
    :data:`shadownets.theory.identities.IDENTITY_COLUMNS`)."""
    df = pd.read_csv(Path(folder) / "identities.csv")
    if df.empty:
        return Judgement("undetermined", "the Monte-Carlo table has no checks.",
                         {"n_checks": 0}, "a run that writes its checks.")
    rel = df["measured"] / df["expected"] - 1.0
    se = df["std_error"] / df["expected"].abs()
    tests = [region_tests(Estimate(float(r), float(s), np.inf, int(n), np.nan),
                          -rule.tolerance, rule.tolerance)
             for r, s, n in zip(rel, se, df["n_draws"], strict=True)]
    outcome, _ = decide_regions(tests, rule.alpha)
    n_in = outcome.count("inside")
    n_out = sum(o in ("above", "below") for o in outcome)
    worst = int(np.argmax(rel.abs().to_numpy()))
    if n_out:
        verdict = "does not hold"
        flip = "nothing short of a code change: a shown deviation is a wrong identity or a bug."
    elif n_in == len(df):
        verdict = "holds"
        flip = (f"a check whose deviation is shown to exceed ±{rule.tolerance:.0%} (the largest "
                f"here is {rel.iloc[worst]:+.2%}).")
    else:
        verdict = "undetermined"
        flip = "more Monte-Carlo draws for the undetermined checks (their standard error is " \
               "too large for the tolerance)."
    return Judgement(
        verdict=verdict,
        evidence=(f"{n_in} of {len(df)} checks shown within ±{rule.tolerance:.0%} of the "
                  f"predicted value, {n_out} shown outside (Holm, α = {rule.alpha}); largest "
                  f"deviation {rel.iloc[worst]:+.2%} ± {se.iloc[worst]:.2%} "
                  f"({df['identity'].iloc[worst]}, {df['setting'].iloc[worst]})."),
        numbers={"n_checks": len(df), "n_inside": n_in, "n_outside": n_out,
                 "max_abs_rel_dev": float(rel.abs().max()), "outcomes": outcome},
        flip=flip,
    )


@register_part(
    "identities", "The identities behind α = 2/(ρn), by Monte Carlo", order=60, rule=RULE,
    judge=judge,
    claim="E[w·ReLU(wh + ξ)] = h/2 (Stein), hence α = 2/(ρn) makes E[Wᵀx] = h, and "
          "E‖x‖² = 2‖h‖²/(ρn) — for Gaussian and for sparse ±1/Gaussian weights.")
def identities(ctx: Context) -> PartOutput:
    folder = ctx.part_dir("identities")
    df = identity_table(n_draws=ctx.pick(400_000, 4_000_000, 20_000_000),
                        n_nets=ctx.pick(4, 40, 200), batch=ctx.pick(20, 100, 200),
                        seed=ctx.seed)
    save_dataframe_csv(folder / "identities.csv", df)
    return PartOutput(tables=[{"title": "Monte-Carlo checks", "path": "identities.csv"}])
