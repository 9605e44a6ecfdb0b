"""InvertConfig: He et al.'s defaults and one ValueError line per bad setting."""

from __future__ import annotations

import math

import pytest

from shadownets.invert import METHODS, InvertConfig


def test_defaults_are_he_et_al_rmle():
    cfg = InvertConfig()
    assert (cfg.steps, cfg.lr, cfg.adam_eps, cfg.amsgrad, cfg.l2_weight) == (5000, 1e-2, 1e-3,
                                                                            True, 0.0)
    assert cfg.method == "shadow" and cfg.switches == "known" and METHODS == (
        "shadow", "optimize", "warm", "learned")


@pytest.mark.parametrize("changes, match", [
    ({"steps": 0}, "steps must be an int >= 1; got 0"),
    ({"steps": -5}, "steps must be an int >= 1"),
    ({"steps": 2.5}, "steps must be an int"),
    ({"method": "gradient"}, "method must be one of shadow, optimize, warm, learned"),
    ({"switches": "maybe"}, "switches must be one of known, unknown"),
    ({"unpool": "switches"}, "unpool must be one of nearest, spread"),
    ({"lr": 0.0}, "lr must be a positive finite float"),
    ({"lr": math.inf}, "lr must be a positive finite float"),
    ({"tv_weight": -1.0}, "tv_weight must be a non-negative finite float"),
    ({"l2_weight": math.nan}, "l2_weight must be a non-negative"),
    ({"batch_size": 0}, "batch_size must be an int >= 1"),
    ({"record_every": 0}, "record_every must be an int >= 1"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"level": 1.0}, r"level must be a float in \(0, 1\)"),
    ({"amsgrad": 1}, "amsgrad must be True or False"),
])
def test_bad_settings_raise_one_clear_line(changes, match):
    with pytest.raises(ValueError, match=match) as info:
        InvertConfig(**changes)
    assert "\n" not in str(info.value)


def test_replace_validates_and_refuses_unknown_fields():
    assert InvertConfig().replace(steps=7).steps == 7
    with pytest.raises(ValueError, match="steps must be"):
        InvertConfig().replace(steps=0)
    with pytest.raises(ValueError, match=r"unknown InvertConfig fields \['iters'\]"):
        InvertConfig().replace(iters=3)
