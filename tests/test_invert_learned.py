"""The learned inverse network (shadownets.invert.learned): shapes, training, errors."""

import dataclasses

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from torch import nn

from shadownets.data import load_dataset
from shadownets.invert.learned import (
    HISTORY_COLUMNS,
    LearnedConfig,
    LearnedInverse,
    build_decoder,
    train_inverse,
)
from shadownets.reverse import list_layers
from shadownets.train import create_model

FAST = LearnedConfig(epochs=2, width=8)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return create_model("lenet", (1, 8, 8), 10)


def _codes(model, x, upto):
    with torch.no_grad():
        return model.net[:upto](x)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("code_shape, input_shape", [
    ((6, 8, 8), (1, 8, 8)),      # conv, same size
    ((16, 4, 4), (1, 8, 8)),     # one pool
    ((16, 2, 2), (3, 16, 16)),   # three doublings
    ((8, 5, 5), (1, 9, 9)),      # stride 2 on an odd size: 10 -> resized to 9
    ((8, 3, 7), (2, 13, 28)),    # anisotropic, odd
    ((4, 1, 1), (1, 8, 8)),      # global pool
    ((8, 16, 16), (1, 8, 8)),    # code larger than the input
    ((8, 5), (2, 21)),           # 1-D conv
    ((2, 2, 2, 3), (1, 5, 5, 7)),  # 3-D conv
    ((120,), (1, 8, 8)),         # flat code, image input
    ((10,), (3, 7, 5)),          # flat code, odd image
    ((64,), (2, 33)),            # flat code, 1-D input
    ((4, 6), (1, 8, 8)),         # code of another rank: flattened
    ((32,), (16,)),              # MLP
    ((3, 4, 4), (48,)),          # spatial code, flat input
])
def test_decoder_output_has_the_input_shape(code_shape, input_shape):
    dec = build_decoder(code_shape, input_shape, width=4)
    h = torch.randn(3, *code_shape)
    assert dec(h).shape == (3, *input_shape)  # train mode
    dec.eval()
    assert dec(h[:1]).shape == (1, *input_shape)


def _conv_net():  # strides, pools and odd sizes on 11 x 11 inputs
    return nn.Sequential(nn.Conv2d(1, 3, 3, stride=2), nn.ReLU(),         # 5 x 5
                         nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 7), nn.ReLU())


def _conv1d_net():
    return nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.ReLU(), nn.MaxPool1d(3),
                         nn.Flatten(), nn.Linear(16, 6), nn.ReLU())  # 31 -> 14 -> 4


@pytest.mark.parametrize("make, input_shape", [(_conv_net, (1, 11, 11)),
                                               (_conv1d_net, (2, 31))])
def test_every_layer_of_a_net_inverts_to_the_input_shape(make, input_shape):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(24, *input_shape)
    layers = list_layers(model, x[:1])
    assert len(layers) >= 6
    for info in layers:
        inv = train_inverse(model, info.name, x, config=dataclasses.replace(FAST, epochs=1))
        assert inv.code_shape == info.shape
        x_hat = inv.invert(torch.randn(5, *info.shape))
        assert x_hat.shape == (5, *input_shape) and not x_hat.requires_grad


# --------------------------------------------------------------------------- training


def test_training_lowers_the_validation_loss_and_keeps_the_best_epoch(lenet, digits):
    inv = train_inverse(lenet, "net.4", digits.x_train[:300],
                        config=LearnedConfig(epochs=4, width=8))
    hist = inv.history
    assert list(hist.columns) == list(HISTORY_COLUMNS)
    assert hist["epoch"].tolist() == [1, 2, 3, 4] and inv.epochs == 4
    assert hist["val_loss"].iloc[-1] < hist["val_loss"].iloc[0]
    assert inv.best_epoch == int(hist.loc[hist["val_loss"].idxmin(), "epoch"])
    assert inv.layer == "net.4" and inv.train_seconds > 0


