"""Part: training with shadow data against plain training, dropout and Gaussian input noise."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shadownets.report.base import Context, Judgement, PartOutput, register_part, reuse_mode
from shadownets.stats import Estimate

__all__ = ["TrainingRule", "RULE", "judge"]

NAME = "training"


@dataclass(frozen=True)
class TrainingRule:
    """Verdict rule on the comparisons ``reference − best other method`` (test error, paired
    over seeds, one per data set × budget) in ``diffs.csv``.

    Each comparison is a win / loss (difference from 0 shown, two-sided t test), a tie (shown
    within ``±margin``, TOST) or undetermined, with p-values Holm-adjusted over the family of
    all data sets × budgets (see :func:`shadownets.train.compare.family_verdicts`).
    """

    margin: float = 0.01  # smallest test-error difference that matters (0.01 = 1 point)
    alpha: float = 0.05  # family-wise error rate over data sets × budgets
    correction: str = "holm"  # "holm" or "none"
    power: float = 0.8  # target power of the "seeds needed" in the flip sentence
    reference: str = "shadow"  # the method the claim is about

    def text(self) -> str:
        adjusted = "Holm-adjusted" if self.correction == "holm" else "unadjusted"
        return (f"each {self.reference} − best-other-method comparison (test error, paired over "
                f"seeds; best other chosen on validation) is a win/loss if a difference from 0 "
                f"is shown, a tie if it is shown within ±{self.margin:g} (TOST), undetermined "
                f"otherwise; p-values {adjusted} over data sets × budgets at "
                f"α = {self.alpha:g}. Holds if {self.reference} wins at some budget and loses "
                f"at none; does not hold if it loses at some budget and wins at none, or ties "
                f"at every budget (no improvement on the best conventional method); "
                f"undetermined otherwise (too little power, or wins and losses mixed). The "
                f"'especially with few labels' part is reported (the budgets of the wins), not "
                f"tested separately.")


RULE = TrainingRule()


def _estimates(df: pd.DataFrame) -> list[Estimate]:
    """Estimates rebuilt from diffs.csv rows (sd = se·√n)."""
    return [Estimate(float(r.diff_mean), float(r.se), float(r.df), int(r.n_pairs),
                     float(r.se) * math.sqrt(int(r.n_pairs)) if int(r.n_pairs) > 0 else math.nan)
            for r in df.itertuples()]


def _fmt(x: float, spec: str = "+.3f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def _correction(rule: TrainingRule) -> str:
    return "Holm" if rule.correction == "holm" else "no correction"


def _label(row: Any) -> str:
    return f"{row.dataset}/{row.budget}"


def _seeds(folder: Path) -> list[int] | None:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        return [int(s) for s in summary["config"]["seeds"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def judge(folder: Path, rule: TrainingRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/diffs.csv`` (columns of
    :data:`shadownets.train.compare.DIFF_COLUMNS`; ``summary.json`` is read for the seeds).

    The decisions are recomputed from the file's means, standard errors and degrees of freedom
    with the rule's margin, α and correction (so the rule, not the run, sets the thresholds).
    """
    from shadownets.train.compare import family_verdicts

    folder = Path(folder)
    diffs = pd.read_csv(folder / "diffs.csv", dtype={"budget": str})
    best = diffs[(diffs["family"] == "best_other")
                 & (diffs["reference"] == rule.reference)].reset_index(drop=True)
    if best.empty:
        raise ValueError(f"{folder / 'diffs.csv'} has no best_other comparison of "
                         f"{rule.reference!r}")
    opts = {"margin": rule.margin, "alpha": rule.alpha, "correction": rule.correction,
            "power": rule.power}
    tests = family_verdicts(_estimates(best), **opts)
    best = pd.concat([best[["dataset", "budget", "n_labels", "other", "n_pairs"]], tests],
                     axis=1)
    outcome = {v: [_label(r) for r in best.itertuples() if r.verdict == v]
               for v in ("win", "loss", "tie", "undetermined")}
    wins, losses, ties, undet = (outcome[v] for v in ("win", "loss", "tie", "undetermined"))
    m = len(best)
    # descriptive: against plain training (the each_other family, adjusted over its own size)
    plain = diffs[(diffs["family"] == "each_other") & (diffs["reference"] == rule.reference)]
    plain_wins: list[str] = []
    n_plain = 0
    if not plain.empty:
        each = family_verdicts(_estimates(plain.reset_index(drop=True)), **opts)
        each = pd.concat([plain[["dataset", "budget", "other"]].reset_index(drop=True), each],
                         axis=1)
        vs_plain = each[each.other == "plain"]
        n_plain = len(vs_plain)
        plain_wins = [_label(r) for r in vs_plain.itertuples() if r.verdict == "win"]

    if wins and not losses:
        verdict = "holds"
    elif (losses and not wins) or len(ties) == m:
        verdict = "does not hold"
    else:
        verdict = "undetermined"

    seeds = _seeds(folder)
    n_pairs = sorted({int(n) for n in best.n_pairs})
    level = f"α/m = {rule.alpha / m:.4g}" if rule.correction == "holm" else f"α = {rule.alpha:g}"
    per = "; ".join(
        f"{_label(r)} vs {r.other}: {_fmt(r.diff_mean)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}], "
        f"p_diff(adj) {_fmt(r.p_diff_adj, '.3g')}, p_equiv(adj) {_fmt(r.p_equiv_adj, '.3g')}, "
        f"power {_fmt(r.power_diff, '.2f')} → {r.verdict}"
        for r in best.itertuples())
    evidence = (f"{rule.reference} − best other method (test error; 95% interval; paired over "
                f"{'/'.join(map(str, n_pairs))} seeds; {_correction(rule)} over {m} "
                f"comparison{'s' * (m != 1)}; "
                f"power to detect ±{rule.margin:g} at {level}): {per}. Wins {len(wins)}, losses "
                f"{len(losses)}, ties {len(ties)}, undetermined {len(undet)} of {m}.")
    if n_plain:
        evidence += (f" Against plain training (descriptive, {_correction(rule)} over all "
                     f"{len(plain)} comparisons with each other method): wins at "
                     f"{len(plain_wins)} of {n_plain} ({', '.join(plain_wins) or 'none'}).")

    def most(rows: pd.DataFrame, col: str) -> int | None:
        vals = rows[col].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        return int(vals.max()) if vals.size else None

    def needed(rows: pd.DataFrame, col: str) -> str:
        n = most(rows, col)
        return str(n) if n is not None else "more than 10000 (or an unknown number of)"

    undet_rows = best[best.verdict == "undetermined"]
    decide_rows = undet_rows if not undet_rows.empty else best
    if verdict == "holds":
        flip = (f"a loss shown against the best other method at any budget (with the wins at "
                f"{', '.join(wins)}) would make it undetermined; losses without those wins "
                f"would make it not hold.")
    elif verdict == "does not hold" and len(ties) == m:
        flip = (f"a win shown at any budget would make it hold: every comparison is shown "
                f"within ±{rule.margin:g} now, so this needs a true difference of about "
                f"{rule.margin:g} or more in a new run.")
    elif verdict == "does not hold":
        flip = (f"a win shown at some budget would make it undetermined (mixed); the losses at "
                f"{', '.join(losses)} would have to vanish for it to hold.")
    else:
        rows = decide_rows
        flip = (f"with {needed(rows, 'seeds_needed')} seeds a {rule.margin:g} difference would "
                f"be detectable at {rule.power:.0%} power at every undetermined comparison "
                f"(observed spread, {level}); equivalence within ±{rule.margin:g} would need "
                f"{needed(rows, 'seeds_needed_equiv')} seeds if the true difference were 0. "
                + (f"Wins ({', '.join(wins)}) and losses ({', '.join(losses)}) are mixed: "
                   f"resolving it needs one side to vanish." if wins and losses else
                   "A win with no loss would make it hold; a loss with no win, or ties "
                   "everywhere, would make it not hold."))
    numbers = {
        "margin": rule.margin, "alpha": rule.alpha, "correction": rule.correction,
        "n_comparisons": m, "seeds": seeds, "wins": wins, "losses": losses, "ties": ties,
        "undetermined": undet, "plain_wins": plain_wins,
        # seeds for `power` at the undetermined comparisons (all, if none): difference, TOST
        "seeds_needed": most(decide_rows, "seeds_needed"),
        "seeds_needed_equiv": most(decide_rows, "seeds_needed_equiv"),
        "comparisons": best[["dataset", "budget", "other", "n_pairs", "diff_mean", "ci_low",
                             "ci_high", "p_diff_adj", "p_equiv_adj", "power_diff",
                             "power_equiv", "seeds_needed", "seeds_needed_equiv", "verdict"]]
        .to_dict("records"),
    }
    return Judgement(verdict=verdict, evidence=evidence, numbers=numbers, flip=flip)


