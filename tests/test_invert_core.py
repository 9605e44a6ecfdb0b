"""invert / leakage: every kind of net reverse supports, the tables, one-line input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shadownets.invert import (
    CURVES_COLUMNS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    InvertConfig,
    ValueScale,
    invert,
    leakage,
)
from shadownets.train import create_model

FAST = InvertConfig(steps=3, record_every=1)


class ResBlock(nn.Module):
    """conv → ReLU → (+ conv) → ReLU: a ResNet-style skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(1, 4, 3, padding=1)
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.c0(x))
        return self.fc(F.relu(y + self.c1(y)).flatten(1))


def _conv1d() -> nn.Module:
    return nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Flatten(), nn.Linear(4 * 8, 3))


@pytest.fixture(scope="module")
def digits():
    from shadownets.data import load_dataset

    d = load_dataset("digits")
    return d.x_test[:8], d.y_test[:8], ValueScale(d.mean, d.std), d.x_train[:64]


NETS = {
    "mlp": (lambda: create_model("mlp", (1, 8, 8), 10, widths=[32, 16]), "net.4", (1, 8, 8)),
    "cnn-maxpool": (lambda: create_model("lenet", (1, 8, 8), 10), "net.4", (1, 8, 8)),
    "resnet-block": (ResBlock, "relu_1", (1, 8, 8)),
    "conv1d": (_conv1d, "1", (2, 16)),
}


@pytest.mark.parametrize("kind", list(NETS))
@pytest.mark.parametrize("method", ["shadow", "optimize", "warm"])
def test_every_kind_of_net_inverts(kind, method):
    build, layer, shape = NETS[kind]
    torch.manual_seed(0)
    model = build()
    x = torch.randn(5, *shape)
    result = invert(model, x, layer, config=FAST.replace(method=method))
    assert list(result.table.columns) == list(TABLE_COLUMNS)
    assert result.reconstructions.shape == (len(result.variants), 5, *shape)
    assert len(result.table) == 5 * len(result.variants)
    assert set(result.table["method"]) == {method}
    assert np.isfinite(result.table[["psnr", "ssim", "feature_error", "seconds"]]).all().all()
    if method == "shadow":
        assert result.curves.empty
    else:
        assert list(result.curves.columns) == list(CURVES_COLUMNS)
        assert sorted(set(result.curves["step"])) == [0, 1, 2, 3]


def test_shadow_reports_known_and_unknown_switches_below_max_pools(digits):
    x, y, scale, _ = digits
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    pooled = invert(model, x, "net.4", labels=y, scale=scale)
    assert pooled.variants == (("shadow", "known"), ("shadow", "unknown"))
    assert list(pooled.summary["switches"]) == ["known", "unknown"]
    first = invert(model, x, "net.1", scale=scale)  # no pool below the first conv
    assert first.variants == (("shadow", "none"),)


def test_shadow_calibrates_on_aux_when_given(digits):
    x, _, scale, aux = digits
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    own = invert(model, x, "net.4", scale=scale)
    attacker = invert(model, x, "net.4", scale=scale, aux=aux)
    assert own.info["calibrated_on"] == "inputs" and attacker.info["calibrated_on"] == "aux"
    assert not torch.equal(own.reconstructions, attacker.reconstructions)


def test_accuracy_against_labels_or_the_nets_own_classes(digits):
    x, _, scale, _ = digits
    torch.manual_seed(0)
    model = create_model("mlp", (1, 8, 8), 10, widths=[32]).eval()
    own = model(x).argmax(1)
    a = invert(model, x, "net.2", scale=scale)
    b = invert(model, x, "net.2", scale=scale, labels=own)
    c = invert(model, x, "net.2", scale=scale, labels=(own + 1) % 10)
    assert a.info["accuracy_vs"] == "prediction" and b.info["accuracy_vs"] == "labels"
    recon_classes = model(a.reconstructions[0]).argmax(1)
    np.testing.assert_array_equal(a.table["correct"], (recon_classes == own).double())
    np.testing.assert_array_equal(a.table["correct"], b.table["correct"])
    assert ((c.table["correct"] + b.table["correct"]) <= 1).all()


