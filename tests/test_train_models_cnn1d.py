"""Tests for the cnn1d zoo model: shapes, options, errors, a training step, its shadow net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shadownets.reverse import reverse
from shadownets.train.models import create_model, hidden_layer_names, list_models

SHAPES = [(1, 1, 40), (2, 1, 33)]


def test_registered():
    assert "cnn1d" in list_models()


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_shape_and_only_reversible_layers(shape):
    torch.manual_seed(0)
    model = create_model("cnn1d", shape, 7)
    assert model(torch.randn(5, *shape)).shape == (5, 7)
    allowed = (nn.Flatten, nn.Conv1d, nn.ReLU, nn.Linear, nn.Dropout)
    assert all(isinstance(m, allowed) for m in model.net)
    assert model.input_shape == shape and model.num_classes == 7


def test_defaults_are_the_paper_cnn():
    model = create_model("cnn1d", (1, 1, 40), 10)
    convs = [m for m in model.net if isinstance(m, nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == \
        [(25, (5,), (2,), (1,))] * 3
    assert model.net[-1].in_features == 25 * 4  # lengths 40 -> 19 -> 9 -> 4
    assert hidden_layer_names(model) == ["net.2", "net.4", "net.6"]


def test_kwargs_recorded_for_rebuilding():
    model = create_model("cnn1d", (1, 1, 40), 10, channels=(8, 16), kernel=3, stride=1,
                         padding=0, dropout=0.1)
    assert model.zoo_kwargs == {"channels": [8, 16], "kernel": 3, "stride": 1, "padding": 0,
                                "dropout": 0.1}
    again = create_model("cnn1d", (1, 1, 40), 10, **model.zoo_kwargs)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_dropout_adds_modules_that_are_identity_in_eval():
    torch.manual_seed(0)
    model = create_model("cnn1d", (1, 1, 40), 10, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in model.net) == 3
    model.eval()
    x = torch.randn(3, 1, 1, 40)
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("shape, kwargs, match", [
    ((1, 8, 8), {}, r"cnn1d: input_shape must be \(C, 1, L\) signals; got \(1, 8, 8\)"),
    ((1, 1, 40), {"channels": ()}, r"channels must be a sequence of positive ints; got \(\)"),
    ((1, 1, 40), {"channels": (0,)}, r"channels must be a sequence of positive ints"),
    ((1, 1, 40), {"kernel": 0}, r"kernel must be an int >= 1; got 0"),
    ((1, 1, 40), {"stride": 1.5}, r"stride must be an int >= 1; got 1.5"),
    ((1, 1, 40), {"padding": -1}, r"padding must be an int >= 0; got -1"),
    ((1, 1, 40), {"dropout": 1.0}, r"dropout must be a float in \[0, 1\); got 1.0"),
    ((1, 1, 40), {"depth": 3}, r"model 'cnn1d': .*unexpected keyword argument 'depth'"),
    ((1, 1, 3), {}, r"input_shape too short for 3 convolutions of kernel 5, stride 2, "
                    r"padding 1; got length 3"),
])
def test_bad_options(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("cnn1d", shape, 10, **kwargs)


def test_training_steps_decrease_loss():
    torch.manual_seed(0)
    model = create_model("cnn1d", (1, 1, 40), 10)
    x, y = torch.randn(32, 1, 1, 40), torch.arange(32) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_shadow_of_every_hidden_layer_generates_input_shape(shape):
    torch.manual_seed(0)
    model = create_model("cnn1d", shape, 10).eval()
    x = torch.randn(4, *shape)
    for layer in hidden_layer_names(model):
        shadow = reverse(model, x, layer, rho=0.5, alpha="theory")
        enc = shadow.encode(x)
        gen = shadow.generate(enc.h, switches=enc.switches,
                              generator=torch.Generator().manual_seed(0))
        assert gen.shape == x.shape
        assert torch.isfinite(gen).all()
