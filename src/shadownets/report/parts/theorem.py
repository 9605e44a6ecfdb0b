"""Part: Theorem 2.3, the feed-forward error stays under C·k·ln m/(ρn) with one constant C."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.stats import holm
from shadownets.theory.sweep import FULL_GRID, QUICK_GRID, SweepGrid, fit_law, sweep_to_folder

__all__ = ["TheoremRule", "RULE", "judge", "constants_table", "FIT_COLUMNS",
           "CONSTANT_COLUMNS"]

_RULES = ("none", "theory", "calibrated", "oracle")
#: Columns of fits.csv.
FIT_COLUMNS = ("bias", "selection", "n_points", "slope", "slope_se", "slope_lo", "slope_hi",
               "r2", "constant", "slope_log", "slope_se_log", "slope_lo_log", "slope_hi_log",
               "r2_log", "constant_log")
#: Columns of constants.csv: per observed width n, the ratios err/(k·ln m/(ρn)).
CONSTANT_COLUMNS = ("n", "n_configs", "c_max", "c_median", "c_min")


@dataclass(frozen=True)
class TheoremRule:
    """Thresholds of the Theorem 2.3 verdict (top layer of one-layer Gaussian nets).

    ``r = err/(k·ln m/(ρn))`` per configuration; its drift exponent ``b`` is the coefficient
    of ``log n`` in the OLS of ``log r`` on ``log n, log k, log ρ, log m`` (those that vary),
    i.e. ``r ∝ n^b`` at fixed k, ρ, m. The slope is that of ``log err`` on
    ``log(k·ln m/(ρn))``, with its OLS t interval.
    """

    bias: str = "calibrated"  # bias rule whose error is judged
    in_regime_only: bool = True  # only configurations with k < ρn < k² (the theorem's regime)
    drift_tolerance: float = 0.25  # |b| allowed: about (ln n)², the polylog an Õ may hide
    slope_floor: float = 0.5  # a slope shown below this is not explained by log factors
    level: float = 0.95  # confidence level of the slope interval
    alpha: float = 0.05  # test level (Holm across the two "does not hold" tests)
    min_points: int = 6  # fewer configurations in the selection: undetermined

    def text(self) -> str:
        sel = "inside the regime k < ρn < k²" if self.in_regime_only else "all configurations"
        return (f"over the {self.bias}-bias top-layer errors ({sel}), C = err/(k·ln m/(ρn)) "
                f"per configuration; its drift exponent b (C ∝ n^b at fixed k, ρ, m; OLS) and "
                f"the slope of log err on log(k·ln m/(ρn)) with its {self.level:.0%} t "
                f"interval. Holds if b is shown below {self.drift_tolerance} (one-sided, "
                f"α = {self.alpha}) and the slope's interval reaches 1 (the error decays at "
                f"least at the bound's rate) while lying above {self.slope_floor}; does not "
                f"hold if b is shown above {self.drift_tolerance} or the slope shown below "
                f"{self.slope_floor} (Holm "
                f"over the two); undetermined otherwise.")


RULE = TheoremRule()


def _selection(df: pd.DataFrame, rule: TheoremRule) -> pd.DataFrame:
    sel = df[(df["bias_rule"] == rule.bias) & (df["depth"] == 1) & (df["layer"] == 1)
             & (df["weights"] == "gaussian")]
    if rule.in_regime_only:
        sel = sel[sel["in_regime"].astype(bool)]
    sel = sel[sel["rel_error_sq"] > 0].copy()
    sel["ratio"] = sel["rel_error_sq"] / (sel["bound"] * np.log(sel["m"].astype(float)))
    return sel


def constants_table(df: pd.DataFrame, rule: TheoremRule = RULE) -> pd.DataFrame:
    """Per observed width n: how many configurations, and the max, median and min over them
    of ``err/(k·ln m/(ρn))`` (columns :data:`CONSTANT_COLUMNS`)."""
    sel = _selection(df, rule)
    g = sel.groupby("n")["ratio"]
    out = pd.DataFrame({"n_configs": g.size(), "c_max": g.max(), "c_median": g.median(),
                        "c_min": g.min()}).reset_index()
    return out[list(CONSTANT_COLUMNS)]


def _drift(sel: pd.DataFrame) -> dict[str, float]:
    """OLS of log ratio on log n (+ log k, log ρ, log m where they vary): b, its se and df."""
    y = np.log(sel["ratio"].to_numpy(float))
    cols = [np.log(sel["n"].to_numpy(float))]
    for name in ("k_top", "rho", "m"):
        v = np.log(sel[name].to_numpy(float))
        trial = np.column_stack([np.ones_like(y), *cols, v])
        if np.ptp(v) > 0 and np.linalg.matrix_rank(trial) == trial.shape[1]:
            cols.append(v)
    X = np.column_stack([np.ones_like(y), *cols])
    df = len(y) - X.shape[1]
    if np.ptp(cols[0]) == 0 or df < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return {"b": math.nan, "se": math.nan, "df": float(max(df, 0)), "covariates": 0}
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    cov = float(resid @ resid) / df * np.linalg.inv(X.T @ X)
    return {"b": float(coef[1]), "se": math.sqrt(float(cov[1, 1])), "df": float(df),
            "covariates": X.shape[1] - 2}


def judge(folder: Path, rule: TheoremRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/results.csv`` (the sweep's per-run table,
    :data:`shadownets.theory.sweep.SWEEP_COLUMNS`)."""
    df = pd.read_csv(Path(folder) / "results.csv")
    sel = _selection(df, rule)
    consts = constants_table(df, rule)
    n_pts = len(sel)
    ratio_span = (float(consts["c_max"].max() / consts["c_max"].min()) if len(consts)
                  else math.nan)
    numbers: dict = {"n_points": n_pts, "selection": "in regime" if rule.in_regime_only
                     else "all", "c_max_per_n": dict(zip(consts["n"].astype(int).astype(str),
                                                         consts["c_max"], strict=True)),
                     "c_max_span": ratio_span}
    if n_pts < rule.min_points or sel["n"].nunique() < 2 or sel["bound"].nunique() < 2:
        return Judgement(
            verdict="undetermined",
            evidence=(f"only {n_pts} configurations ({sel['n'].nunique()} values of n) in the "
                      f"selection; the rule needs at least {rule.min_points} and 2 values of "
                      f"n and of k/(ρn)."),
            numbers=numbers,
            flip="a grid with more configurations inside k < ρn < k² (larger k and n).")
    fit = fit_law(sel.drop(columns="ratio"), bias=rule.bias, level=rule.level)
    drift = _drift(sel)
    slope, lo, hi = fit["slope_log"], fit["slope_lo_log"], fit["slope_hi_log"]
    tdist = stats.t(drift["df"]) if drift["df"] >= 1 else None
    if tdist is not None and np.isfinite(drift["se"]) and drift["se"] > 0:
        z = (drift["b"] - rule.drift_tolerance) / drift["se"]
        p_stable, p_grows = float(tdist.cdf(z)), float(tdist.sf(z))
    else:
        p_stable = p_grows = math.nan
    p_shallow = (float(stats.t(fit["slope_df_log"]).cdf((slope - rule.slope_floor)
                                                         / fit["slope_se_log"]))
                 if fit["slope_se_log"] > 0 else float(slope < rule.slope_floor))
    adj = holm([p_grows, p_shallow])
    b_q = float(tdist.ppf(0.5 + rule.level / 2)) if tdist is not None else math.nan
    b_lo, b_hi = drift["b"] - b_q * drift["se"], drift["b"] + b_q * drift["se"]
    stable = np.isfinite(p_stable) and p_stable < rule.alpha
    reaches_one = hi >= 1.0
    above_floor = lo > rule.slope_floor  # a fit too noisy to exclude the floor decides nothing
    numbers.update({
        "slope_log": slope, "slope_lo_log": lo, "slope_hi_log": hi, "slope": fit["slope"],
        "slope_lo": fit["slope_lo"], "slope_hi": fit["slope_hi"], "r2_log": fit["r2_log"],
        "drift_b": drift["b"], "drift_se": drift["se"], "drift_lo": b_lo, "drift_hi": b_hi,
        "drift_df": drift["df"], "p_drift_below_tolerance": p_stable,
        "p_drift_above_tolerance_holm": float(adj[0]), "p_slope_below_floor_holm": float(adj[1]),
    })
    if (np.isfinite(adj[0]) and adj[0] < rule.alpha) or adj[1] < rule.alpha:
        verdict = "does not hold"
        flip = ("a grid over a wider range of n whose drift exponent b and slope come back "
                "within the tolerance (a shown drift is a constant that grows with n).")
    elif stable and reaches_one and above_floor:
        verdict = "holds"
        flip = (f"configurations where C = err/(k·ln m/(ρn)) is shown to grow faster than "
                f"n^{rule.drift_tolerance} (larger n at fixed k, ρ, m), or a slope interval "
                f"entirely below 1 (now up to {hi:.3f}).")
    else:
        verdict = "undetermined"
        why = []
        if not stable:
            why.append(f"the drift b = {drift['b']:.3f} is not shown below "
                       f"{rule.drift_tolerance}")
        if not above_floor:
            why.append(f"the slope's interval reaches down to {lo:.3f}, not above the floor "
                       f"{rule.slope_floor} (too noisy a fit)")
        if not reaches_one:
            why.append(f"the slope's interval lies below 1 (up to {hi:.3f}): the error decays "
                       f"more slowly than k/(ρn)"
                       + (", consistent with an extra log factor since the drift stays "
                          "within tolerance" if stable else ""))
        flip = ("; ".join(why) + ". A wider range of n inside the regime (the full grid "
                "reaches n = 16000 and k = 128) would decide.")
    return Judgement(
        verdict=verdict,
        evidence=(f"{n_pts} configurations ({numbers['selection']}, bias {rule.bias}): slope "
                  f"of log err on log(k·ln m/(ρn)) {slope:.3f} [{lo:.3f}, {hi:.3f}] "
                  f"({rule.level:.0%} t interval; without ln m {fit['slope']:.3f} "
                  f"[{fit['slope_lo']:.3f}, {fit['slope_hi']:.3f}]), R² {fit['r2_log']:.3f}; "
                  f"drift exponent of C = err/(k·ln m/(ρn)) in n: b = {drift['b']:.3f} "
                  f"[{b_lo:.3f}, {b_hi:.3f}] (tolerance {rule.drift_tolerance}); C_n = max "
                  f"over configurations at n: "
                  + ", ".join(f"n={int(r.n)}: {r.c_max:.3g} ({int(r.n_configs)})"
                              for r in consts.itertuples())
                  + f" (max/min {ratio_span:.2f})."),
        numbers=numbers,
        flip=flip,
    )