def test_leakage_table_has_one_row_per_layer_and_variant(digits):
    x, y, scale, _ = digits
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    result = leakage(model, x, config=FAST, labels=y, scale=scale)
    table = result.table
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert result.layers == ("net.1", "net.4", "net.8", "net.10")  # the ReLU outputs
    assert list(dict.fromkeys(table["layer"])) == list(result.layers)
    assert list(table[table.layer == "net.1"]["method"]) == ["shadow", "optimize", "warm"]
    assert list(table[table.layer == "net.4"]["switches"]) == ["known", "unknown", "n/a",
                                                                "known"]
    assert (table.groupby("layer")["depth"].first().sort_values().to_numpy() == [1, 2, 3, 4]
            ).all()
    assert (table["n"] == 8).all() and set(table["kind"]) == {"ReLU"}
    assert (table["psnr_lo"] <= table["psnr"]).all() and (table["psnr"] <= table["psnr_hi"]
                                                          ).all()
    assert len(result.per_image) == 8 * len(table)
    row = table[(table.layer == "net.8") & (table.method == "optimize")].iloc[0]
    part = result.per_image[(result.per_image.layer == "net.8")
                            & (result.per_image.method == "optimize")]
    assert row["psnr"] == pytest.approx(part["psnr"].mean())
    assert row["accuracy"] == pytest.approx(part["correct"].mean())


def test_leakage_runs_the_named_layers_bottom_up(digits):
    x, _, scale, _ = digits
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    result = leakage(model, x, layers=["net.7", "net.3"], methods=["shadow"], scale=scale)
    assert result.layers == ("net.3", "net.7")
    assert set(result.table["method"]) == {"shadow"} and result.curves.empty


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return create_model("lenet", (1, 8, 8), 10)


def _one_line(info: pytest.ExceptionInfo) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


def test_layer_not_in_the_net_lists_the_known_ones(lenet, digits):
    with pytest.raises(ValueError, match=r"layer: unknown activation point 'conv9'; known: "
                                         r"net\.0, net\.1") as info:
        invert(lenet, digits[0], "conv9")
    _one_line(info)
    with pytest.raises(ValueError, match=r"layers: unknown or non-reversible .*'conv9'.*known"):
        leakage(lenet, digits[0], layers=["net.1", "conv9"])


def test_wrong_data_shape_is_one_line(lenet):
    with pytest.raises(ValueError, match=r"x: expected inputs of shape \(batch, 1, 8, 8\) for "
                                         r"this model, got \(4, 1, 9, 9\)") as info:
        invert(lenet, torch.zeros(4, 1, 9, 9), "net.1")
    _one_line(info)
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 3))
    with pytest.raises(ValueError, match=r"x of shape \(2, 1, 9, 9\) does not fit the model"):
        invert(plain, torch.zeros(2, 1, 9, 9), "1")
    with pytest.raises(ValueError, match="x: expected a float tensor"):
        invert(lenet, torch.zeros(4, 1, 8, 8, dtype=torch.int64), "net.1")
    with pytest.raises(ValueError, match=r"aux: expected inputs of shape \(batch, 1, 8, 8\)"):
        invert(lenet, torch.zeros(4, 1, 8, 8), "net.1", aux=torch.zeros(3, 1, 4, 4))


def test_non_finite_inputs_are_refused(lenet):
    x = torch.zeros(4, 1, 8, 8)
    x[1, 0, 2, 2] = math.nan
    x[2, 0, 0, 0] = math.inf
    with pytest.raises(ValueError, match=r"x: 2 non-finite value\(s\)"):
        invert(lenet, x, "net.1")


def test_bad_settings_methods_and_labels(lenet):
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="steps must be an int >= 1; got 0"):
        invert(lenet, x, "net.1", config=InvertConfig(method="optimize", steps=0))
    with pytest.raises(ValueError, match="method must be one of"):
        invert(lenet, x, "net.1", config=InvertConfig(method="deconv"))
    with pytest.raises(ValueError, match="methods: expected distinct names from shadow"):
        leakage(lenet, x, methods=["shadow", "deconv"])
    with pytest.raises(ValueError, match=r"labels: expected integer class labels of shape "
                                         r"\(4,\)"):
        invert(lenet, x, "net.1", labels=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="config: expected an InvertConfig"):
        invert(lenet, x, "net.1", config={"steps": 3})
    with pytest.raises(ValueError, match="method 'learned' needs aux"):
        invert(lenet, x, "net.1", config=InvertConfig(method="learned"))
    with pytest.raises(ValueError, match="scale: 3 mean/std values for inputs with 1 channels"):
        invert(lenet, x, "net.1", scale=ValueScale((0.1, 0.2, 0.3), (1, 1, 1)))


def test_learned_goes_through_invert_with_its_training_time_apart(digits):
    x, y, scale, aux = digits
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    cfg = InvertConfig(method="learned", inverse_epochs=1)
    result = invert(model, x, "net.4", config=cfg, labels=y, aux=aux, scale=scale)
    assert result.variants == (("learned", "n/a"),)
    assert result.reconstructions.shape == (1, *x.shape)
    row = result.summary.iloc[0]
    assert row["setup_seconds"] == result.timings["learned_train"] > 0
    unit = scale.to_unit(result.reconstructions)
    assert float(unit.min()) >= -1e-6 and float(unit.max()) <= 1 + 1e-6
