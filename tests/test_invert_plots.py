"""Figures of shadownets.invert: grid, PSNR vs time, leakage profile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shadownets.invert import InvertConfig, ValueScale, invert, leakage
from shadownets.invert.plots import (
    UNRECOGNISABLE_SSIM,
    invert_figures,
    leakage_figures,
    plot_grid,
    plot_leakage,
    plot_psnr_time,
    variant_label,
)
from shadownets.train import create_model


@pytest.fixture(scope="module")
def runs():
    from shadownets.data import load_dataset

    d = load_dataset("digits")
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    cfg = InvertConfig(steps=4, record_every=2)
    scale = ValueScale(d.mean, d.std)
    x = d.x_test[:6]
    one = invert(model, x, "net.4", config=cfg.replace(method="warm"), scale=scale)
    profile = leakage(model, x, config=cfg, scale=scale)
    return one, profile


def test_grid_has_a_row_per_variant_and_a_column_per_image(runs):
    one, _ = runs
    fig = plot_grid(one.originals, one.reconstructions, one.variants, one.scale, n=4)
    assert len(fig.axes) == (1 + len(one.variants)) * 4
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[4].get_ylabel() == "warm"
    image = fig.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.as_tensor(image.data, dtype=torch.float64),
                               one.scale.to_unit(one.originals[0, 0].double()).clamp(0, 1))


def test_grid_draws_one_dimensional_inputs_as_lines():
    net = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(48, 2))
    result = invert(net, torch.randn(3, 2, 16), "1")
    fig = plot_grid(result.originals, result.reconstructions, result.variants, result.scale)
    assert len(fig.axes) == 2 * 3 and len(fig.axes[0].lines) == 2  # one line per channel


def test_psnr_time_shows_one_pass_points_and_optimisation_curves(runs):
    _, profile = runs
    fig = plot_psnr_time(profile.table, profile.curves)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(profile.layers)
    ax = visible[1]  # net.4: shadow known / unknown as points, optimize and warm as curves
    curves = [line for line in ax.lines if len(line.get_xdata()) == 3]  # steps 0, 2, 4
    assert len(curves) == 2
    assert ax.get_xscale() == "log"


def test_leakage_profile_draws_the_unrecognisable_line(runs):
    _, profile = runs
    fig = plot_leakage(profile.table)
    ssim_ax = fig.axes[1]
    flat = [line for line in ssim_ax.lines if list(line.get_ydata()) == [UNRECOGNISABLE_SSIM] * 2]
    assert flat and "unrecognisable" in flat[0].get_label()
    labels = [t.get_text() for t in ssim_ax.get_xticklabels()]
    assert labels == list(profile.layers)


def test_figure_sets_and_labels(runs):
    one, profile = runs
    assert set(invert_figures(one)) == {"grid", "psnr_time"}
    assert set(leakage_figures(profile)) == {"leakage", "psnr_time"}
    assert variant_label("shadow", "known") == "shadow (known switches)"
    assert variant_label("optimize", "n/a") == "optimize"
