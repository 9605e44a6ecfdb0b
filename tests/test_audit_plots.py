"""Tests for shadownets.audit.plots: the figures render from an audit result."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

from shadownets.audit.config import AuditConfig
from shadownets.audit.core import run_audit
from shadownets.audit.plots import audit_figures, plot_generated, plot_ratios, plot_spectra
from shadownets.io import save_figure


@pytest.fixture(scope="module")
def result():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 20),
                        nn.ReLU(), nn.Linear(20, 2))
    return run_audit(net, torch.randn(40, 1, 8, 8),
                     config=AuditConfig(n_inputs=40, n_null=2, bootstrap=20, n_examples=3))


def test_figures_have_one_panel_per_layer_or_setting(result):
    assert matplotlib.get_backend().lower() == "agg"
    assert len(plot_ratios(result.table).axes) == 3
    spectra = plot_spectra(result)
    assert sum(ax.has_data() for ax in spectra.axes) == 2
    generated = plot_generated(result, n=3)
    assert len(generated.axes) == 3 * 3  # real + 2 layers, 3 examples each
    for fig in (spectra, generated):
        matplotlib.pyplot.close(fig)


def test_audit_figures_save(tmp_path, result):
    figs = audit_figures(result)
    assert set(figs) == {"ratios", "spectra", "generated"}
    for stem, fig in figs.items():
        path = save_figure(tmp_path / f"{stem}.png", fig)
        assert path.stat().st_size > 1000
