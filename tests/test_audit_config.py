"""Tests for shadownets.audit.config: AuditConfig validation."""

from __future__ import annotations

import pytest

from shadownets.audit.config import AuditConfig


def test_defaults_are_valid():
    cfg = AuditConfig()
    assert cfg.null_kinds == ("gaussian", "shuffle") and cfg.factor == 1.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_inputs": 1}, "n_inputs must be an int >= 2, got 1"),
    ({"n_null": 0}, "n_null must be an int >= 1, got 0"),
    ({"bootstrap": -1}, "bootstrap must be an int >= 0, got -1"),
    ({"seed": True}, "seed must be an int >= 0, got True"),
    ({"null_kinds": ("gaussian", "gaussian")}, "null_kinds must be a non-empty subset"),
    ({"null_kinds": ()}, "null_kinds must be a non-empty subset"),
    ({"level": 1.0}, r"level must be in \(0, 1\), got 1.0"),
    ({"rho": 0.0}, r"rho must be in \(0, 1\], got 0.0"),
    ({"alpha": "big"}, "alpha must be 'theory', 'calibrated' or a positive number, got 'big'"),
    ({"alpha": -1.0}, "alpha must be 'theory', 'calibrated' or a positive number, got -1.0"),
    ({"theory_c": -1.0}, "theory_c must be a finite number >= 0, got -1.0"),
    ({"factor": 1.0}, "factor must be a finite number > 1, got 1.0"),
    ({"significance": 0.0}, r"significance must be in \(0, 1\), got 0.0"),
    ({"correction": "bonf"}, r"correction must be one of \['holm', 'none'\], got 'bonf'"),
    ({"verdict_on": "two"}, r"verdict_on must be one of \['one', 'one_theory', 'input'\]"),
    ({"verdict_on": "input", "to_input": False}, "verdict_on='input' needs to_input=True"),
    ({"rip_k": 0}, "rip_k must be an int >= 1, got 0"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AuditConfig(**kwargs)
