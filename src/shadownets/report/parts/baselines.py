"""Part: feed-forward inference against NNLS, positive Lasso and OMP on the error–time plane."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.stats import decide_regions, interval, region_tests, t_estimate
from shadownets.theory import NetConfig
from shadownets.theory.baselines import baseline_samples, summarize_baselines
from shadownets.theory.plots import plot_baselines

__all__ = ["BaselinesRule", "RULE", "judge", "matched_table", "MATCHED_COLUMNS"]

_SETTING = ["n", "m", "k"]
#: Columns of matched.csv: per setting and solver, the paired error difference at matched
#: time (solver − feed-forward, per sample).
MATCHED_COLUMNS = ("n", "m", "k", "method", "iterations", "solver_seconds", "ff_seconds",
                   "n_samples", "mean_diff", "se", "lo", "hi", "p_ff_better", "p_solver_better",
                   "outcome")


@dataclass(frozen=True)
class BaselinesRule:
    """Speed ratio to the fastest full solver per setting, and paired per-sample error
    differences at matched time (solver − feed-forward), Holm across (setting, solver)."""

    speed_holds: float = 100.0  # "orders of magnitude faster": at least this ratio
    speed_fails: float = 10.0  # below this ratio in some setting: not "fast" at all
    alpha: float = 0.05  # family-wise error rate across matched-time comparisons (Holm)

    def text(self) -> str:
        return (f"per setting, the speed ratio (fastest full solver's mean time per sample / "
                f"feed-forward's) and, at the feed-forward's time budget, each solver's "
                f"per-sample error minus feed-forward's (paired over samples, t, one-sided, "
                f"Holm across settings and solvers at α = {self.alpha}). Holds if the ratio "
                f"is ≥ {self.speed_holds:g}× in every setting and feed-forward is shown more "
                f"accurate than every solver at matched time; does not hold if some solver "
                f"is shown more accurate at matched time or the ratio is below "
                f"{self.speed_fails:g}× in some setting; undetermined otherwise.")


RULE = BaselinesRule()


def _speed(samples: pd.DataFrame) -> pd.DataFrame:
    """Per setting: feed-forward and fastest full solver seconds per sample, and the ratio."""
    mean = samples.groupby(_SETTING + ["method", "budget"])["seconds"].mean().reset_index()
    ff = mean[mean["method"] == "feedforward"].set_index(_SETTING)["seconds"]
    full = mean[(mean["method"] != "feedforward") & (mean["budget"] == "full")]
    fastest = full.loc[full.groupby(_SETTING)["seconds"].idxmin()].set_index(_SETTING)
    out = pd.DataFrame({"ff_seconds": ff, "fastest_solver": fastest["method"],
                        "solver_seconds": fastest["seconds"]})
    out["speed_ratio"] = out["solver_seconds"] / out["ff_seconds"]
    return out.reset_index()


def matched_table(samples: pd.DataFrame, rule: BaselinesRule = RULE) -> pd.DataFrame:
    """Paired error differences at matched time (columns :data:`MATCHED_COLUMNS`; p-values
    Holm-adjusted; outcome ``"ff better"``, ``"solver better"`` or ``"undetermined"``)."""
    rows, tests = [], []
    for key, part in samples.groupby(_SETTING, sort=False):
        ff = part[part["method"] == "feedforward"].set_index("sample")
        for method, sol in part[part["budget"] == "matched"].groupby("method", sort=False):
            sol = sol.set_index("sample")
            common = ff.index.intersection(sol.index)
            diff = (sol.loc[common, "rel_error_sq"] - ff.loc[common, "rel_error_sq"])
            est = t_estimate(diff.to_numpy(float))
            lo, hi = interval(est)
            rows.append({**dict(zip(_SETTING, key, strict=True)), "method": method,
                         "iterations": int(sol["iterations"].iloc[0]),
                         "solver_seconds": float(sol["seconds"].mean()),
                         "ff_seconds": float(ff["seconds"].mean()), "n_samples": est.n,
                         "mean_diff": est.mean, "se": est.se, "lo": lo, "hi": hi})
            tests.append(region_tests(est, 0.0, 0.0))
    # low = high = 0: "above" = feed-forward better, "below" = the solver better
    outcomes, adj = decide_regions(tests, rule.alpha)
    for i, row in enumerate(rows):
        row["p_ff_better"], row["p_solver_better"] = (float(adj["p_above"][i]),
                                                      float(adj["p_below"][i]))
        out = outcomes[i]
        row["outcome"] = {"above": "ff better", "below": "solver better"}.get(out, out)
    return pd.DataFrame(rows, columns=list(MATCHED_COLUMNS))


def judge(folder: Path, rule: BaselinesRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/samples.csv`` (per-sample rows of
    :func:`shadownets.theory.baselines.baseline_samples` with the setting's n, m, k)."""
    samples = pd.read_csv(Path(folder) / "samples.csv")
    speed = _speed(samples)
    matched = matched_table(samples, rule)
    min_ratio = float(speed["speed_ratio"].min())
    n_ff, n_sol = (int((matched["outcome"] == o).sum()) for o in ("ff better", "solver better"))
    if n_sol or min_ratio < rule.speed_fails:
        verdict = "does not hold"
        flip = ("at matched time every solver no better than feed-forward, and feed-forward "
                f"at least {rule.speed_fails:g}× faster than the fastest full solver in every "
                "setting.")
    elif min_ratio >= rule.speed_holds and n_ff == len(matched) and len(matched):
        verdict = "holds"
        flip = ("a solver (or an implementation of one) that, given the feed-forward's time "
                "per sample, is shown more accurate than feed-forward, or a full solver within "
                f"{rule.speed_holds:g}× of its speed (now {min_ratio:.0f}×).")
    else:
        verdict = "undetermined"
        flip = (f"a speed ratio of at least {rule.speed_holds:g}× in every setting (now down "
                f"to {min_ratio:.0f}×) and every matched-time comparison shown in favour of "
                "feed-forward (more samples narrow the intervals).")
    ff_err = samples[samples["method"] == "feedforward"].groupby(_SETTING)["rel_error_sq"].mean()
    full = samples[(samples["budget"] == "full") & (samples["method"] != "feedforward")]
    best_full = float(full["rel_error_sq"].groupby([full[c] for c in _SETTING + ["method"]])
                      .mean().min()) if len(full) else math.nan
    return Judgement(
        verdict=verdict,
        evidence=("speed ratio to the fastest full solver per setting: "
                  + ", ".join(f"(n={r.n}, m={r.m}, k={r.k}) {r.speed_ratio:.0f}× "
                              f"({r.fastest_solver})" for r in speed.itertuples())
                  + f"; at matched time feed-forward is shown more accurate in {n_ff} of "
                    f"{len(matched)} (setting, solver) comparisons and less accurate in "
                    f"{n_sol} (Holm, α = {rule.alpha}); matched-time solver iterations: "
                  + ", ".join(f"{r.method}@n={r.n}: {r.iterations}"
                              for r in matched.itertuples())
                  + ". Given all the time they need, the solvers are far more accurate: "
                    f"best full-solver mean error {best_full:.2g} against feed-forward's "
                  + ", ".join(f"{e:.3f}" for e in ff_err) + "."),
        numbers={"min_speed_ratio": min_ratio, "n_ff_better": n_ff, "n_solver_better": n_sol,
                 "n_comparisons": len(matched), "best_full_solver_error": best_full,
                 "feedforward_errors": [float(e) for e in ff_err]},
        flip=flip,
    )


