"""Figures for training runs and comparisons (matplotlib, Agg; imported only when used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["plot_error_vs_labels", "plot_history"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_error_vs_labels(cells: pd.DataFrame) -> Any:
    """Test error (mean ± std over seeds) against labeled examples, one line per method.

    Parameters
    ----------
    cells : DataFrame
        Columns dataset, n_labels, method, test_error_mean, test_error_std (see
        :data:`shadownets.train.compare.CELL_COLUMNS`); one panel per data set.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    datasets = list(dict.fromkeys(cells["dataset"]))
    fig, axes = plt.subplots(1, max(len(datasets), 1), figsize=(5 * max(len(datasets), 1), 4),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=False):
        sub = cells[cells.dataset == dataset]
        for method, part in sub.groupby("method", sort=False):
            part = part.sort_values("n_labels")
            ax.errorbar(part.n_labels, part.test_error_mean, yerr=part.test_error_std.fillna(0),
                        marker="o", capsize=3, label=str(method))
        ax.set_xscale("log")
        ax.set_xlabel("labeled training examples")
        ax.set_ylabel("test error")
        ax.set_title(str(dataset))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[dict[str, Any]] | pd.DataFrame) -> Any:
    """Training curves of one run: losses (left) and errors (right) per epoch.

    Parameters
    ----------
    history : list of dict or DataFrame
        Rows as in :attr:`shadownets.train.RunResult.history` / ``metrics.csv``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    df = pd.DataFrame(history)
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    for col in ("train_loss", "aug_loss", "val_loss", "test_loss"):
        if col in df and df[col].notna().any():
            ax_loss.plot(df.epoch[df[col].notna()], df[col].dropna(), marker=".", label=col)
    for col in ("train_error", "val_error", "test_error"):
        if col in df and df[col].notna().any():
            ax_err.plot(df.epoch[df[col].notna()], df[col].dropna(), marker=".", label=col)
    for ax, name in ((ax_loss, "cross-entropy"), (ax_err, "error rate")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
