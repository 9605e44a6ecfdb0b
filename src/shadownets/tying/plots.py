"""Figures of weight-tying runs (matplotlib imported inside the functions, Agg backend).

Each function takes the tidy tables of :func:`shadownets.tying.run_tying` (or several runs
concatenated, with a ``setting`` column naming each) and returns a matplotlib Figure with one
panel per setting; saving is the caller's business (:func:`shadownets.io.save_figure`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from shadownets.tying.core import TyingResult

__all__ = ["plot_alignment_curves", "plot_cosine_histograms", "tying_figures"]

_STYLE = {"untied": ("C0", "-"), "linear": ("C2", "--"), "tied": ("C1", ":")}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(keys: list[Any], width: float = 4.2, height: float = 3.2) -> tuple[Any, list[Any]]:
    plt = _pyplot()
    cols = min(3, max(1, len(keys)))
    rows = math.ceil(max(1, len(keys)) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(keys):]:
        ax.set_visible(False)
    return fig, flat


def _by(df: pd.DataFrame) -> str:
    return "setting" if "setting" in df.columns else "data"


def plot_alignment_curves(curves: pd.DataFrame, *, threshold: float | None = None) -> Any:
    """Median per-unit cosine of D[:, i] and E[i, :] against epoch: one panel per setting, a
    thin line per seed and a thick one for the mean over seeds, per model and layer; the
    random-pair null of the untied model in grey.

    Parameters
    ----------
    curves : pandas.DataFrame
        :data:`shadownets.tying.CURVE_COLUMNS` (and ``setting``, optional).
    threshold : float, optional
        A horizontal line (e.g. a verdict rule's threshold).
    """
    by = _by(curves)
    keys = list(dict.fromkeys(curves[by]))
    fig, axes = _panels(keys)
    for ax, key in zip(axes, keys, strict=False):
        part = curves[curves[by] == key]
        for (model, layer), g in part.groupby(["model", "layer"], sort=False):
            color, style = _STYLE.get(model, ("C3", "-"))
            color = color if int(layer) == 1 else f"C{3 + int(layer)}"
            label = model if part["layer"].max() == 1 else f"{model} layer {int(layer)}"
            for _, s in g.groupby("seed"):
                ax.plot(s["epoch"], s["median_cosine"], color=color, ls=style, lw=0.6,
                        alpha=0.5)
            mean = g.groupby("epoch")["median_cosine"].mean()
            ax.plot(mean.index, mean.values, color=color, ls=style, lw=2, label=label)
            if model == "untied" and int(layer) == 1:
                null = g.groupby("epoch")["null_median"].mean()
                ax.plot(null.index, null.values, color="0.5", ls=":", lw=1.5,
                        label="random-pair null")
        if threshold is not None:
            ax.axhline(threshold, color="k", lw=0.8, ls="-.", label=f"threshold {threshold:g}")
        ax.set_ylim(-0.2, 1.05)
        ax.set_xlabel("epoch")
        ax.set_ylabel("median cos(D[:, i], E[i, :])")
        ax.set_title(str(key), fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_cosine_histograms(units: pd.DataFrame, *, threshold: float | None = None) -> Any:
    """Histogram of the per-unit cosines (live units, every seed and layer pooled) of the
    untied model and the linear control against the random-pair null: one panel per setting.

    Parameters
    ----------
    units : pandas.DataFrame
        :data:`shadownets.tying.UNIT_COLUMNS` (and ``setting``, optional).
    threshold : float, optional
        A vertical line.
    """
    by = _by(units)
    keys = list(dict.fromkeys(units[by]))
    fig, axes = _panels(keys)
    bins = np.linspace(-1, 1, 41)
    for ax, key in zip(axes, keys, strict=False):
        part = units[(units[by] == key) & units["live"].astype(bool)]
        untied = part[part["model"] == "untied"]
        ax.hist(untied["null_cosine"].dropna(), bins=bins, color="0.6", alpha=0.6,
                label="random-pair null")
        for model in ("untied", "linear"):
            vals = part.loc[part["model"] == model, "cosine"].dropna()
            if len(vals):
                color, _ = _STYLE[model]
                ax.hist(vals, bins=bins, histtype="step", lw=2, color=color,
                        label=f"{model} (median {vals.median():.3f})")
        if threshold is not None:
            ax.axvline(threshold, color="k", lw=0.8, ls="-.")
        ax.set_xlabel("per-unit cos(D[:, i], E[i, :])")
        ax.set_ylabel("units")
        ax.set_title(str(key), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def tying_figures(result: TyingResult) -> dict[str, Any]:
    """The figures of one run: ``{"alignment": ..., "histogram": ...}``."""
    return {"alignment": plot_alignment_curves(result.curves),
            "histogram": plot_cosine_histograms(result.units)}