def _config(ctx: Context, rule: TrainingRule = RULE):
    from shadownets.train import DEFAULT_GRIDS, CompareConfig, TrainConfig

    first = {m: grid[:1] for m, grid in DEFAULT_GRIDS.items()}  # one candidate per method
    stats = {"margin": rule.margin, "alpha": rule.alpha, "correction": rule.correction,
             "power": rule.power, "reference": rule.reference}
    if ctx.scale == "tiny":
        base = TrainConfig(model="mlp", epochs=3, steps_per_epoch=5, data_seed=ctx.seed)
        grids = {**first, "shadow": [{**DEFAULT_GRIDS["shadow"][0], "warmup_epochs": 1}]}
        datasets, budgets, seeds = ("digits",), (50,), (0, 1)
    else:
        base = TrainConfig(model="lenet", epochs=30, steps_per_epoch=10, data_seed=ctx.seed)
        if ctx.scale == "quick":
            grids, datasets, budgets, seeds = DEFAULT_GRIDS, ("digits",), (50, 100, 300), \
                tuple(range(5))
        else:
            grids, datasets, budgets, seeds = first, ("digits", "fashion-mnist"), \
                (50, 100, 300, 1000), tuple(range(10))
    return CompareConfig(datasets=datasets, budgets=budgets, base=base, grids=grids,
                         seeds=tuple(ctx.seed + s for s in seeds), jobs=ctx.jobs, **stats)


