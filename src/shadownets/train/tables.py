"""Markdown tables of a comparison (what docs/training.md and the README show)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

__all__ = ["markdown_tables", "candidates_table"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))]
    lines += [_row(r) for r in rows]
    return "\n".join(lines)


def _params(text: str) -> str:
    params = json.loads(text) if isinstance(text, str) and text else {}
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "—"


def _budget_order(values: pd.Series) -> list[str]:
    return sorted(dict.fromkeys(values), key=lambda b: (b == "all", int(b) if b != "all" else 0))


def candidates_table(runs: pd.DataFrame, digits: int = 3) -> str:
    """Mean VALIDATION error of every candidate (rows) per data set and budget (columns).

    Parameters
    ----------
    runs : DataFrame with :data:`shadownets.train.compare.RUN_COLUMNS`
    digits : int

    Returns
    -------
    str
        Markdown; rows sorted by the mean over budgets (best first). Test errors are not shown:
        this is the evidence the selection used. A cell whose runs diverged (non-finite loss;
        never selected) reads ``diverged``.
    """
    runs = runs.assign(budget=runs.budget.astype(str))
    if "diverged" not in runs.columns:
        runs = runs.assign(diverged=False)
    fmt = f"{{:.{digits}f}}"
    out: list[str] = []
    for dataset in dict.fromkeys(runs.dataset):
        sub = runs[runs.dataset == dataset]
        budgets = _budget_order(sub.budget)
        grouped = sub.groupby(["method", "candidate", "params", "budget"], sort=False)
        table = grouped.val_error.mean().unstack("budget")[budgets]
        bad = grouped.diverged.any().unstack("budget")[budgets].fillna(False).astype(bool)
        table["mean"] = table.mean(axis=1)
        table = table.sort_values("mean", na_position="last")
        bad = bad.loc[table.index]
        seeds = sub.seed.nunique()
        out.append(f"### {dataset}: mean validation error of every candidate ({seeds} seeds)\n")
        flags = np.column_stack([bad.to_numpy(), np.zeros(len(bad), dtype=bool)])
        rows = [[method, _params(params),
                 *["diverged" if f else fmt.format(v) for v, f in zip(vals, fl, strict=True)]]
                for (method, _, params), vals, fl in zip(table.index, table.to_numpy(), flags,
                                                         strict=True)]
        out.append(_table(["method", "hyper-parameters", *budgets, "mean"], rows))
        out.append("\n")
    return "\n".join(out).rstrip() + "\n"


def _fmt(value: float, spec: str) -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _family_title(fsub: pd.DataFrame) -> str:
    d = fsub.iloc[0]
    what = "best other method" if d.family == "best_other" else "each other method"
    return (f"paired test-error difference {d.reference} − {what} (p-values adjusted over the "
            f"family's {int(d.family_size)} comparisons; tie = shown within the margin)")


def _diff_table(fsub: pd.DataFrame, digits: int) -> str:
    rows = []
    for budget in _budget_order(fsub.budget):
        for _, d in fsub[fsub.budget == budget].iterrows():
            mark = " (best other)" if bool(d.best_other) and d.family != "best_other" else ""
            rows.append([budget, f"{d.other}{mark}", str(int(d.n_pairs)),
                         _fmt(d.diff_mean, f"+.{digits}f"),
                         f"[{_fmt(d.ci_low, f'+.{digits}f')}, {_fmt(d.ci_high, f'+.{digits}f')}]",
                         _fmt(d.p_diff_adj, ".3f"), _fmt(d.p_equiv_adj, ".3f"),
                         _fmt(d.power_diff, ".2f"), _fmt(d.seeds_needed, ".0f"),
                         f"**{d.verdict}**"])
    return _table(["budget", "other method", "pairs", "mean diff", "95% CI", "p diff (adj.)",
                   "p equiv. (adj.)", "power at ±margin", "seeds for 80%", "verdict"], rows)


def markdown_tables(cells: pd.DataFrame, diffs: pd.DataFrame, digits: int = 3) -> str:
    """Per data set: test error (mean ± std over seeds) of each method's selected candidate,
    the selected hyper-parameters, and the paired comparisons reference − other (one table
    per family: best other method, each other method) with Holm-adjusted p-values, power and
    verdicts.

    Parameters
    ----------
    cells : DataFrame with :data:`shadownets.train.compare.CELL_COLUMNS`
    diffs : DataFrame with :data:`shadownets.train.compare.DIFF_COLUMNS`
    digits : int
        Decimals of error rates.

    Returns
    -------
    str
        Markdown.
    """
    cells = cells.assign(budget=cells.budget.astype(str))
    diffs = diffs.assign(budget=diffs.budget.astype(str))
    fmt = f"{{:.{digits}f}}"
    out: list[str] = []
    for dataset in dict.fromkeys(cells.dataset):
        sub = cells[cells.dataset == dataset]
        methods = list(dict.fromkeys(sub.method))
        budgets = _budget_order(sub.budget)
        out.append(f"### {dataset}: test error, mean ± std over seeds\n")
        rows, chosen = [], []
        for budget in budgets:
            row = [budget, str(int(sub[sub.budget == budget].n_labels.iloc[0]))]
            for method in methods:
                cell = sub[(sub.budget == budget) & (sub.method == method)]
                if cell.empty:
                    row.append("—")
                    continue
                c = cell.iloc[0]
                row.append(f"{fmt.format(c.test_error_mean)} ± {fmt.format(c.test_error_std)}")
                chosen.append([budget, method, _params(c.params), str(int(c.n_seeds)),
                               fmt.format(c.val_error_mean)])
            rows.append(row)
        out.append(_table(["budget", "labels", *methods], rows))
        out.append(f"\n\nSelected on validation ({dataset}):\n")
        out.append(_table(["budget", "method", "hyper-parameters", "seeds", "val error"],
                          chosen))
        dsub = diffs[diffs.dataset == dataset]
        for family in dict.fromkeys(dsub.family):
            fsub = dsub[dsub.family == family]
            out.append(f"\n\n### {dataset}: {_family_title(fsub)}\n")
            out.append(_diff_table(fsub, digits))
        out.append("\n")
    return "\n".join(out).rstrip() + "\n"
