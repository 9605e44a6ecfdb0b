"""Figures of inversions (matplotlib is imported inside the functions, Agg backend).

Each function returns a matplotlib Figure; saving is the caller's business
(:func:`shadownets.io.save_figure`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from shadownets.invert.core import InversionResult, LeakageResult
from shadownets.invert.metrics import ValueScale

__all__ = ["plot_grid", "plot_psnr_time", "plot_leakage", "invert_figures", "leakage_figures",
           "UNRECOGNISABLE_SSIM", "variant_label"]

#: SSIM under which a reconstruction counts as unrecognisable (the line of the profile).
UNRECOGNISABLE_SSIM = 0.3


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def variant_label(method: str, switches: str) -> str:
    """``"shadow (known switches)"``, ``"warm"``, ... for row titles."""
    if method == "shadow" and switches in ("known", "unknown"):
        return f"shadow ({switches} switches)"
    return method


def _series(method: str, switches: str) -> str:
    """The line a variant belongs to across layers: a shadow with no max pool below its layer
    joins the known-switches line (nothing to know), every other method is one line."""
    if method == "shadow":
        return "shadow (unknown switches)" if switches == "unknown" else \
            "shadow (known switches)"
    return method


def _show(ax: Any, unit: np.ndarray) -> None:
    """One input, pixel values in [0, 1]: an image for (1 | 3, H, W), else a line."""
    if unit.ndim == 3 and unit.shape[0] in (1, 3):
        img = unit[0] if unit.shape[0] == 1 else np.transpose(unit, (1, 2, 0))
        ax.imshow(np.clip(img, 0, 1), cmap="gray" if unit.shape[0] == 1 else None, vmin=0,
                  vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for channel in unit.reshape(unit.shape[0] if unit.ndim > 1 else 1, -1):
        ax.plot(channel, lw=0.8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_grid(originals: Tensor, reconstructions: Tensor,
              variants: tuple[tuple[str, str], ...], scale: ValueScale, *, n: int = 8,
              title: str | None = None) -> Any:
    """Rows: the originals, then each method variant's reconstructions; columns: images.

    Parameters
    ----------
    originals : Tensor of shape (N, *input_shape)
        Normalised inputs.
    reconstructions : Tensor of shape (n_variants, N, *input_shape)
    variants : tuple of (method, switches)
    scale : ValueScale
        De-normalises to pixel values in [0, 1].
    n : int, default 8
        Images shown (the first ones).
    """
    plt = _pyplot()
    n = max(1, min(n, originals.shape[0]))
    rows = [("original", originals[:n])] + [
        (variant_label(m, s), r[:n]) for (m, s), r in zip(variants, reconstructions,
                                                          strict=True)]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n + 1.6, 1.15 * len(rows)),
                             squeeze=False)
    for r, (label, batch) in enumerate(rows):
        unit = scale.to_unit(batch.detach().cpu().double()).numpy()
        for c in range(n):
            _show(axes[r, c], unit[c])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _yerr(est: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    err = np.vstack([est - lo, hi - est])
    return np.where(np.isfinite(err), err, 0.0)


def plot_psnr_time(summary: pd.DataFrame, curves: pd.DataFrame) -> Any:
    """PSNR against wall time per image, one panel per layer (a colour per method line, as in
    :func:`plot_leakage`).

    One-pass methods (shadow, learned) are points with their t interval; ``optimize`` and
    ``warm`` are curves over their recorded steps (mean PSNR and mean seconds over images;
    ``warm`` starts at its shadow's time).

    Parameters
    ----------
    summary : pandas.DataFrame
        :data:`shadownets.invert.SUMMARY_COLUMNS`.
    curves : pandas.DataFrame
        :data:`shadownets.invert.CURVES_COLUMNS`.
    """
    plt = _pyplot()
    layers = list(dict.fromkeys(summary["layer"]))
    cols = min(len(layers), 3)
    nrows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.4 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(_series(m, s) for m, s in
                                zip(summary["method"], summary["switches"], strict=True)))
    color = {lab: colors[i % len(colors)] for i, lab in enumerate(labels)}
    for ax, layer in zip(axes.flat, layers, strict=False):
        rows = summary[summary["layer"] == layer]
        for row in rows.itertuples():
            label = _series(row.method, row.switches)
            part = curves[(curves["layer"] == layer) & (curves["method"] == row.method)
                          & (curves["switches"] == row.switches)]
            if len(part):
                mean = part.groupby("step")[["seconds", "psnr"]].mean()
                ax.plot(mean["seconds"], mean["psnr"], "-", color=color[label], label=label)
            else:
                err = _yerr(np.array([row.psnr]), np.array([row.psnr_lo]),
                            np.array([row.psnr_hi]))
                ax.errorbar([max(row.seconds_per_image, 1e-9)], [row.psnr], yerr=err, fmt="o",
                            capsize=3, color=color[label], label=label)
        ax.set_xscale("log")
        ax.set_xlabel("seconds per image")
        ax.set_ylabel("PSNR (dB, pixels in [0, 1])")
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(layers):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_leakage(summary: pd.DataFrame) -> Any:
    """The leakage profile: PSNR and SSIM by depth, one line per method variant.

    The SSIM panel draws the line SSIM = :data:`UNRECOGNISABLE_SSIM` under which a
    reconstruction counts as unrecognisable.

    Parameters
    ----------
    summary : pandas.DataFrame
        :data:`shadownets.invert.SUMMARY_COLUMNS` (``LeakageResult.table``).
    """
    plt = _pyplot()
    layers = list(dict.fromkeys(summary.sort_values("depth")["layer"]))
    pos = {layer: i for i, layer in enumerate(layers)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    series = [_series(m, s) for m, s in zip(summary["method"], summary["switches"],
                                              strict=True)]
    groups = list(summary.groupby(np.array(series), sort=False))
    for k, (label, g) in enumerate(groups):
        g = g.sort_values("depth")
        x = np.array([pos[layer] for layer in g["layer"]], float)
        x = x + (k - (len(groups) - 1) / 2) * 0.05
        style = "--" if "unknown" in label else "-"
        for ax, col in zip(axes, ("psnr", "ssim"), strict=True):
            est = g[col].to_numpy(float)
            ax.errorbar(x, est, yerr=_yerr(est, g[f"{col}_lo"].to_numpy(float),
                                           g[f"{col}_hi"].to_numpy(float)),
                        fmt="o" + style, capsize=3, label=label, ms=4)
    axes[1].axhline(UNRECOGNISABLE_SSIM, color="0.3", lw=1, ls=":",
                    label=f"unrecognisable (SSIM < {UNRECOGNISABLE_SSIM})")
    axes[1].set_ylim(min(-0.05, float(np.nanmin(summary["ssim"])) - 0.05)
                     if len(summary) and np.isfinite(summary["ssim"]).any() else -0.05, 1.05)
    for ax, name in zip(axes, ("PSNR (dB, pixels in [0, 1])", "SSIM (scikit-image)"),
                        strict=True):
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=30, ha="right", fontsize=8)
        ax.set_xlabel("layer (bottom → top)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle("leakage profile: how well each layer's activations give back the input",
                 fontsize=9)
    fig.tight_layout()
    return fig


def invert_figures(result: InversionResult, *, n: int = 8) -> dict[str, Any]:
    """``{"grid": ..., "psnr_time": ...}`` of one inversion."""
    return {"grid": plot_grid(result.originals, result.reconstructions, result.variants,
                              result.scale, n=n, title=f"layer {result.info['layer']}"),
            "psnr_time": plot_psnr_time(result.summary, result.curves)}


def leakage_figures(result: LeakageResult) -> dict[str, Any]:
    """``{"leakage": profile, "psnr_time": ...}`` of a leakage run."""
    return {"leakage": plot_leakage(result.table),
            "psnr_time": plot_psnr_time(result.table, result.curves)}
