"""Comparison: data sets × label budgets × methods × seeds → verdicts a skeptic accepts.

Protocol (fixed before any number is seen):

1. For each (data set, budget, method) every candidate of the method's hyper-parameter grid
   is trained with every seed (evaluated once, after the last epoch). The candidate with the
   lowest mean VALIDATION error is selected; test errors are only read for the selected
   candidate. A candidate whose training diverged (non-finite loss) for any seed is never
   selected: it is listed under ``"diverged"`` in the summary, and a method all of whose
   candidates diverged has no cell.
2. The best other method of a (data set, budget) is the non-reference method whose selected
   candidate has the lowest mean validation error.
3. Per comparison, the paired differences ``reference − other`` of test errors over seeds
   (same seed = same label subset, same initial weights, same batch order) give a mean, a
   one-sample t standard error and an (unadjusted, descriptive) two-sided t interval at level
   ``confidence``, and two p-values (:mod:`shadownets.stats`): ``p_diff`` (two-sided t test
   of a zero difference) and ``p_equiv`` (TOST of equivalence within ``±margin``, the smallest
   difference that matters, declared in :class:`CompareConfig`).
4. Two families of comparisons, each adjusted by Holm's method over all its data sets ×
   budgets (× other methods): ``best_other`` — the reference against the best other method,
   one row per (data set, budget); ``each_other`` — the reference against every other method
   (the best one included, so its row appears in both families). ``p_diff`` and ``p_equiv``
   are adjusted separately, per type of conclusion (the chance of any false tie in the family
   is ≤ α, and so is the chance of any false win or loss).
5. Verdict of a comparison: ``tie`` when equivalence within ±margin is shown (Holm-adjusted
   ``p_equiv_adj < alpha``); else ``win`` / ``loss`` when a difference from 0 is shown
   (``p_diff_adj < alpha``) and it is negative / positive; else ``undetermined`` (the run had
   too little evidence either way — fewer than two seeds included).
6. Power, at the conservative Holm level ``alpha / m`` (``m`` = the family's size, the level
   of Holm's first step, so these are lower bounds): ``power_diff`` — of the two-sided t test
   to detect a true difference of ``margin``; ``power_equiv`` — of TOST to show equivalence
   if the true difference were 0 (exact, integrated over the sample variance); both with the
   observed standard deviation of the paired differences and the run's number of pairs.
   ``seeds_needed`` / ``seeds_needed_equiv``: the smallest number of seeds giving ``power``
   (default 80%) for each, at the same level and standard deviation.

Tables (tidy, column order as listed in :data:`RUNS_FILE_COLUMNS`, :data:`CELL_COLUMNS`,
:data:`DIFF_COLUMNS`) are written to ``runs.csv``, ``cells.csv``, ``diffs.csv``; the verdicts
(with margin, alpha, correction) to ``summary.json``; markdown tables to ``tables.md``; the
figure to ``error_vs_labels.png``.

``runs.csv`` holds :data:`RUN_COLUMNS` and then ``diverged`` (True: the loss became
non-finite; errors are NaN) and ``fingerprint`` (:func:`shadownets.rundir.fingerprint` of the
run's full TrainConfig, its data's identity and the code version).

The output folder and ``resume``. :func:`compare` claims ``out_dir`` first
(:func:`shadownets.rundir.claim`, kind ``"compare"``). The folder-level settings compared on
resume are the **base TrainConfig only**: data sets, budgets, methods, seeds and grids may
change on resume (each run is matched by its own fingerprint: a row of ``runs.csv`` is reused
only when the planned run's fingerprint is the same), and the analysis settings (reference,
confidence, margin, alpha, correction, power) may change too, since the summary is recomputed
from the runs every time. A resume with another base is refused, naming the first differing
setting. Finished runs that a resume's grid no longer contains (fewer seeds, other code) are
moved to ``runs_kept.csv``, never dropped; a later resume with them in its grid does not find
them there (they are kept for the record) and runs them again.

``diffs.csv`` columns: dataset, budget, n_labels; ``family`` (best_other | each_other);
reference, other, best_other (whether ``other`` is the best other method); n_pairs;
diff_mean, se, df (of the paired differences; error-rate units, 0.01 = 1 point); ci_low,
ci_high; p_diff, p_diff_adj, p_equiv, p_equiv_adj; family_size (m); power_diff, power_equiv,
seeds_needed, seeds_needed_equiv (empty when not computable); verdict.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shadownets import rundir
from shadownets.io import atomic_write_text, save_dataframe_csv, save_figure, save_json
from shadownets.progress import Progress
from shadownets.stats import (
    Estimate,
    holm,
    interval,
    n_for_power,
    power_difference,
    power_equivalence,
    region_tests,
    t_estimate,
)
from shadownets.train.config import (
    METHOD_FIELDS,
    METHODS,
    OPTIMIZER_FIELDS,
    SUPERVISED,
    TrainConfig,
)
from shadownets.train.executor import EXECUTORS, run_all

__all__ = [
    "DEFAULT_GRIDS",
    "CompareConfig",
    "CompareResult",
    "compare",
    "summarise",
    "paired_interval",
    "family_verdicts",
    "estimates_from_diffs",
    "FAMILIES",
    "CORRECTIONS",
    "COMPARISON_VERDICTS",
    "RUN_COLUMNS",
    "RUNS_FILE_COLUMNS",
    "CELL_COLUMNS",
    "DIFF_COLUMNS",
]

#: Hyper-parameter candidates per method (TrainConfig field overrides), chosen on validation.
#: The shadow candidates are the two best configurations found on digits validation data with
#: a LeNet (docs/training.md).
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "plain": [{}],
    "dropout": [{"dropout": 0.2}, {"dropout": 0.5}],
    "input-noise": [{"noise_std": 0.6}, {"noise_std": 1.0}],
    "shadow": [
        {"shadow_match": "rms", "shadow_rho": 0.3, "aug_weight": 0.5, "warmup_epochs": 10},
        {"shadow_match": "rms", "shadow_rho": 0.5, "aug_weight": 0.5, "warmup_epochs": 10,
         "n_aug": 2},
    ],
    # semi-supervised: one loss weight and schedule for all (λ = 1 after 10 warm-up epochs),
    # two strengths of each perturbation
    "shadow-consistency": [{"shadow_rho": rho, "aug_weight": 1.0, "warmup_epochs": 10}
                           for rho in (0.5, 0.3)],
    "pi-noise": [{"noise_std": s, "aug_weight": 1.0, "warmup_epochs": 10} for s in (0.5, 1.0)],
    "pi-dropout": [{"dropout": p, "aug_weight": 1.0, "warmup_epochs": 10} for p in (0.2, 0.5)],
    "pseudo-label": [{"pseudo_threshold": t, "aug_weight": 1.0, "warmup_epochs": 10}
                     for t in (0.95, 0.8)],
}

RUN_COLUMNS = ["dataset", "budget", "n_labels", "method", "candidate", "params", "seed",
               "val_error", "test_error", "val_loss", "test_loss", "train_loss"]
#: Columns of ``runs.csv``: :data:`RUN_COLUMNS`, then whether the run diverged and its
#: fingerprint (see the module docstring).
RUNS_FILE_COLUMNS = [*RUN_COLUMNS, "diverged", "fingerprint"]
CELL_COLUMNS = ["dataset", "budget", "n_labels", "method", "candidate", "params", "n_seeds",
                "val_error_mean", "test_error_mean", "test_error_std"]
DIFF_COLUMNS = ["dataset", "budget", "n_labels", "family", "reference", "other", "best_other",
                "n_pairs", "diff_mean", "se", "df", "ci_low", "ci_high", "p_diff", "p_diff_adj",
                "p_equiv", "p_equiv_adj", "family_size", "power_diff", "power_equiv",
                "seeds_needed", "seeds_needed_equiv", "verdict"]

#: The two families of comparisons (Holm is applied within each).
FAMILIES = ("best_other", "each_other")
#: Multiple-comparison corrections: Holm's step-down, or none (each test at level alpha).
CORRECTIONS = ("holm", "none")
#: Outcomes of one comparison.
COMPARISON_VERDICTS = ("win", "loss", "tie", "undetermined")


def _budget_label(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


@dataclass(frozen=True)
class CompareConfig:
    """The comparison grid. ``base`` holds everything common to all runs (model, epochs, ...)."""

    datasets: tuple[str, ...] = ("digits",)  # data sets (names known to load_dataset)
    budgets: tuple[int | None, ...] = (50, 100, 300, 1000)  # label budgets (None: all labels)
    methods: tuple[str, ...] = SUPERVISED  # methods compared: some of METHODS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # training seeds (paired over methods)
    base: TrainConfig = field(default_factory=TrainConfig)
    grids: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: dict(DEFAULT_GRIDS))
    reference: str = "shadow"  # the method whose paired differences are reported
    confidence: float = 0.95  # level of the (descriptive, unadjusted) intervals
    margin: float = 0.01  # smallest test-error difference that matters (0.01 = 1 point)
    alpha: float = 0.05  # family-wise error rate of each family (best other; each other)
    correction: str = "holm"  # "holm" or "none"
    power: float = 0.8  # target power for seeds_needed
    jobs: int = 1  # trainings run at once (local processes, or Ray tasks in flight)
    executor: str = "local"  # where they run: "local" (this machine) or "ray" (a Ray cluster)
    address: str | None = None  # Ray cluster address ("auto", "ray://head:10001"; none: local)
    threads: int | None = None  # torch threads per training (none: the cores / jobs)

    def __post_init__(self) -> None:
        for name in ("datasets", "budgets", "methods", "seeds"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"{name} must be a non-empty tuple; got {value!r}")
        for b in self.budgets:
            if b is not None and (not isinstance(b, int) or b < 1):
                raise ValueError(f"budgets must be positive ints or None (all); got {b!r}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"methods {bad} unknown; allowed: {', '.join(METHODS)}")
        if self.reference not in self.methods:
            raise ValueError(f"reference {self.reference!r} must be one of methods "
                             f"{list(self.methods)}")
        if len(set(self.seeds)) != len(self.seeds) or not all(
                isinstance(s, int) and s >= 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct non-negative ints; got {self.seeds!r}")
        if not isinstance(self.base, TrainConfig):
            raise ValueError(f"base must be a TrainConfig; got {type(self.base).__name__}")
        if not isinstance(self.grids, dict):
            raise ValueError(f"grids must be a dict of method -> list of dicts; got "
                             f"{self.grids!r}")
        unknown = [m for m in self.grids if m not in METHODS]
        if unknown:
            raise ValueError(f"grids: unknown methods {unknown}; allowed: {', '.join(METHODS)}")
        for name in ("confidence", "alpha", "power"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1); got {value!r}")
        if not (isinstance(self.margin, (int, float)) and math.isfinite(self.margin)
                and self.margin > 0):
            raise ValueError(f"margin must be a positive float (test-error units, 0.01 = 1 "
                             f"point); got {self.margin!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}; got "
                             f"{self.correction!r}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be an int >= 1; got {self.jobs!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got "
                             f"{self.executor!r}")
        if self.address is not None and self.executor != "ray":
            raise ValueError(f"address is the Ray cluster's (executor 'ray'); got address "
                             f"{self.address!r} with executor {self.executor!r}")
        if self.threads is not None and (isinstance(self.threads, bool)
                                         or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be an int >= 1 (or none); got {self.threads!r}")
        for method in dict.fromkeys([*self.methods, *self.grids]):
            for params in self.candidates(method):  # validates every candidate config
                self.base.replace(**params, method=method)

    def candidates(self, method: str) -> list[dict[str, Any]]:
        """The hyper-parameter candidates of ``method`` (``[{}]`` when it has no grid).

        Raises ``ValueError`` for an empty list, duplicates, fields set by the comparison
        (method, seed, dataset, n_labels) and fields the method (or optimizer) does not use.
        """
        if method not in self.grids:
            return [{}]
        grid = self.grids[method]
        if not isinstance(grid, list) or not all(isinstance(c, dict) for c in grid):
            raise ValueError(f"grids[{method!r}] must be a list of dicts; got {grid!r}")
        if not grid:
            raise ValueError(f"grids[{method!r}] is empty; give at least one candidate ({{}} "
                             "for the base settings) or leave the method out of the grid")
        texts = [json.dumps(c, sort_keys=True, default=str) for c in grid]
        if len(set(texts)) != len(texts):
            raise ValueError(f"grids[{method!r}] lists a candidate twice: {grid!r}")
        specific = {f for fields in METHOD_FIELDS.values() for f in fields}
        for cand in grid:
            fixed = {"method", "seed", "dataset", "n_labels", "eval_every"} & set(cand)
            if fixed:
                raise ValueError(f"grids[{method!r}] may not set {sorted(fixed)} (set by the "
                                 f"comparison)")
            unused = sorted((set(cand) & specific) - set(METHOD_FIELDS.get(method, ())))
            optimizer = cand.get("optimizer", self.base.optimizer)
            unused += sorted({"momentum"} & set(cand) - set(OPTIMIZER_FIELDS.get(optimizer, ())))
            if unused:
                raise ValueError(f"grids[{method!r}] sets {unused}, which method {method!r} "
                                 f"(optimizer {optimizer!r}) does not use; remove them")
        return grid

    def claim_config(self) -> dict[str, Any]:
        """The folder-level settings of a comparison (see the module docstring): the base."""
        return {"base": self.base.to_dict()}


@dataclass(frozen=True)
class CompareResult:
    """All tables of a comparison (DataFrames with the documented columns) and the summary."""

    runs: pd.DataFrame
    cells: pd.DataFrame
    diffs: pd.DataFrame
    summary: dict[str, Any]


def paired_interval(diff: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t interval of paired differences.

    Parameters
    ----------
    diff : sequence of float, length n
        Per-seed differences.
    confidence : float
        Interval level.

    Returns
    -------
    (mean, low, high) : floats; low/high are NaN when n < 2.
    """
    from scipy import stats

    d = np.asarray(diff, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half


@functools.cache
def _nan_if_none(value: int | None) -> float:
    return math.nan if value is None else float(value)


def estimates_from_diffs(df: pd.DataFrame) -> list[Estimate]:
    """The paired-difference estimates of ``diffs.csv`` rows (columns diff_mean, se, df,
    n_pairs; the standard deviation rebuilt as se·√n), for :func:`family_verdicts`."""
    return [Estimate(float(r.diff_mean), float(r.se), float(r.df), int(r.n_pairs),
                     float(r.se) * math.sqrt(int(r.n_pairs)) if int(r.n_pairs) > 0 else math.nan)
            for r in df.itertuples()]


def family_verdicts(estimates: Sequence[Estimate], *, margin: float = 0.01,
                    alpha: float = 0.05, correction: str = "holm", confidence: float = 0.95,
                    power: float = 0.8) -> pd.DataFrame:
    """Tests, Holm adjustment, verdicts and power of one family of paired comparisons.

    Parameters
    ----------
    estimates : sequence of Estimate, length m
        Mean paired differences ``reference − other`` (test error) with their t standard
        errors (:func:`shadownets.stats.t_estimate` of the per-seed differences).
    margin : float
        Smallest difference that matters; "tie" means shown inside ``±margin``.
    alpha : float
        Family-wise error rate (per kind of decision: ties; wins/losses).
    correction : {"holm", "none"}
    confidence : float
        Level of the descriptive (unadjusted) intervals.
    power : float
        Target power of ``seeds_needed`` / ``seeds_needed_equiv``.

    Returns
    -------
    DataFrame of shape (m, 15)
        Columns diff_mean, se, df, ci_low, ci_high, p_diff, p_diff_adj, p_equiv, p_equiv_adj,
        family_size, power_diff, power_equiv, seeds_needed, seeds_needed_equiv, verdict.
        ``family_size`` counts the comparisons with finite p-values (those Holm adjusts over);
        power is computed at level ``alpha / family_size`` with Holm (``alpha`` without).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}; got "
                         f"{correction!r}")
    rows = []
    for est in estimates:
        diff = region_tests(est, 0.0, 0.0)
        equiv = region_tests(est, -margin, margin)
        p_diff = min(1.0, 2.0 * min(diff["p_above"], diff["p_below"]))
        low, high = interval(est, confidence)
        rows.append({"diff_mean": est.mean, "se": est.se, "df": est.df, "ci_low": low,
                     "ci_high": high, "p_diff": p_diff, "p_equiv": equiv["p_inside"]})
    out = pd.DataFrame(rows, columns=["diff_mean", "se", "df", "ci_low", "ci_high", "p_diff",
                                      "p_equiv"])
    # Holm per type of conclusion: ties (p_equiv) and wins/losses (p_diff, two-sided), each
    # type's family-wise false-call rate <= alpha
    m = int(np.isfinite(out["p_diff"].to_numpy(dtype=float)).sum()) if len(out) else 0
    if correction == "holm":
        out["p_diff_adj"] = holm(out["p_diff"].to_numpy(dtype=float))
        out["p_equiv_adj"] = holm(out["p_equiv"].to_numpy(dtype=float))
    else:
        out["p_diff_adj"] = out["p_diff"].astype(float)
        out["p_equiv_adj"] = out["p_equiv"].astype(float)
    level = alpha / max(m, 1) if correction == "holm" else alpha
    out["family_size"] = m
    pw_d, pw_e, need_d, need_e, verdicts = [], [], [], [], []
    for est, (_, row) in zip(estimates, out.iterrows(), strict=True):
        sd = est.sd
        pw_d.append(power_difference(margin, sd, est.n, level))
        pw_e.append(power_equivalence(margin, sd, est.n, level))
        if np.isfinite(sd) and sd > 0:
            need_d.append(_nan_if_none(n_for_power(
                lambda n, sd=sd: power_difference(margin, sd, n, level), power)))
            need_e.append(_nan_if_none(n_for_power(
                lambda n, sd=sd: power_equivalence(margin, sd, n, level), power)))
        else:
            need_d.append(math.nan)
            need_e.append(math.nan)
        if np.isfinite(row.p_equiv_adj) and row.p_equiv_adj < alpha:
            verdicts.append("tie")
        elif np.isfinite(row.p_diff_adj) and row.p_diff_adj < alpha:
            verdicts.append("win" if row.diff_mean < 0 else "loss")
        else:
            verdicts.append("undetermined")
    out["power_diff"], out["power_equiv"] = pw_d, pw_e
    out["seeds_needed"], out["seeds_needed_equiv"] = need_d, need_e
    out["verdict"] = verdicts
    return out[["diff_mean", "se", "df", "ci_low", "ci_high", "p_diff", "p_diff_adj", "p_equiv",
                "p_equiv_adj", "family_size", "power_diff", "power_equiv", "seeds_needed",
                "seeds_needed_equiv", "verdict"]]


def _budget_key(budget: Any) -> tuple[bool, int]:
    text = str(budget)
    return (text == "all", int(text) if text.isdigit() else 0)


def summarise(runs: pd.DataFrame, reference: str = "shadow", confidence: float = 0.95, *,
              margin: float = 0.01, alpha: float = 0.05, correction: str = "holm",
              power: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Select candidates on validation, then build cells, paired comparisons and verdicts.

    Parameters
    ----------
    runs : DataFrame with :data:`RUN_COLUMNS` (and optionally ``diverged``)
        A candidate with a diverged run (any seed) is not selected.
    reference : str
        Method compared with the others.
    confidence : float
        Level of the descriptive intervals.
    margin, alpha, correction, power
        As in :class:`CompareConfig` (see :func:`family_verdicts`).

    Returns
    -------
    cells : DataFrame with :data:`CELL_COLUMNS` (selected candidates only)
    diffs : DataFrame with :data:`DIFF_COLUMNS`
        The ``best_other`` family (one row per data set and budget), then the ``each_other``
        family (one row per data set, budget and other method).
    summary : dict
        ``{"reference", "confidence", "margin", "alpha", "correction", "power", "families",
        "verdicts": [best_other rows], "selected": ..., "diverged": [candidates with a
        diverged run: dataset, budget, method, candidate, params, seeds], "no_cell":
        [dataset, budget, method whose every candidate diverged]}``
    """
    keys = ["dataset", "budget", "n_labels", "method", "candidate", "params"]
    flags = (runs["diverged"].fillna(False).astype(bool) if "diverged" in runs.columns
             else pd.Series(False, index=runs.index))
    bad = runs[flags].groupby(keys, sort=False).seed.agg(lambda s: sorted(int(v) for v in s))
    diverged = [{"dataset": k[0], "budget": k[1], "method": k[3], "candidate": int(k[4]),
                 "params": k[5], "seeds": seeds} for k, seeds in bad.items()]
    bad_keys = set(bad.index)
    valid = runs[[tuple(r) not in bad_keys for r in runs[keys].itertuples(index=False)]]
    no_cell = [{"dataset": d, "budget": b, "method": m} for (d, b, m) in
               dict.fromkeys(map(tuple, runs[["dataset", "budget", "method"]].to_numpy()))
               if not ((valid.dataset == d) & (valid.budget == b) & (valid.method == m)).any()]
    runs = valid
    agg = (runs.groupby(keys, sort=False)
           .agg(n_seeds=("seed", "nunique"), val_error_mean=("val_error", "mean"),
                test_error_mean=("test_error", "mean"), test_error_std=("test_error", "std"))
           .reset_index())
    best = agg.loc[agg.groupby(["dataset", "budget", "method"], sort=False)["val_error_mean"]
                   .idxmin()]
    cells = best[CELL_COLUMNS].reset_index(drop=True)
    base_rows: list[dict[str, Any]] = []
    estimates: list[Estimate] = []
    for (dataset, budget), cell in cells.groupby(["dataset", "budget"], sort=False):
        ref = cell[cell.method == reference]
        others = cell[cell.method != reference]
        if ref.empty or others.empty:
            continue
        best_other = others.loc[others.val_error_mean.idxmin(), "method"]
        ref_runs = _selected_runs(runs, ref.iloc[0])
        for _, other in others.iterrows():
            paired = ref_runs.merge(_selected_runs(runs, other), left_index=True,
                                    right_index=True, suffixes=("_ref", ""))
            est = t_estimate(paired.test_error_ref - paired.test_error)
            estimates.append(est)
            base_rows.append({"dataset": dataset, "budget": budget,
                              "n_labels": int(ref.iloc[0].n_labels), "reference": reference,
                              "other": other.method, "best_other": other.method == best_other,
                              "n_pairs": est.n})  # finite differences only (NaN runs dropped)
    opts = {"margin": margin, "alpha": alpha, "correction": correction,
            "confidence": confidence, "power": power}
    parts = []
    for family in FAMILIES:
        idx = [i for i, r in enumerate(base_rows) if family == "each_other" or r["best_other"]]
        if not idx:
            continue
        left = pd.DataFrame([base_rows[i] for i in idx]).assign(family=family)
        right = family_verdicts([estimates[i] for i in idx], **opts)
        parts.append(pd.concat([left.reset_index(drop=True), right], axis=1))
    diffs = (pd.concat(parts, ignore_index=True)[DIFF_COLUMNS] if parts
             else pd.DataFrame(columns=DIFF_COLUMNS))
    if len(diffs):
        datasets = list(dict.fromkeys(diffs.dataset))
        order = diffs.assign(_f=diffs.family.map(FAMILIES.index),
                             _d=diffs.dataset.map(datasets.index),
                             _b=diffs.budget.map(_budget_key))
        diffs = (order.sort_values(["_f", "_d", "_b"], kind="stable")
                 .drop(columns=["_f", "_d", "_b"]).reset_index(drop=True))
    level = "alpha / family_size" if correction == "holm" else "alpha"
    adjusted = "Holm-adjusted within each family" if correction == "holm" else "unadjusted"
    summary = {"reference": reference, "confidence": confidence, "margin": margin,
               "alpha": alpha, "correction": correction, "power": power,
               "decision": (f"tie if shown within ±margin (TOST), else win/loss if a difference "
                            f"from 0 is shown (two-sided t test), else undetermined; p-values "
                            f"{adjusted}, at level alpha; power at level {level} for a true "
                            f"difference of margin (difference) and of 0 (equivalence)"),
               "families": {"best_other": "reference − best other method (by validation), "
                                          "one per data set × budget",
                            "each_other": "reference − every other method, one per data set "
                                          "× budget × other method"},
               "selection": "lowest mean validation error; best other method by validation",
               "verdicts": diffs[diffs.family == "best_other"].to_dict("records"),
               "selected": cells[["dataset", "budget", "method", "params"]].to_dict("records"),
               "diverged": diverged, "no_cell": no_cell}
    return cells, diffs, summary


def _selected_runs(runs: pd.DataFrame, cell: pd.Series) -> pd.DataFrame:
    sel = runs[(runs.dataset == cell.dataset) & (runs.budget == cell.budget)
               & (runs.method == cell.method) & (runs.candidate == cell.candidate)]
    return sel.set_index("seed")[["test_error"]]


def _key(row: dict[str, Any]) -> tuple:
    """Identity of a run: data set, budget, method, candidate index, its params, seed."""
    return (row["dataset"], str(row["budget"]), row["method"], int(row["candidate"]),
            json.dumps(json.loads(row["params"]), sort_keys=True), int(row["seed"]))


@dataclass(frozen=True)
class _Planned:
    """One run of the grid."""

    key: tuple
    cfg: TrainConfig
    budget: str
    n_used: int
    candidate: int
    params: dict[str, Any]
    fingerprint: str


def _run_row(run: _Planned, final: dict[str, float] | None) -> dict[str, Any]:
    """The runs.csv row of a run; ``final`` None: it diverged (errors NaN)."""
    cfg = run.cfg
    final = final or {}
    return {"dataset": cfg.dataset, "budget": run.budget, "n_labels": run.n_used,
            "method": cfg.method, "candidate": run.candidate,
            "params": json.dumps(run.params, sort_keys=True), "seed": cfg.seed,
            **{k: final.get(k, math.nan) for k in ("val_error", "test_error", "val_loss",
                                                    "test_loss", "train_loss")},
            "diverged": not final, "fingerprint": run.fingerprint}


def _plan(config: CompareConfig, data: dict[str, Any],
          identities: dict[str, Any], code: str) -> list[_Planned]:
    plan = []
    for dataset in config.datasets:
        n_train = int(data[dataset].y_train.shape[0])
        for budget in config.budgets:
            label = _budget_label(budget)
            n_used = n_train if budget is None else min(budget, n_train)
            for method in config.methods:
                for cand, params in enumerate(config.candidates(method)):
                    for seed in config.seeds:
                        cfg = config.base.replace(**params, dataset=dataset, method=method,
                                                  n_labels=budget, seed=seed,
                                                  eval_every=config.base.epochs)
                        fp = rundir.fingerprint("train", {"train": cfg.to_dict(),
                                                          "data": identities[dataset]}, code)
                        key = (dataset, label, method, cand, json.dumps(params, sort_keys=True),
                               seed)
                        plan.append(_Planned(key, cfg, label, n_used, cand, params, fp))
    return plan


def _load_all(config: CompareConfig, splits: dict[str, Any] | None) -> dict[str, Any]:
    data = {}
    for dataset in config.datasets:
        data[dataset] = (splits or {}).get(dataset)
        if data[dataset] is None:
            from shadownets.data import load_dataset

            b = config.base
            data[dataset] = load_dataset(dataset, data_dir=b.data_dir, download=b.download,
                                         seed=b.data_seed, val_size=b.val_size)
    return data


def _old_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of a previous ``runs.csv`` (none without one)."""
    return _old_rows_file(out / "runs.csv")


def _old_rows_file(path: Path) -> list[dict[str, Any]]:
    """The reusable rows of a runs CSV (none without one)."""
    if not path.is_file():
        return []
    old = pd.read_csv(path, dtype={"budget": str, "params": str, "fingerprint": str})
    if "fingerprint" not in old.columns:  # written before runs carried fingerprints
        return []
    old["diverged"] = old.get("diverged", False)
    ok = old["params"].map(lambda p: isinstance(p, str)) & old["fingerprint"].map(
        lambda f: isinstance(f, str))  # a damaged row is not reused (it is re-run)
    return old[ok].to_dict("records")


def compare(config: CompareConfig, *, out_dir: str | os.PathLike | None = None,
            resume: bool = False, overwrite: bool = False,
            splits: dict[str, Any] | None = None,
            on_run: Callable[[dict[str, Any]], None] | None = None,
            progress: bool = False) -> CompareResult:
    """Run the whole comparison grid and summarise it.

    The trainings are independent; ``config.jobs``, ``config.executor`` (``"local"``
    processes or ``"ray"``), ``config.address`` and ``config.threads`` say where they run
    (:mod:`shadownets.train.executor`). The results do not depend on it: every run is seeded
    by its config, rows are kept in grid order, and the same ``threads`` give the same
    numbers as a serial run.

    Parameters
    ----------
    config : CompareConfig
    out_dir : path-like, optional
        Where runs.csv (rewritten after every run), cells.csv, diffs.csv, summary.json and
        error_vs_labels.png go. Claimed first (:func:`shadownets.rundir.claim`, kind
        ``"compare"``, settings :meth:`CompareConfig.claim_config`): a folder holding a run is
        refused unless ``resume`` or ``overwrite``.
    resume : bool, default False
        Reuse the runs already in ``out_dir/runs.csv`` whose fingerprint (full TrainConfig,
        data identity, code version) matches a planned run (continue a killed comparison,
        add seeds, budgets or candidates, or re-summarise with other analysis settings);
        rows of that file that are not in this grid are dropped. A different base
        TrainConfig is refused.
    overwrite : bool, default False
        Replace the comparison in ``out_dir`` (removed once the data are loaded).
    splits : dict of str to DataSplits, optional
        Pre-loaded data per data-set name (default: ``load_dataset`` with ``config.base``).
    on_run : callable, optional
        Called with each finished run's row, in the order runs finish.
    progress : bool, default False
        Show runs done / total with an ETA on stderr (:class:`shadownets.progress.Progress`).

    Returns
    -------
    CompareResult
    """
    if not isinstance(config, CompareConfig):
        raise ValueError(f"config must be a CompareConfig; got {type(config).__name__}")
    from shadownets.train.loop import (
        _build_model,
        _check_names,
    )

    if overwrite and out_dir is None:
        raise ValueError("overwrite=True needs out_dir (the comparison folder to replace)")
    if resume and overwrite:
        raise rundir.OutDirError("give at most one of --resume and --overwrite")
    models = {config.base.model} | {c.get("model", config.base.model) for m in config.methods
                                    for c in config.candidates(m)}
    for model in sorted(models):
        _check_names(model, [d for d in config.datasets if d not in (splits or {})])
    out = Path(out_dir) if out_dir is not None else None
    data: dict[str, Any] = {}
    if overwrite:  # everything that can fail before the old comparison is removed
        data = _load_all(config, splits)
        _build_model(config.base, data[config.datasets[0]])
    claim = None
    if out is not None:
        claim = rundir.claim(out, kind="compare", config=config.claim_config(),
                             resume=resume, overwrite=overwrite)
    try:
        return _compare(config, out, claim, resume, data or _load_all(config, splits), on_run,
                        progress)
    except BaseException:
        if claim is not None:  # a replaced comparison is put back; a fresh empty claim undone
            claim.abandon()
        raise


def _compare(config: CompareConfig, out: Path | None, claim: rundir.Claim | None, resume: bool,
             data: dict[str, Any],
             on_run: Callable[[dict[str, Any]], None] | None,
             progress: bool) -> CompareResult:
    from shadownets.train.loop import data_identity

    identities = {name: data_identity(d) for name, d in data.items()}
    if claim is not None:
        claim.check_data(identities, partial=True)  # data sets may be added on resume
    code = rundir.code_version()
    plan = _plan(config, data, identities, code)
    wanted = {run.key: run.fingerprint for run in plan}
    rows: list[dict[str, Any]] = []
    if resume and out is not None:
        previous = _old_rows(out)
        rows = [r for r in previous
                if wanted.get(_key(r)) == r["fingerprint"]]  # same run, same settings only
        # finished runs outside this grid (fewer seeds, other code) are kept, not dropped
        kept = [r for r in previous if wanted.get(_key(r)) != r["fingerprint"]]
        if kept:
            old_kept = _old_rows_file(out / "runs_kept.csv")
            seen = {(_key(r), r["fingerprint"]) for r in kept}
            kept += [r for r in old_kept if (_key(r), r["fingerprint"]) not in seen]
            save_dataframe_csv(out / "runs_kept.csv", pd.DataFrame(kept,
                                                                   columns=RUNS_FILE_COLUMNS))
    done = {_key(r) for r in rows}
    todo = [run for run in plan if run.key not in done]
    order = {run.key: i for i, run in enumerate(plan)}

    def in_plan_order(records: list[dict[str, Any]]) -> pd.DataFrame:
        ranked = sorted(records, key=lambda r: order.get(_key(r), len(order)))
        return pd.DataFrame(ranked, columns=RUNS_FILE_COLUMNS)

    finished = run_all([run.cfg for run in todo], data, jobs=config.jobs,
                       executor=config.executor, address=config.address,
                       threads=config.threads)
    with Progress(len(todo), label="compare", enabled=progress) as bar:
        try:
            for i, final in finished:
                row = _run_row(todo[i], final)
                rows.append(row)
                if out is not None:  # every finished run is on disk before the next one
                    save_dataframe_csv(out / "runs.csv", in_plan_order(rows))
                bar.advance()
                if on_run is not None:
                    on_run(row)
        finally:
            finished.close()  # an interrupted comparison cancels the runs not yet started
    rows = in_plan_order(rows).to_dict("records")
    runs = pd.DataFrame(rows, columns=RUNS_FILE_COLUMNS)
    runs["budget"] = runs["budget"].astype(str)
    runs["diverged"] = runs["diverged"].astype(bool)
    cells, diffs, summary = summarise(runs, config.reference, config.confidence,
                                      margin=config.margin, alpha=config.alpha,
                                      correction=config.correction, power=config.power)
    summary["config"] = {"datasets": config.datasets, "budgets": config.budgets,
                         "methods": config.methods, "seeds": config.seeds,
                         "base": config.base.to_dict(), "grids": config.grids}
    if out is not None:
        from shadownets.train.plots import plot_error_vs_labels
        from shadownets.train.tables import candidates_table, markdown_tables

        save_dataframe_csv(out / "runs.csv", runs)
        save_dataframe_csv(out / "cells.csv", cells)
        save_dataframe_csv(out / "diffs.csv", diffs)
        save_json(out / "summary.json", summary)
        atomic_write_text(out / "tables.md", markdown_tables(cells, diffs) + "\n"
                          + candidates_table(runs))
        save_figure(out / "error_vs_labels.png", plot_error_vs_labels(cells))
    if claim is not None:
        claim.finish(plan=summary["config"],
                     analysis={k: summary[k] for k in ("reference", "confidence", "margin",
                                                      "alpha", "correction", "power")},
                     runs=len(runs), diverged=int(runs["diverged"].sum()))
    return CompareResult(runs=runs, cells=cells, diffs=diffs, summary=summary)
