"""TyingConfig, the noise specs and the tying data specs (model:... and data sets)."""

from __future__ import annotations

import re

import pytest
import torch

from shadownets.tying import ModelData, Noise, TyingConfig, load_tying_data, parse_noise
from shadownets.tying.data import parse_tying_data


@pytest.mark.parametrize("text, noise", [
    ("dropout:0.5", Noise("dropout", 0.5)), ("gaussian:0.25", Noise("gaussian", 0.25)),
    ("none", Noise("none", 0.0)), (" Dropout:1 ", Noise("dropout", 1.0)),
    ("gaussian:0", Noise("gaussian", 0.0)),
])
def test_noise_specs_parse(text, noise):
    assert parse_noise(text) == noise
    assert parse_noise(noise.text) == noise  # the canonical text parses back


@pytest.mark.parametrize("text, fragment", [
    ("dropout", "noise must be dropout:RHO"), ("dropout:", "'' is not a number"),
    ("dropout:abc", "'abc' is not a number"), ("dropout:0", "must lie in (0, 1], got 0"),
    ("dropout:1.5", "must lie in (0, 1], got 1.5"), ("gaussian:-1", "finite number >= 0"),
    ("gaussian:inf", "finite number >= 0"), ("salt:0.1", "noise must be dropout:RHO"),
    ("", "noise must be"),
])
def test_malformed_noise_specs_are_one_line_errors(text, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        parse_noise(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("changes, fragment", [
    ({"hidden": 0}, "hidden must be an int >= 1; got 0"),
    ({"hidden": -3}, "hidden must be an int >= 1; got -3"),
    ({"hidden": 2.5}, "hidden must be an int >= 1; got 2.5"),
    ({"depth": 3}, "depth must be 1 or 2; got 3"),
    ({"seeds": 0}, "seeds must be an int >= 1"),
    ({"noise": "dropout:x"}, "noise must be dropout:RHO"),
    ({"l2": -1.0}, "l2 must be a non-negative finite float"),
    ({"control_l2": 0.0}, "control_l2 must be a positive finite float"),
    ({"lr": float("nan")}, "lr must be a positive finite float"),
    ({"data": " "}, "data must be a data spec"),
    ({"tied": 1}, "tied must be True or False"),
])
def test_config_checks_every_setting(changes, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        TyingConfig(**changes)


def test_config_models_and_seeds():
    c = TyingConfig(seed=4, seeds=3)
    assert c.seed_list == (4, 5, 6) and c.models == ("untied", "tied", "linear")
    assert c.replace(tied=False, control=False).models == ("untied",)
    with pytest.raises(ValueError, match="unknown TyingConfig fields"):
        c.replace(hiden=3)


def test_model_specs_parse_with_defaults():
    assert parse_tying_data("model") == ModelData()
    spec = parse_tying_data("model:n=32, m=8,rho=0.25")
    assert spec == ModelData(n=32, m=8, k=8, rho=0.25)
    assert spec.text == "model:n=32,m=8,k=8,rho=0.25" and spec.alpha == 2 / (0.25 * 32)
    assert parse_tying_data("digits") == "digits"


@pytest.mark.parametrize("spec, fragment", [
    ("model:n=abc", "n must be a number, got 'abc'"),
    ("model:q=3", "keys n, m, k, rho"), ("model:n", "keys n, m, k, rho"),
    ("model:k=100", "k must lie in [1, m=64], got k=100"),
    ("model:rho=2", "rho[0] must lie in (0, 1]"),
    ("nope", "data must be model or model:n=N,m=M,k=K,rho=RHO or a data set (cifar10, digits"),
    ("photos", "too few to train an autoencoder"),
])
def test_bad_data_specs_are_one_line_errors(spec, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        parse_tying_data(spec)
    assert "\n" not in str(info.value)


def test_model_data_come_with_w_alpha_and_codes():
    data = load_tying_data("model:n=48,m=12,k=3,rho=0.5", n_train=300, n_test=50, seed=2)
    assert data.kind == "model" and data.x_train.shape == (300, 48)
    assert data.x_test.shape == (50, 48) and data.weights.shape == (48, 12)
    assert data.codes.shape == (300, 12) and ((data.codes > 0).sum(1) == 3).all()
    assert data.alpha == pytest.approx(2 / (0.5 * 48))
    assert float(data.x_train.std()) == pytest.approx(1.0, rel=1e-5)  # one global scale
    assert (data.x_train >= 0).all()
    # the samples are the generative model's: x·scale = ReLU(αWh) ⊙ z, z a 0/1 mask
    raw = data.x_train * data.scale
    full = torch.relu(data.alpha * data.codes @ data.weights.T)
    on = raw > 0
    torch.testing.assert_close(raw[on], full[on], rtol=1e-4, atol=1e-6)
    again = load_tying_data("model:n=48,m=12,k=3,rho=0.5", n_train=300, n_test=50, seed=2)
    assert torch.equal(again.x_train, data.x_train)
    other = load_tying_data("model:n=48,m=12,k=3,rho=0.5", n_train=300, n_test=50, seed=3)
    assert not torch.equal(other.weights, data.weights)


def test_digits_are_flattened_and_capped():
    data = load_tying_data("digits", n_train=200, n_test=30)
    assert data.kind == "real" and data.weights is None and data.alpha is None
    assert data.x_train.shape == (200, 64) and data.x_test.shape == (30, 64)
    every = load_tying_data("digits", n_train=100_000, n_test=30)
    assert every.x_train.shape[0] == every.info["train_available"] < 100_000
