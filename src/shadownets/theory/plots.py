"""Figures of the theory experiments: matplotlib is imported only when a figure is drawn, and
no global state (backend, pyplot figures) is touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shadownets.io import save_figure

__all__ = ["plot_recovery", "plot_depth", "plot_baselines"]

_COLORS = {"none": "tab:gray", "theory": "tab:blue", "calibrated": "tab:green",
           "oracle": "tab:purple", "value": "tab:orange"}


def plot_recovery(df: pd.DataFrame, fit: dict, path: str | Path, *, depth: int = 1) -> Path:
    """Log–log plot of measured ‖ĥ−h‖²/‖h‖² against k/(ρn) for the top layer of
    ``depth``-layer runs: one colour per bias rule, filled markers inside the theorem's regime
    k < ρn < k², hollow outside; the fitted law of ``fit`` (from :func:`fit_law`) as a line.
    """
    from matplotlib.figure import Figure

    top = df[(df["depth"] == depth) & (df["layer"] == depth)]
    if fit.get("weights") and "weights" in top:
        top = top[top["weights"] == fit["weights"]]
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    for rule, part in top.groupby("bias_rule", sort=False):
        color = _COLORS.get(str(rule), "black")
        for inside, marker_face in ((True, color), (False, "none")):
            sub = part[part["in_regime"] == inside]
            if len(sub):
                label = f"{rule}" + ("" if inside else " (outside regime)")
                if rule == "oracle":  # drawn as crosses: it often sits on "calibrated"
                    ax.scatter(sub["bound"], sub["rel_error_sq"], s=18, marker="x",
                               color=color, alpha=1.0 if inside else 0.5, label=label)
                else:
                    ax.scatter(sub["bound"], sub["rel_error_sq"], s=22, edgecolors=color,
                               facecolors=marker_face, label=label)
    xs = np.geomspace(top["bound"].min(), top["bound"].max(), 50)
    ax.plot(xs, fit["constant"] * xs ** fit["slope"], color=_COLORS.get(fit["bias"], "k"),
            lw=1.5, label=f"fit ({fit['bias']}): {fit['constant']:.3g}·(k/ρn)^{fit['slope']:.2f},"
            f" R²={fit['r2']:.2f}")
    ax.plot(xs, xs, color="k", ls=":", lw=1, label="k/(ρn)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("k / (ρ n)")
    ax.set_ylabel("‖ĥ − h‖² / ‖h‖²  (mean over samples)")
    ax.set_title(f"Feed-forward recovery, depth {depth} (top layer)")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(path, fig)


def plot_depth(df: pd.DataFrame, path: str | Path) -> Path:
    """Per-layer error of multi-layer runs: one panel per bias rule, one line per depth
    (x axis: layer ℓ = 1 first hidden … L top)."""
    from matplotlib.figure import Figure

    rules = list(dict.fromkeys(df["bias_rule"]))
    fig = Figure(figsize=(3.2 * len(rules), 3.2))
    axes = fig.subplots(1, len(rules), sharey=True, squeeze=False)
    for ax, rule in zip(axes[0], rules, strict=True):
        for depth, part in df[df["bias_rule"] == rule].groupby("depth"):
            part = part.groupby("layer", as_index=False)["rel_error_sq"].mean()
            ax.plot(part["layer"], part["rel_error_sq"], marker="o", label=f"depth {depth}")
        ax.set_title(f"bias: {rule}", fontsize=9)
        ax.set_xlabel("layer ℓ (1 = first hidden)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("‖ĥ − h‖² / ‖h‖²")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Recovery per layer of deep random-like nets", fontsize=10)
    return save_figure(path, fig)


def plot_baselines(df: pd.DataFrame, path: str | Path) -> Path:
    """The error–time plane: error against time per sample, one point per (setting, method,
    budget), both axes log.

    ``df`` has the columns of :data:`~shadownets.theory.baselines.BASELINE_COLUMNS` (plus,
    optionally, ``n``, ``m``, ``k`` naming the setting). Colour: method; marker: budget (full
    ●, matched ■, minimal ▲; feed-forward ★). A matched-time run that could not do one
    iteration within the budget (``iterations == 0``, ĥ = 0, error 1, no time) is drawn as a
    cross at the feed-forward time of its setting.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    floor = 1e-16  # exact solvers reach round-off: draw them at the floor
    keys = [c for c in ("n", "m", "k") if c in df]
    ff = df[df["method"] == "feedforward"]
    ff_time = (ff.set_index(keys)["seconds_per_sample"] if keys
               else pd.Series([float(ff["seconds_per_sample"].iloc[0])] * len(df), df.index))
    markers = {"full": "o", "matched": "s", "minimal": "^"}
    colors = dict(zip(dict.fromkeys(df["method"]),
                      ("tab:green", "tab:blue", "tab:orange", "tab:red", "tab:purple"),
                      strict=False))
    budgets = df["budget"] if "budget" in df else pd.Series("full", index=df.index)
    for (method, budget), part in df.groupby([df["method"], budgets], sort=False):
        color = colors.get(method, "black")
        label = f"{method}" + ("" if method == "feedforward" else f" ({budget})")
        marker = "*" if method == "feedforward" else markers.get(str(budget), "o")
        none = part["iterations"] == 0 if "iterations" in part else part["method"].isna()
        ran = part[~none]
        if len(ran):
            ax.scatter(ran["seconds_per_sample"], ran["rel_error_sq"].clip(lower=floor),
                       label=label, s=90 if marker == "*" else 30, marker=marker, color=color)
        if none.any():
            idle = part[none]
            x = (ff_time.reindex(pd.MultiIndex.from_frame(idle[keys]) if len(keys) > 1
                                 else idle[keys[0]]).to_numpy() if keys
                 else ff_time.loc[idle.index].to_numpy())
            ax.scatter(x, idle["rel_error_sq"].clip(lower=floor), marker="x", s=40,
                       color=color, label=f"{method} (matched: no iteration within budget)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("seconds per sample (feed-forward float32 batched; solvers float64)")
    ax.set_ylabel(f"‖ĥ − h‖² / ‖h‖²  (clipped at {floor:g})")
    ax.set_title("Error–time plane: feed-forward vs solvers, same instances")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(path, fig)
