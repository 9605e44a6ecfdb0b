import pytest
from typer.testing import CliRunner

import shadownets
from shadownets.cli import app


@pytest.mark.parametrize("name", [n for n in shadownets.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    assert getattr(shadownets, name) is not None


def test_unknown_name():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = shadownets.nope


def test_cli_lists_every_command():
    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("recover", "sweep", "baselines", "identities", "generate", "layers", "train",
                "compare", "audit", "invert", "leakage", "tying", "reproduce"):
        assert cmd in res.stdout