@register_part(
    NAME, "Training with shadow data against plain, dropout and input noise", order=90,
    rule=RULE, judge=judge,
    claim="Adding shadow inputs (generated by the net's own reverse from each labeled input's "
          "hidden code, same label) improves training, especially with few labels.")
def training(ctx: Context) -> PartOutput:
    from shadownets.train import compare

    folder = ctx.part_dir(NAME)
    cfg = _config(ctx)
    compare(cfg, out_dir=folder, **reuse_mode(folder), progress=ctx.progress)
    b = cfg.base
    return PartOutput(
        tables=[{"title": "Test error per method (selected candidate, mean ± std over seeds)",
                 "path": "cells.csv"},
                {"title": f"Paired comparisons {cfg.reference} − other (test error): interval, "
                          f"Holm-adjusted p-values, power, verdicts", "path": "diffs.csv"}],
        figures=[{"title": "Test error against labels", "path": "error_vs_labels.png"}],
        notes=[f"Model {b.model}, {b.epochs} epochs × {b.steps_per_epoch} Adam steps for every "
               f"method and budget; hyper-parameters chosen on validation; seeds "
               f"{', '.join(map(str, cfg.seeds))}. A larger committed comparison (digits, "
               f"LeNet, 10 seeds, two candidates per method) is in "
               f"docs/results/training/ (docs/training.md)."],
    )
