"""Figures of an audit (matplotlib is imported inside the functions, Agg backend).

Each function takes the audit's outputs and returns a matplotlib Figure; saving is the
caller's business (:func:`shadownets.io.save_figure`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from shadownets.audit.core import AuditResult
from shadownets.audit.spectral import mp_edges, mp_pdf

__all__ = ["plot_ratios", "plot_spectra", "plot_generated", "audit_figures"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ratios(table: pd.DataFrame, *, factor: float = 1.5) -> Any:
    """Trained/null relative-error ratio per layer, with intervals, one panel per setting.

    Parameters
    ----------
    table : pandas.DataFrame
        The audit table (columns ``ratio_<setting>_<null>[_lo|_hi]``).
    factor : float, default 1.5
        The verdict band ``[1/factor, factor]``, shaded.
    """
    plt = _pyplot()
    settings = [s for s in ("one", "one_theory", "input")
                if any(c.startswith(f"ratio_{s}_") for c in table.columns)]
    kinds = sorted({c.split("_")[-1] for c in table.columns
                    if c.startswith("ratio_one_") and not c.endswith(("_lo", "_hi"))})
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), squeeze=False)
    x = np.arange(len(table))
    titles = {"one": "one layer down, trained bias", "one_theory": "one layer down, theory bias",
              "input": "down to the input, trained bias"}
    for ax, s in zip(axes[0], settings, strict=True):
        ax.axhspan(1 / factor, factor, color="0.9", label="random-like band")
        ax.axhline(1.0, color="0.5", lw=0.8)
        for i, k in enumerate(kinds):
            est = table[f"ratio_{s}_{k}"].to_numpy(float)
            lo = table[f"ratio_{s}_{k}_lo"].to_numpy(float)
            hi = table[f"ratio_{s}_{k}_hi"].to_numpy(float)
            off = (i - (len(kinds) - 1) / 2) * 0.15
            err = np.vstack([est - lo, hi - est])
            ax.errorbar(x + off, est, yerr=np.where(np.isfinite(err), err, 0), fmt="o",
                        capsize=3, label=f"vs {k} null")
        ax.set_yscale("log")
        ax.set_xticks(x, table["layer"].astype(str), rotation=45, ha="right")
        ax.set_title(titles[s], fontsize=9)
        ax.set_ylabel("rel. error: trained / null")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_spectra(result: AuditResult) -> Any:
    """Each layer's squared singular values (scaled) against the Marchenko–Pastur density.

    The trained operator and the first Gaussian null net's are shown as weighted histograms
    of ``λ / (n_large σ²)``; the curve is the MP law of a Gaussian matrix of that shape.
    """
    plt = _pyplot()
    layers = list(result.spectra)
    if not layers:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no spectra (weight_stats=False)", ha="center", va="center")
        ax.axis("off")
        return fig
    cols = min(4, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, layers, strict=False):
        entry = result.spectra[name]
        ref = entry["trained"].spectrum
        ratio = ref.n_small / ref.n_large
        a, b = mp_edges(ratio)
        top = b
        for label, color in (("trained", "C0"), ("gaussian", "C1")):
            if label not in entry:
                continue
            spec, var = entry[label].spectrum, entry[label].variance
            vals = spec.values.cpu().numpy() / (spec.n_large * var)
            top = max(top, float(np.quantile(vals, 0.995)))
            bins = int(np.clip(2 * np.sqrt(len(vals)), 10, 60))
            ax.hist(vals, bins=bins, weights=spec.weights.cpu().numpy(), density=True,
                    histtype="step", color=color,
                    label=f"{label}{'' if spec.exact else ' (Lanczos est.)'}")
        grid = np.linspace(max(a, 1e-4), b, 400)
        ax.plot(grid, mp_pdf(grid, ratio), color="k", lw=1, label="Marchenko–Pastur")
        ax.set_xlim(0, top * 1.05)
        ax.set_title(f"{name} ({ref.n_large}x{ref.n_small})", fontsize=9)
        ax.set_xlabel("λ / (n σ²)", fontsize=8)
    for ax in list(axes.flat)[len(layers):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _as_image(t: np.ndarray) -> tuple[np.ndarray, str | None]:
    if t.ndim == 3 and t.shape[0] in (1, 3):
        img = t.transpose(1, 2, 0)
        lo, hi = np.quantile(img, 0.01), np.quantile(img, 0.99)
        img = np.clip((img - lo) / (hi - lo + 1e-12), 0, 1)
        return (img[..., 0], "gray") if img.shape[-1] == 1 else (img, None)
    return t.reshape(-1), None


def plot_generated(result: AuditResult, *, n: int = 6) -> Any:
    """Real inputs (top row) and the inputs generated from their codes at each layer."""
    plt = _pyplot()
    layers = list(result.generated)
    if result.real is None or not layers:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no generated inputs", ha="center", va="center")
        ax.axis("off")
        return fig
    n = min(n, result.real.shape[0], *(result.generated[k].shape[0] for k in layers))
    rows = [("real", result.real)] + [(k, result.generated[k]) for k in layers]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.4 * n, 1.4 * len(rows)), squeeze=False)
    for r, (label, batch) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            data, cmap = _as_image(batch[c].numpy())
            if data.ndim == 1:
                ax.plot(data, lw=0.6)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.imshow(data, cmap=cmap)
                ax.axis("off")
            if c == 0:
                ax.set_title(label, fontsize=7, loc="left")
    fig.tight_layout()
    return fig


def audit_figures(result: AuditResult) -> dict[str, Any]:
    """All figures of an audit, by file stem: ``ratios``, ``spectra``, ``generated``."""
    return {
        "ratios": plot_ratios(result.table, factor=result.config.factor),
        "spectra": plot_spectra(result),
        "generated": plot_generated(result),
    }