@register_part(
    "baselines", "Feed-forward inference against NNLS, positive Lasso and OMP", order=50,
    rule=RULE, judge=judge,
    claim="The forward pass is a fast approximate inverse of the generative model: orders "
          "of magnitude faster than the solvers one would otherwise use, and more accurate "
          "than they are when given only its time.")
def baselines(ctx: Context) -> PartOutput:
    folder = ctx.part_dir("baselines")
    settings = ctx.pick([(200, 100, 4)], [(1000, 500, 10), (2000, 1000, 20), (4000, 1000, 20)],
                        [(1000, 500, 10), (2000, 1000, 20), (4000, 1000, 20), (8000, 2000, 40)])
    batch = ctx.pick(8, 16, 64)
    frames = []
    for n, m, k in settings:
        df = baseline_samples(NetConfig((n, m), k=k, rho=0.5), batch=batch, seed=ctx.seed,
                              budgets=("full", "matched", "minimal"))
        frames.append(df.assign(n=n, m=m, k=k)[_SETTING + list(df.columns)])
    samples = pd.concat(frames, ignore_index=True)
    save_dataframe_csv(folder / "samples.csv", samples)
    summary = pd.concat([summarize_baselines(s).assign(n=key[0], m=key[1], k=key[2])
                         for key, s in samples.groupby(_SETTING, sort=False)],
                        ignore_index=True)
    summary = summary[_SETTING + [c for c in summary.columns if c not in _SETTING]]
    save_dataframe_csv(folder / "baselines.csv", summary)
    save_dataframe_csv(folder / "matched.csv", matched_table(samples, RULE))
    plot_baselines(summary, folder / "baselines.png")
    return PartOutput(
        tables=[{"title": f"Error and time per sample by method and budget ({batch} samples "
                          "per setting; iterations −1 = full solve, 0 = nothing within the "
                          "budget, ĥ = 0)", "path": "baselines.csv"},
                {"title": "At matched time: solver − feed-forward error per sample (95% t "
                          "interval, Holm-adjusted p-values)", "path": "matched.csv"}],
        figures=[{"title": "The error–time plane", "path": "baselines.png"}],
        notes=["Feed-forward runs batched in float32 (as users run it; the bias calibration, "
               "once per net, is not timed); the solvers run one sample at a time in float64 "
               "(scipy / scikit-learn), timed on the solver call only, and are given the "
               "exact dropout mask and α.",
               "Matched time: the budget is the feed-forward's time per sample; each solver "
               "gets the largest iteration cap (Lasso passes, OMP atoms) that fits it on a "
               "few probe samples; when not even one iteration fits, the solver has only its "
               "starting point ĥ = 0 at the budget. NNLS cannot be stopped early (scipy "
               "raises), so its matched result is its full result if that fits, else ĥ = 0. "
               "Budget 'minimal' (one pass / one atom) shows what the cheapest solver run "
               "buys, whatever it costs.",
               f"The speed ratio is a single measurement per setting on a shared machine "
               f"(no interval); its thresholds ({RULE.speed_fails:g}×, "
               f"{RULE.speed_holds:g}×) are an order of magnitude apart for that reason."],
    )
