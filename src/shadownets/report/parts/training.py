"""Part: training with shadow data, supervised and semi-supervised, against conventional
methods, as a study over data sets × architectures × label budgets
(:mod:`shadownets.train.study`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shadownets.report.base import Context, Judgement, PartOutput, register_part, reuse_mode

__all__ = ["TrainingRule", "RULE", "judge", "judge_comparison", "claim_verdict",
           "study_tables", "write_study_tables", "study_config"]

NAME = "training"


@dataclass(frozen=True)
class TrainingRule:
    """Verdict rule on ``reference − best other method`` comparisons (test error, paired over
    seeds): of one comparison (:func:`judge_comparison`, one per data set × budget in its
    ``diffs.csv``) or of a training study (:func:`judge`, one per use × architecture × data set
    × budget, :mod:`shadownets.train.study`).

    Each comparison is a win / loss (difference from 0 shown, two-sided t test), a tie (shown
    within ``±margin``, TOST) or undetermined, with p-values Holm-adjusted over the family (see
    :func:`shadownets.train.compare.family_verdicts`): all comparisons of the one comparison
    folder, or all comparisons of the whole study.
    """

    margin: float = 0.01  # smallest test-error difference that matters (0.01 = 1 point)
    alpha: float = 0.05  # family-wise error rate over the family's comparisons
    correction: str = "holm"  # "holm" or "none"
    power: float = 0.8  # target power of the "seeds needed" in the flip sentence
    reference: str = "shadow"  # the method a single comparison's claim is about

    def _comparisons(self, reference: str, over: str) -> str:
        adjusted = "Holm-adjusted" if self.correction == "holm" else "unadjusted"
        return (f"each {reference} − best-other-method comparison (test error, paired over "
                f"seeds; best other chosen on validation) is a win/loss if a difference from 0 "
                f"is shown, a tie if it is shown within ±{self.margin:g} (TOST), undetermined "
                f"otherwise; p-values {adjusted} over {over} at α = {self.alpha:g}.")

    def comparison_text(self) -> str:
        """The rule of :func:`judge_comparison` (one comparison folder), in words."""
        return (self._comparisons(self.reference, "data sets × budgets")
                + f" Holds if {self.reference} wins at some budget and loses "
                f"at none; does not hold if it loses at some budget and wins at none, or ties "
                f"at every budget (no improvement on the best conventional method); "
                f"undetermined otherwise (too little power, or wins and losses mixed). The "
                f"'especially with few labels' part is reported (the budgets of the wins), not "
                f"tested separately.")

    def text(self) -> str:
        """The rule of :func:`judge` (a training study, the report's part), in words."""
        return ("The study's comparisons are one per use (supervised: shadow data as extra "
                "labeled inputs; semi-supervised: shadow-consistency on unlabeled inputs) × "
                "architecture × data set × label budget: "
                + self._comparisons("reference", "all the study's comparisons together")
                + " A claim (one use × architecture) holds if its reference wins somewhere "
                "and loses nowhere; does not hold if it loses somewhere and wins nowhere, or "
                "ties everywhere (no improvement on the best conventional method); undetermined "
                "otherwise. Holds if some claim holds and none does not hold; does not hold "
                "if some claim does not hold and none holds; undetermined otherwise (no claim "
                "decided, or claims that disagree). The 'especially with few labels' part is "
                "reported (the budgets of the wins), not tested separately.")


RULE = TrainingRule()


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


def claim_verdict(verdicts: Sequence[str]) -> str:
    """The claim's verdict from its comparisons' (win / loss / tie / undetermined): holds if
    some win and no loss; does not hold if some loss and no win, or ties everywhere;
    undetermined otherwise."""
    wins, losses = "win" in verdicts, "loss" in verdicts
    if wins and not losses:
        return "holds"
    if (losses and not wins) or (verdicts and all(v == "tie" for v in verdicts)):
        return "does not hold"
    return "undetermined"


def judge_comparison(folder: Path, rule: TrainingRule = RULE) -> Judgement:
    """Apply ``rule`` to one comparison, ``folder/diffs.csv`` (columns of
    :data:`shadownets.train.compare.DIFF_COLUMNS`; ``summary.json`` is read for the seeds).

    The decisions are recomputed from the file's means, standard errors and degrees of freedom
    with the rule's margin, α and correction (so the rule, not the run, sets the thresholds).
    """
    from shadownets.train.compare import estimates_from_diffs, family_verdicts

    folder = Path(folder)
    diffs = pd.read_csv(folder / "diffs.csv", dtype={"budget": str})
    best = diffs[(diffs["family"] == "best_other")
                 & (diffs["reference"] == rule.reference)].reset_index(drop=True)
    if best.empty:
        raise ValueError(f"{folder / 'diffs.csv'} has no best_other comparison of "
                         f"{rule.reference!r}")
    opts = {"margin": rule.margin, "alpha": rule.alpha, "correction": rule.correction,
            "power": rule.power}
    tests = family_verdicts(estimates_from_diffs(best), **opts)
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
        each = family_verdicts(estimates_from_diffs(plain.reset_index(drop=True)), **opts)
        each = pd.concat([plain[["dataset", "budget", "other"]].reset_index(drop=True), each],
                         axis=1)
        vs_plain = each[each.other == "plain"]
        n_plain = len(vs_plain)
        plain_wins = [_label(r) for r in vs_plain.itertuples() if r.verdict == "win"]

    verdict = claim_verdict(list(best.verdict))

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


#: Columns of the study's ``claims.csv``.
CLAIM_COLUMNS = ["use", "arch", "datasets", "reference", "comparisons", "win", "loss", "tie",
                 "undetermined", "median_power", "verdict"]


def study_tables(folder: Path, rule: TrainingRule = RULE
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The study in ``folder`` (``study.json`` and ``<use>/<arch>/diffs.csv``) decided by
    ``rule``: every comparison (:func:`shadownets.train.study.comparisons_table`, Holm over all
    of them), one row per claim (:data:`CLAIM_COLUMNS`), and the ``study.json`` record."""
    from shadownets.train.study import comparisons_table, read_study

    record, paths, references = read_study(folder)
    table = comparisons_table(paths, references, margin=rule.margin, alpha=rule.alpha,
                              correction=rule.correction, power=rule.power)
    claims = []
    for (use, arch), rows in table.groupby(["use", "arch"], sort=False):
        counts = rows.verdict.value_counts()
        claims.append({"use": use, "arch": arch,
                       "datasets": ",".join(dict.fromkeys(rows.dataset)),
                       "reference": references[use], "comparisons": len(rows),
                       **{v: int(counts.get(v, 0)) for v in ("win", "loss", "tie",
                                                              "undetermined")},
                       "median_power": float(rows.power_diff.median()),
                       "verdict": claim_verdict(list(rows.verdict))})
    return table, pd.DataFrame(claims, columns=CLAIM_COLUMNS), record


def write_study_tables(folder: Path, rule: TrainingRule = RULE) -> Judgement:
    """Write :func:`study_tables` as ``folder/summary.csv`` (every comparison) and
    ``folder/claims.csv``, and :func:`judge`'s judgement with the rule as
    ``folder/judgement.json``; returns the judgement."""
    import dataclasses

    from shadownets.io import save_dataframe_csv, save_json

    folder = Path(folder)
    tables = study_tables(folder, rule)
    save_dataframe_csv(folder / "summary.csv", tables[0])
    save_dataframe_csv(folder / "claims.csv", tables[1])
    j = _judge_study(*tables, rule)
    save_json(folder / "judgement.json", {"rule": dataclasses.asdict(rule),
                                          "rule_text": rule.text(), **dataclasses.asdict(j)})
    return j


def judge(folder: Path, rule: TrainingRule = RULE) -> Judgement:
    """Apply ``rule`` to the training study in ``folder`` (:func:`study_tables`).

    The decisions are recomputed from the comparison files' means, standard errors and
    degrees of freedom with the rule's margin, α and correction (the rule, not the run, sets
    the thresholds).
    """
    return _judge_study(*study_tables(Path(folder), rule), rule)


def _judge_study(table: pd.DataFrame, claims: pd.DataFrame, record: dict[str, Any],
                 rule: TrainingRule) -> Judgement:
    m = len(table)
    decided = {v: [f"{r.use}/{r.arch}" for r in claims.itertuples() if r.verdict == v]
               for v in ("holds", "does not hold", "undetermined")}
    held, failed, open_ = (decided[v] for v in ("holds", "does not hold", "undetermined"))
    if held and not failed:
        verdict = "holds"
    elif failed and not held:
        verdict = "does not hold"
    else:
        verdict = "undetermined"
    level = (f"α/m = {rule.alpha / max(m, 1):.4g}" if rule.correction == "holm"
             else f"α = {rule.alpha:g}")
    n_pairs = sorted({int(n) for n in table.n_pairs})
    wins = [f"{r.use}/{r.arch}/{r.dataset}/{r.budget}" for r in table.itertuples()
            if r.verdict == "win"]
    losses = [f"{r.use}/{r.arch}/{r.dataset}/{r.budget}" for r in table.itertuples()
              if r.verdict == "loss"]
    per = "; ".join(f"{r.use}/{r.arch} ({r.reference}): {r.win} win, {r.loss} loss, {r.tie} "
                    f"tie, {r.undetermined} undetermined of {r.comparisons}, median power "
                    f"{_fmt(r.median_power, '.2f')} → {r.verdict}" for r in claims.itertuples())
    evidence = (f"{m} reference − best-other comparisons (test error; paired over "
                f"{'/'.join(map(str, n_pairs))} seeds; {_correction(rule)} over all {m}; power "
                f"to detect ±{rule.margin:g} at {level}). Claims: {per}. Wins at "
                f"{', '.join(wins) or 'none'}; losses at {', '.join(losses) or 'none'}.")
    undet = table[table.verdict == "undetermined"]
    rows = undet if not undet.empty else table

    def most(col: str) -> int | None:
        vals = rows[col].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        return int(vals.max()) if vals.size else None

    need, need_eq = most("seeds_needed"), most("seeds_needed_equiv")
    seeds_txt = (f"with {need if need is not None else 'more than 10000 (or an unknown number of)'}"
                 f" seeds a {rule.margin:g} difference would be detectable at {rule.power:.0%} "
                 f"power at every undetermined comparison (observed spread, {level})")
    if verdict == "holds":
        flip = (f"a claim shown not to hold (losses without wins, or ties everywhere) would "
                f"make it undetermined; today {', '.join(held)} hold(s), "
                f"{', '.join(open_) or 'none'} undetermined. {seeds_txt[0].upper()}"
                f"{seeds_txt[1:]}.")
    elif verdict == "does not hold":
        flip = (f"a claim shown to hold (wins without losses) would make it undetermined; "
                f"{', '.join(failed)} would have to be overturned for it to hold. "
                f"{seeds_txt[0].upper()}{seeds_txt[1:]}.")
    else:
        flip = (f"{seeds_txt[0].upper()}{seeds_txt[1:]}; equivalence within ±{rule.margin:g} "
                f"would need {need_eq if need_eq is not None else 'an unknown number of'} "
                f"seeds if the true difference were 0. "
                + (f"Claims disagree (hold: {', '.join(held)}; do not hold: "
                   f"{', '.join(failed)}): one side must be overturned." if held and failed
                   else "A claim that holds with none failing would make it hold; one that "
                        "fails with none holding, not hold."))
    numbers = {
        "margin": rule.margin, "alpha": rule.alpha, "correction": rule.correction,
        "n_comparisons": m, "seeds_run": record.get("seeds_run"),
        "seeds_needed_pilot": record.get("seeds_needed_max"),
        "claims": claims.to_dict("records"), "wins": wins, "losses": losses,
        "seeds_needed": need, "seeds_needed_equiv": need_eq,
        "comparisons": table.drop(columns=["se", "df"]).to_dict("records"),
    }
    return Judgement(verdict=verdict, evidence=evidence, numbers=numbers, flip=flip)


def study_config(ctx: Context, rule: TrainingRule = RULE):
    """The :class:`~shadownets.train.study.StudyConfig` of the part at ``ctx``'s scale: tiny
    (CI: an MLP on digits, 3 epochs), quick (every architecture and data set, 3 seeds, budget
    100, the first candidate of each grid) or full (the study of docs/training.md: budgets
    100 and 1000, every candidate, seeds from a 4-seed pilot up to 200)."""
    from shadownets.train.study import ARCHS, StudyConfig

    stats = {"margin": rule.margin, "alpha": rule.alpha, "power": rule.power,
             "first_seed": ctx.seed, "data_seed": ctx.seed, "jobs": ctx.jobs}
    if ctx.scale == "tiny":
        return StudyConfig(archs=(("mlp", ("digits",)),), budgets=(50,), seeds=2, epochs=3,
                           steps_per_epoch=5, grids="first", warmup_epochs=1, **stats)
    if ctx.scale == "quick":
        return StudyConfig(archs=ARCHS, budgets=(100,), seeds=3, grids="first", **stats)
    return StudyConfig(archs=ARCHS, budgets=(100, 1000), seeds=None, pilot_seeds=4,
                       max_seeds=200, **stats)


@register_part(
    NAME, "Training with shadow data, supervised and semi-supervised, against conventional "
          "methods", order=90, rule=RULE, judge=judge,
    claim="Adding shadow inputs (generated by the net's own reverse from each input's hidden "
          "code) improves training, especially with few labels: as extra labeled inputs "
          "(supervised), or as the perturbation of a consistency loss on unlabeled inputs "
          "(semi-supervised).")
def training(ctx: Context) -> PartOutput:
    from shadownets.train.study import run_study

    folder = ctx.part_dir(NAME)
    cfg = study_config(ctx)
    record = run_study(cfg, folder, progress=ctx.progress, reuse=reuse_mode)
    write_study_tables(folder)
    arch_text = "; ".join(f"{a} on {', '.join(d)}" for a, d in cfg.archs)
    grids = ("the first candidate of each method" if cfg.grids == "first" else
             "hyper-parameters chosen on validation from shadownets.train.DEFAULT_GRIDS")
    seeds = (f"{record['seeds_run']} seeds per comparison (fixed at this scale)"
             if cfg.seeds is not None else
             f"{record['seeds_run']} seeds per comparison, chosen from a "
             f"{cfg.pilot_seeds}-seed pilot that asked for {record['seeds_needed_max']} "
             f"(cap {cfg.max_seeds})")
    return PartOutput(
        tables=[{"title": "Claims per use × architecture (verdict under the study's rule)",
                 "path": "claims.csv"},
                {"title": "Every reference − best-other comparison (test error): interval, "
                          "p-values Holm-adjusted over the whole study, power, verdict",
                 "path": "summary.csv"}],
        figures=[{"title": f"Test error against labels: {use}, {arch}",
                  "path": f"{use}/{arch}/error_vs_labels.png"}
                 for use, arch in cfg.comparisons() if len(cfg.budgets) > 1],
        notes=[f"Architectures × data sets: {arch_text}. Label budgets "
               f"{', '.join(map(str, cfg.budgets))}; {cfg.epochs} epochs × "
               f"{cfg.steps_per_epoch} Adam steps for every method; "
               f"{grids}; {seeds}. Each use × architecture is one comparison folder "
               f"(<use>/<arch>/: runs, cells, diffs). The committed study with more seeds "
               f"and both budgets is docs/results/study (docs/training.md)."],
    )
