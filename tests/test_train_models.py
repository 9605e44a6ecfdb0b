"""Tests for shadownets.train.models: registry, shapes, layer names, reversibility."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shadownets.train.models import (
    create_model,
    hidden_layer_names,
    list_models,
    register_model,
    resolve_layer,
)

SHAPES = [(1, 8, 8), (3, 16, 16)]


def _reverse():
    from shadownets.reverse import reverse

    return reverse


def test_registry_lists_the_three_families():
    assert {"mlp", "lenet", "vgg-small"} <= set(list_models())


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; known models: .*lenet.*mlp"):
        create_model("resnet", (1, 8, 8), 10)


def test_duplicate_registration_refused():
    with pytest.raises(ValueError, match="'mlp' is already registered"):
        register_model("mlp")(lambda *a, **k: None)


@pytest.mark.parametrize("name", ["mlp", "lenet", "vgg-small"])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_shape_and_only_reversible_layers(name, shape):
    torch.manual_seed(0)
    model = create_model(name, shape, 7)
    out = model(torch.randn(5, *shape))
    assert out.shape == (5, 7)
    allowed = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Dropout)
    assert all(isinstance(m, allowed) for m in model.net)
    assert model.input_shape == shape and model.num_classes == 7


@pytest.mark.parametrize("name", ["mlp", "lenet", "vgg-small"])
@pytest.mark.parametrize("shape", SHAPES)
def test_shadow_of_top_hidden_layer_generates_input_shape(name, shape):
    reverse = _reverse()
    torch.manual_seed(0)
    model = create_model(name, shape, 10).eval()
    x = torch.randn(4, *shape)
    top = hidden_layer_names(model)[-1]
    shadow = reverse(model, x, top, rho=0.5, alpha="theory")
    enc = shadow.encode(x)
    gen = shadow.generate(enc.h, switches=enc.switches, generator=torch.Generator().manual_seed(0))
    assert gen.shape == x.shape
    assert torch.isfinite(gen).all()


@pytest.mark.parametrize("name", ["mlp", "lenet", "vgg-small"])
def test_dropout_option_adds_modules_that_are_identity_in_eval(name):
    torch.manual_seed(0)
    model = create_model(name, (1, 8, 8), 10, dropout=0.5)
    assert any(isinstance(m, nn.Dropout) for m in model.net)
    model.eval()
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(model(x), model(x))


def test_kwargs_recorded_for_rebuilding():
    model = create_model("mlp", (1, 8, 8), 10, widths=(32, 16), dropout=0.1)
    assert model.zoo_kwargs == {"widths": [32, 16], "dropout": 0.1}
    again = create_model("mlp", (1, 8, 8), 10, **model.zoo_kwargs)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_hidden_layers_and_resolve_layer():
    model = create_model("mlp", (1, 8, 8), 10, widths=(32, 16))
    assert hidden_layer_names(model) == ["net.2", "net.4"]
    assert resolve_layer(model, "top") == "net.4"
    assert resolve_layer(model, 0) == "net.2"
    assert resolve_layer(model, "-2") == "net.2"
    assert resolve_layer(model, "net.1") == "net.1"


@pytest.mark.parametrize("layer, match", [
    (5, r"layer index 5 out of range for 2 hidden layers"),
    ("conv9", r"layer must be 'top', an index into the hidden layers"),
])
def test_resolve_layer_errors(layer, match):
    model = create_model("mlp", (1, 8, 8), 10, widths=(32, 16))
    with pytest.raises(ValueError, match=match):
        resolve_layer(model, layer)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (8, 8)}, r"input_shape must be three positive ints \(C, H, W\); got \(8, 8\)"),
    ({"num_classes": 1}, r"num_classes must be an int >= 2; got 1"),
    ({"widths": (0,)}, r"widths must be a sequence of positive ints; got \(0,\)"),
    ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\); got 1.0"),
    ({"depth": 3}, r"unexpected keyword argument 'depth'"),
])
def test_bad_options(kwargs, match):
    args = {"input_shape": (1, 8, 8), "num_classes": 10}
    args.update(kwargs)
    shape, n = args.pop("input_shape"), args.pop("num_classes")
    with pytest.raises((ValueError, TypeError), match=match):
        create_model("mlp", shape, n, **args)


def test_too_small_input_for_pools():
    with pytest.raises(ValueError, match=r"input_shape too small for 3 pooling stages"):
        create_model("lenet", (1, 4, 4), 10, channels=(4, 4, 4))
