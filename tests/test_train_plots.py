"""Tests for shadownets.train.plots (figures are built, have the expected content)."""

from __future__ import annotations

import pandas as pd

from shadownets.train.compare import CELL_COLUMNS
from shadownets.train.plots import plot_error_vs_labels, plot_history


def test_error_vs_labels_one_panel_per_dataset_one_line_per_method():
    rows = []
    for ds in ("a", "b"):
        for method in ("plain", "shadow"):
            for n in (50, 100, 300):
                rows.append([ds, str(n), n, method, 0, "{}", 5, 0.1, 0.2 - n / 3000, 0.01])
    fig = plot_error_vs_labels(pd.DataFrame(rows, columns=CELL_COLUMNS))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["plain", "shadow"]
    assert axes[0].get_xscale() == "log"


def test_history_plot_skips_unevaluated_epochs():
    history = [{"epoch": 1, "train_loss": 1.0, "train_error": 0.5, "val_error": None},
               {"epoch": 2, "train_loss": 0.5, "train_error": 0.2, "val_error": 0.3}]
    fig = plot_history(history)
    err_ax = fig.get_axes()[1]
    lines = {line.get_label(): list(line.get_xdata()) for line in err_ax.get_lines()}
    assert lines == {"train_error": [1, 2], "val_error": [2]}