def test_invertible_toy_code_is_inverted_closely():
    """h = ReLU([Q; -Q] x) with Q orthogonal: x = Qᵀ(h₊ − h₋) exactly (for any x)."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    lin = nn.Linear(16, 32, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.cat([q, -q]).float())
    model = nn.Sequential(lin, nn.ReLU())
    x, x_test = torch.rand(1024, 16, generator=g), torch.rand(200, 16, generator=g)
    with torch.no_grad():  # the closed-form inverse holds (the oracle)
        h = model(x_test)
        exact = (h[:, :16] - h[:, 16:]).double() @ q
    assert torch.allclose(exact.float(), x_test, atol=1e-5)
    inv = train_inverse(model, "1", x, config=LearnedConfig(epochs=20, lr=1e-2, width=16))
    rel = ((inv.invert(h) - x_test) ** 2).sum() / ((x_test - x_test.mean(0)) ** 2).sum()
    assert rel < 0.03


def test_lenet_conv_relu_reconstruction_beats_the_mean_image(lenet, digits):
    aux, test = digits.x_train[:600], digits.x_test[:100]
    inv = train_inverse(lenet, "net.1", aux, config=LearnedConfig(epochs=3, width=16))
    x_hat = inv.invert(_codes(lenet, test, 2))

    def px(t):  # [0, 1] pixel space
        return digits.raw(t).clamp(0, 1).double().numpy()

    mean = aux.mean(0, keepdim=True).expand_as(test)
    psnr_inv = peak_signal_noise_ratio(px(test), px(x_hat), data_range=1.0)
    psnr_mean = peak_signal_noise_ratio(px(test), px(mean), data_range=1.0)
    assert psnr_inv > psnr_mean + 2.0


def test_fixed_seed_is_deterministic_and_leaves_the_global_rng(lenet, digits):
    aux, h = digits.x_train[:200], _codes(lenet, digits.x_test[:10], 9)
    state = torch.get_rng_state()
    a = train_inverse(lenet, "net.8", aux, config=FAST)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_inverse(lenet, "net.8", aux, config=FAST)
    c = train_inverse(lenet, "net.8", aux, config=dataclasses.replace(FAST, seed=1))
    assert a.history.equals(b.history)
    assert torch.equal(a.invert(h), b.invert(h))
    assert not torch.equal(a.invert(h), c.invert(h))
    d = train_inverse(lenet, "net.8", aux, config=FAST,
                      generator=torch.Generator().manual_seed(FAST.seed))
    assert torch.equal(a.invert(h), d.invert(h))


def test_the_model_is_left_as_it_was(digits):
    torch.manual_seed(0)
    model = create_model("lenet", (1, 8, 8), 10)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_inverse(model, "net.4", digits.x_train[:100], config=FAST)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_an_invert_config_gives_its_inverse_settings(lenet, digits):
    from shadownets.invert.config import InvertConfig

    cfg = InvertConfig(method="learned", inverse_epochs=2, inverse_lr=2e-3,
                       inverse_batch_size=16, seed=5)
    inv = train_inverse(lenet, "net.1", digits.x_train[:100], config=cfg)
    assert (inv.epochs, inv.config.lr, inv.config.batch_size, inv.config.seed) == \
        (2, 2e-3, 16, 5)
    assert inv.config.adam_eps == LearnedConfig().adam_eps  # not read off InvertConfig
    again = train_inverse(lenet, "net.1", digits.x_train[:100],
                          config=LearnedConfig(epochs=2, lr=2e-3, batch_size=16, seed=5))
    assert again.history.equals(inv.history)


def test_save_and_load_give_the_same_inverse(lenet, digits, tmp_path):
    inv = train_inverse(lenet, "net.4", digits.x_train[:100], config=FAST)
    path = inv.save(tmp_path / "inv.safetensors")
    back = LearnedInverse.load(path)
    h = _codes(lenet, digits.x_test[:7], 5)
    assert torch.equal(inv.invert(h), back.invert(h))
    assert back.history.equals(inv.history) and back.layer == "net.4"
    assert (back.epochs, back.best_epoch, back.config) == (inv.epochs, inv.best_epoch, inv.config)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # flip a weight byte
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="content hash mismatch"):
        LearnedInverse.load(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="no such file"):
        LearnedInverse.load(tmp_path / "missing.safetensors")


# --------------------------------------------------------------------------- errors


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_unknown_layer_names_the_known_ones(lenet, digits):
    with pytest.raises(ValueError, match="unknown activation point 'conv9'") as exc:
        train_inverse(lenet, "conv9", digits.x_train[:50], config=FAST)
    assert "net.1" in _one_line(exc) and "net.8" in _one_line(exc)


@pytest.mark.parametrize("aux, match", [
    (torch.zeros(50, 1, 9, 9), r"takes inputs of shape \(n, 1, 8, 8\)"),
    (torch.zeros(50, 64), "takes inputs of shape"),
    (torch.zeros(50, 1, 8, 8, dtype=torch.int64), "expected a float tensor"),
    (torch.zeros(8), "expected a float tensor"),
    ("images", "expected a float tensor"),
    (torch.zeros(10, 1, 8, 8), r"10 samples split into 9 train / 1 validation"),
])
def test_bad_aux_data_is_one_error_line(lenet, aux, match):
    with pytest.raises(ValueError, match=match) as exc:
        train_inverse(lenet, "net.1", aux, config=FAST)
    _one_line(exc)


def test_non_finite_aux_data_and_unrunnable_shapes(lenet):
    aux = torch.zeros(50, 1, 8, 8)
    aux[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="1 non-finite values") as exc:
        train_inverse(lenet, "net.1", aux, config=FAST)
    _one_line(exc)
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())  # no input_shape attribute
    with pytest.raises(ValueError, match="the model cannot run on inputs of shape") as exc:
        train_inverse(plain, "1", torch.zeros(50, 3, 8, 8), config=FAST)
    _one_line(exc)


@pytest.mark.parametrize("epochs", [0, -3, 1.5, True])
def test_bad_epochs(lenet, digits, epochs):
    with pytest.raises(ValueError, match="epochs must be an int >= 1") as exc:
        train_inverse(lenet, "net.1", digits.x_train[:50], config=FAST, epochs=epochs)
    _one_line(exc)


@pytest.mark.parametrize("field, value, match", [
    ("epochs", 0, "epochs must be an int >= 1"),
    ("batch_size", 1, "batch_size must be an int >= 2"),
    ("lr", 0.0, "lr must be a positive finite float"),
    ("lr", float("nan"), "lr must be a positive finite float"),
    ("val_fraction", 1.0, r"val_fraction must be a float in \(0, 1\)"),
    ("amsgrad", 1, "amsgrad must be a bool"),
])
def test_config_checks_its_ranges(field, value, match):
    with pytest.raises(ValueError, match=match):
        LearnedConfig(**{field: value})


def test_bad_config_type_and_bad_codes(lenet, digits):
    with pytest.raises(ValueError, match="config: expected a LearnedConfig or a config with"):
        train_inverse(lenet, "net.1", digits.x_train[:50], config={"epochs": 2})
    inv = train_inverse(lenet, "net.1", digits.x_train[:50], config=FAST, epochs=1)
    with pytest.raises(ValueError, match=r"h: expected a float tensor of shape \(batch, 6, 8, 8"):
        inv.invert(torch.zeros(2, 16, 4, 4))
    assert inv.invert(torch.zeros(0, 6, 8, 8)).shape == (0, 1, 8, 8)


# --------------------------------------------------------------------------- experiment size


@pytest.mark.slow
def test_trained_lenet_leaks_more_at_conv1_than_at_dense1(digits):
    """He et al.'s ordering: the first conv ReLU leaks more than the first dense ReLU."""
    from shadownets.train import TrainConfig, fit

    model = fit(TrainConfig(model="lenet", epochs=5), splits=digits, progress=False).model
    scores = {}
    for layer, upto in (("net.1", 2), ("net.8", 9)):
        inv = train_inverse(model, layer, digits.x_train, config=LearnedConfig(epochs=20))
        x_hat = inv.invert(_codes(model, digits.x_test, upto))
        scores[layer] = peak_signal_noise_ratio(
            digits.raw(digits.x_test).clamp(0, 1).double().numpy(),
            digits.raw(x_hat).clamp(0, 1).double().numpy(), data_range=1.0)
    assert scores["net.1"] > scores["net.8"] > 0
    assert np.isfinite(list(scores.values())).all()