def _tiny_grid() -> SweepGrid:
    # 12 of the 18 configurations lie inside k < ρn < k²
    return SweepGrid(n=(400, 800, 1600), m=(400,), k=(16, 32, 64), rho=(0.5, 1.0),
                     bias=_RULES, batch=16)


def fits_table(summary: dict) -> pd.DataFrame:
    """The fits of every bias rule in a sweep summary (columns :data:`FIT_COLUMNS`)."""
    rows = []
    for key, fit in summary["fits"].items():
        if "error" in fit:
            continue
        bias, selection = key.split("/")
        rows.append({"bias": bias, "selection": selection,
                     **{c: fit[c] for c in FIT_COLUMNS if c in fit}})
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


@register_part(
    "theorem", "Theorem 2.3: one constant C bounds the error by C·k·ln m/(ρn)", order=10,
    rule=RULE, judge=judge,
    claim="With a suitable negative bias, ‖ĥ − h‖² ≤ Õ(k/(ρn))·‖h‖² when k < ρn < k²: one "
          "constant C (with the log factor ln m) bounds the error of every configuration, and "
          "the error decays at least at the rate k/(ρn) (one layer, Gaussian weights).")
def theorem(ctx: Context) -> PartOutput:
    folder = ctx.part_dir("theorem")
    grid = ctx.pick(_tiny_grid(), QUICK_GRID, FULL_GRID)
    grid = SweepGrid(**{**grid.__dict__, "seeds": tuple(ctx.seed + s for s in grid.seeds)})
    summary = sweep_to_folder(grid, folder)
    save_dataframe_csv(folder / "fits.csv", fits_table(summary))
    df = pd.read_csv(folder / "results.csv")
    save_dataframe_csv(folder / "constants.csv", constants_table(df, RULE))
    return PartOutput(
        tables=[{"title": "C_n: err/(k·ln m/(ρn)) per observed width n (calibrated bias, "
                          "top layer, inside k < ρn < k²)", "path": "constants.csv"},
                {"title": "Fitted laws log err = slope·log(k/(ρn)) + log constant, with 95% "
                          "t intervals of the slope (per bias rule; all points, and inside "
                          "the regime only; suffix _log: k·ln m/(ρn))", "path": "fits.csv"}],
        figures=[{"title": "Measured error against k/(ρn); filled markers inside the regime",
                  "path": "recovery.png"}],
        notes=["This rule was fixed after an earlier quick run was known to us (all 48 "
               "configurations, calibrated bias: slope 0.864, R² 0.935; with ln m 0.873), "
               "which the old band [0.7, 1.2] accepted although 1 lay four standard errors "
               "away. The new rule judges the configurations inside the theorem's regime only "
               "and asks for one constant, not for a slope in a band.",
               "Full per-run table: results.csv (one row per configuration, seed, bias rule "
               "and layer); per-sample errors: samples.csv."],
    )
