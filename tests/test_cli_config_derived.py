"""The options of ``train``, ``compare``, ``audit`` and ``tying`` are their config
dataclasses' fields: every field not explicitly left out has an option whose help is the
field's comment, and the options' defaults give the dataclass's defaults (so ``--help``
cannot drift)."""

from __future__ import annotations

import dataclasses

import pytest
import typer.main
from typer.testing import CliRunner

import shadownets.audit
import shadownets.rundir
import shadownets.train
from shadownets.audit import AuditConfig
from shadownets.cli import app
from shadownets.cli._config_options import field_help
from shadownets.train import CompareConfig, TrainConfig
from shadownets.tying import TyingConfig

#: Fields with no option of their own, written out here (not read from the CLI modules):
#: compare sets ``base`` from its TrainConfig options and --base, ``grids`` from --grid.
EXCLUDED = {("train", TrainConfig): set(), ("audit", AuditConfig): set(),
            ("compare", CompareConfig): {"base", "grids"},
            ("tying", TyingConfig): {"data", "hidden"}}  # tying: required options
#: compare's own options of its runs' TrainConfig (the other fields go in --base).
COMPARE_TRAIN = {"model", "model_kwargs", "epochs", "steps_per_epoch", "batch_size",
                 "optimizer", "lr"}
#: Options named otherwise than their field (older names kept).
RENAMED = {"n_labels": "--labels"}
CASES = [*EXCLUDED, ("compare", TrainConfig)]


def _params(command: str) -> dict[str, object]:
    group = typer.main.get_command(app)
    return {p.name: p for p in group.commands[command].params}


@pytest.mark.parametrize("command, cls", CASES, ids=lambda c: getattr(c, "__name__", c))
def test_every_field_is_an_option_with_its_comment_as_help(command, cls):
    params = _params(command)
    if (command, cls) in EXCLUDED:
        offered = {f.name for f in dataclasses.fields(cls)} - EXCLUDED[command, cls]
    else:
        offered = COMPARE_TRAIN
    for name in offered:
        assert name in params, f"{cls.__name__}.{name} has no option on {command}"
        comment = field_help(cls, name)
        assert comment, f"{cls.__name__}.{name} has no comment (its help)"
        assert params[name].help.startswith(comment), (name, params[name].help)
        flag = RENAMED.get(name, "--" + name.replace("_", "-"))
        assert flag in params[name].opts, (name, params[name].opts)


def test_help_shows_the_fields_defaults():
    def shown(command: str) -> str:
        res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"})
        assert res.exit_code == 0, res.output
        return res.output

    train, compare, audit = shown("train"), shown("compare"), shown("audit")
    t, c, a = TrainConfig(), CompareConfig(), AuditConfig()
    for text in (f"[default: {t.epochs}]", f"[default: {t.shadow_rho}]", "[default: all]",
                 f"[default: {t.calib_size}]", "--no-download"):
        assert text in train, text
    for text in ("[default: " + ",".join(map(str, c.seeds)) + "]",
                 "[default: " + ",".join(c.methods) + "]", f"[default: {c.power}]"):
        assert text in compare, text
    for text in (f"[default: {a.n_null}]", f"[default: {a.bootstrap}]",
                 "[default: " + ",".join(a.null_kinds) + "]", f"[default: {a.factor}]"):
        assert text in audit, text


class _Captured(Exception):  # not a user error: handle_errors lets it through
    pass


def _capture(monkeypatch, module, name, pick):
    def fake(*args, **kwargs):
        raise _Captured(pick(*args, **kwargs))

    monkeypatch.setattr(module, name, fake)


def _config_of(args: list[str]):
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, _Captured), res.output
    return res.exception.args[0]


def test_no_options_give_the_dataclass_defaults(monkeypatch, tmp_path):
    out = str(tmp_path / "o")
    _capture(monkeypatch, shadownets.train, "fit", lambda config, **kw: config)
    assert _config_of(["train", "--out", out]) == TrainConfig()
    _capture(monkeypatch, shadownets.train, "compare", lambda config, **kw: config)
    assert _config_of(["compare", "--out", out]) == CompareConfig()
    _capture(monkeypatch, shadownets.rundir, "claim", lambda out, **kw: kw["config"]["audit"])
    assert _config_of(["audit", "--model", "zoo:mlp", "--data", "digits",
                       "--out", out]) == AuditConfig()


def test_options_reach_the_configs(monkeypatch, tmp_path):
    out = str(tmp_path / "o")
    _capture(monkeypatch, shadownets.train, "fit", lambda config, **kw: config)
    got = _config_of(["train", "--out", out, "--labels", "40", "--steps-per-epoch", "0",
                      "--method", "shadow", "--shadow-alpha", "0.5", "--calib-size", "9",
                      "--no-download", "--val-size", "100", "--model-kwargs", '{"widths": [8]}'])
    assert got == TrainConfig(n_labels=40, method="shadow", shadow_alpha=0.5, calib_size=9,
                              download=False, val_size=100, model_kwargs={"widths": [8]})
    _capture(monkeypatch, shadownets.train, "compare", lambda config, **kw: config)
    got = _config_of(["compare", "--out", out, "--budgets", "30,all", "--seeds", "3,1",
                      "--methods", "plain,dropout", "--reference", "dropout", "--power", "0.9",
                      "--lr", "0.01", "--base", '{"weight_decay": 0.1}'])
    assert got == CompareConfig(budgets=(30, None), seeds=(3, 1), methods=("plain", "dropout"),
                                reference="dropout", power=0.9,
                                base=TrainConfig(lr=0.01, weight_decay=0.1))
    _capture(monkeypatch, shadownets.rundir, "claim", lambda out, **kw: kw["config"]["audit"])
    got = _config_of(["audit", "--model", "zoo:mlp", "--data", "digits", "--out", out,
                      "--null-kinds", "shuffle", "--alpha", "2", "--no-fit-scale",
                      "--rip-k", "3", "--n-inputs", "64"])
    assert got == AuditConfig(null_kinds=("shuffle",), alpha=2.0, fit_scale=False, rip_k=3,
                              n_inputs=64)


def test_a_new_train_option_is_refused_where_its_method_does_not_use_it(tmp_path):
    res = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "o"), "--calib-size", "9"])
    assert res.exit_code == 2
    assert "--calib-size does not apply to --method plain" in res.stderr
