"""Figures made by the report itself (the experiments' own figures come from their modules)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from shadownets.io import save_figure

__all__ = ["plot_shadow_rows", "plot_audit_ratios"]


def plot_shadow_rows(rows: list[tuple[str, torch.Tensor]], path: str | Path,
                     title: str, *, clip: bool = False) -> Path:
    """An image grid: one row per ``(label, images)``, images of shape (n, C, H, W) shown
    per-image min–max scaled (C = 1 grey, C = 3 RGB), or with ``clip`` as they are, clipped
    to [0, 1] (pixels already in display units, e.g. de-normalised photographs)."""
    from matplotlib.figure import Figure

    n = rows[0][1].shape[0]
    fig = Figure(figsize=(1.1 * n + 1.6, 1.15 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            img = images[c].detach().float().cpu()
            if clip:
                img = img.clamp(0.0, 1.0)
            else:
                img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-12)
            ax = axes[r][c]
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray")
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(path, fig)


def plot_audit_ratios(df: pd.DataFrame, path: str | Path, *, factor: float = 1.5) -> Path:
    """Trained/null error ratio per layer (one panel per net), trained vs random-init, with
    the 95% prediction intervals and the random-like band [1/factor, factor] (a layer is
    random-like only when its interval lies inside it, after Holm)."""
    from matplotlib.figure import Figure

    nets = list(dict.fromkeys(df["net"]))
    fig = Figure(figsize=(3.4 * len(nets), 3.2))
    axes = fig.subplots(1, len(nets), squeeze=False, sharey=True)[0]
    for ax, net in zip(axes, nets, strict=True):
        part = df[df["net"] == net]
        for shift, (state, sub) in zip((-0.12, 0.12), part.groupby("state", sort=False),
                                       strict=False):
            x = range(len(sub))
            xs = [i + shift for i in x]
            lo = sub["ratio_one_gaussian"] - sub["ratio_one_gaussian_lo"]
            hi = sub["ratio_one_gaussian_hi"] - sub["ratio_one_gaussian"]
            ax.errorbar(xs, sub["ratio_one_gaussian"], yerr=[lo, hi], fmt="o", capsize=3,
                        label=state)
            ax.set_xticks(list(x), list(sub["layer"]), fontsize=7)
        ax.axhspan(1 / factor, factor, color="green", alpha=0.1)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(net, fontsize=9)
        ax.set_xlabel("layer (ReLU output)")
    axes[0].set_ylabel("error ratio net / Gaussian null")
    axes[-1].legend(fontsize=7)
    return save_figure(path, fig)
