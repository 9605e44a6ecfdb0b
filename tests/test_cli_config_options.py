"""``config_options``: typer options derived from a config dataclass (type, default, help)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from _cli import refused
from shadownets.cli import app
from shadownets.cli._common import handle_errors
from shadownets.cli._config_options import Parsed, config_options, field_comments, field_help
from shadownets.invert import InvertConfig

KINDS = ("fast", "slow")


@dataclass(frozen=True)
class Toy:
    """A config of every supported kind."""

    kind: str = "fast"  # one of KINDS
    steps: int = 3  # steps to take
    rate: float = 0.5  # λ of the toy
    exact: bool = True  # exact arithmetic
    cap: int | None = None  # optional cap (none: no cap)
    quiet: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be an int >= 1; got {self.steps}")


def _app(**kwargs) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @handle_errors
    @config_options(Toy, **kwargs)
    def run(name: str = typer.Option("x", "--name", help="A name."), config: Toy = None,
            loud: bool = typer.Option(False, "--loud")) -> None:
        typer.echo(f"{name} {loud} {dataclasses.astuple(config)}")

    return toy


def test_field_comments_are_read_from_the_class_body():
    assert field_comments(Toy) == {"kind": "one of KINDS", "steps": "steps to take",
                                   "rate": "λ of the toy", "exact": "exact arithmetic",
                                   "cap": "optional cap (none: no cap)"}
    assert field_help(Toy, "kind") == "One of fast | slow."  # the module constant expanded
    assert field_help(Toy, "rate") == "λ of the toy."  # not capitalised into Λ
    assert field_help(Toy, "quiet") == ""


def test_options_carry_the_fields_types_and_defaults():
    res = CliRunner().invoke(_app(), [])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "x False ('fast', 3, 0.5, True, None, 0)"
    res = CliRunner().invoke(_app(), ["--kind", "slow", "--steps", "7", "--rate", "2e-3",
                                      "--no-exact", "--cap", "4", "--quiet", "1", "--loud",
                                      "--name", "y"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "y True ('slow', 7, 0.002, False, 4, 1)"
    res = CliRunner().invoke(_app(), ["--steps", "two"])
    assert res.exit_code == 2 and "Invalid value for '--steps'" in res.output


def test_the_dataclass_checks_the_values_with_one_error_line():
    refused(CliRunner().invoke(_app(), ["--steps", "0"]), "steps must be an int >= 1; got 0")


def test_help_shows_comments_notes_and_defaults():
    res = CliRunner().invoke(_app(exclude=("quiet",), notes={"steps": "Here: rounds."},
                                  helps={"rate": "The whole help."}), ["--help"],
                             env={"COLUMNS": "200"})
    out = res.output
    assert res.exit_code == 0 and "--quiet" not in out
    for text in ("One of fast | slow.", "Steps to take. Here: rounds.", "The whole help.",
                 "--exact", "--no-exact", "[default: 3]", "--cap", "--name", "--loud"):
        assert text in out, text


def test_bad_declarations_fail_at_decoration():
    with pytest.raises(TypeError, match=r"Toy has no field\(s\) \['nope'\]"):
        config_options(Toy, fields=("nope",))

    def clash(steps: int = 1, config: Toy = None) -> None: ...

    with pytest.raises(TypeError, match=r"already has parameter\(s\) \['steps'\]"):
        config_options(Toy)(clash)

    def no_config(name: str = "") -> None: ...

    with pytest.raises(TypeError, match="has no parameter 'config'"):
        config_options(Toy)(no_config)

    @dataclass(frozen=True)
    class Listy:
        items: tuple = ()

    with pytest.raises(TypeError, match="has no command-line option"):
        config_options(Listy)


@pytest.mark.parametrize("command, excluded", [("invert", set()), ("leakage", {"method"})])
def test_every_invert_config_field_is_an_option_with_its_default(command, excluded):
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    options = {tok.strip("│ ,") for tok in res.output.split()}
    for f in dataclasses.fields(InvertConfig):
        flag = "--" + f.name.replace("_", "-")
        assert (flag in options) == (f.name not in excluded), flag
    assert "--no-amsgrad" in options and "[default: 5000]" in res.output


@dataclass(frozen=True)
class MoreToy(Toy):
    """A subclass: inherited comments stay, a new field is a new option."""

    seeds: tuple[int, ...] = (0, 1)  # training seeds, a long comment that goes on
    #                                  over a second line
    # --- a section header, not a continuation
    scale: str | float = "auto"  # "auto" or a number
    budget: int | None = None  # None: every label


def _more_app(**kwargs) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @handle_errors
    @config_options(MoreToy, **kwargs)
    def run(config: MoreToy = None) -> None:
        typer.echo(repr((config.seeds, config.scale, config.budget, config.kind)))

    return toy


def test_comments_go_on_over_continuation_lines_and_are_inherited():
    comments = field_comments(MoreToy)
    assert comments["seeds"] == "training seeds, a long comment that goes on over a second line"
    assert comments["scale"] == '"auto" or a number'  # the section header is not attached
    assert comments["kind"] == "one of KINDS"  # from Toy


def test_a_new_field_is_a_new_option_in_help():
    res = CliRunner().invoke(_more_app(), ["--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    for text in ("--seeds", "Training seeds, a long comment that goes on over a second line.",
                 "[default: 0,1]", "--scale", "[default: auto]", "--budget", "--kind"):
        assert text in res.output, text


def test_tuple_and_text_or_number_fields():
    run = CliRunner().invoke
    res = run(_more_app(), [])
    assert res.exit_code == 0 and res.output.strip() == "((0, 1), 'auto', None, 'fast')"
    res = run(_more_app(), ["--seeds", " 3, 4,", "--scale", "2.5", "--budget", "7"])
    assert res.exit_code == 0 and res.output.strip() == "((3, 4), 2.5, 7, 'fast')"
    refused(run(_more_app(), ["--seeds", "a,b"]), "--seeds must be comma-separated ints; "
                                                  "got 'a,b'")
    refused(run(_more_app(), ["--seeds", ","]), "--seeds must be a comma-separated list")


def _budget(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise ValueError(f"--labels must be a number or 'all'; got {text!r}")
    return int(text)


def test_parsed_fields_and_kept_option_names():
    app_ = _more_app(names={"budget": "--labels"}, parsers={"budget": Parsed(_budget, "all")})
    run = CliRunner().invoke
    assert run(app_, ["--labels", "9"]).output.strip() == "((0, 1), 'auto', 9, 'fast')"
    assert run(app_, []).output.strip() == "((0, 1), 'auto', None, 'fast')"
    refused(run(app_, ["--labels", "many"]), "--labels must be a number or 'all'; got 'many'")
    res = run(app_, ["--budget", "9"])
    assert res.exit_code == 2 and "No such option" in res.output
    help_text = run(app_, ["--help"], env={"COLUMNS": "250"}).output
    assert "--labels" in help_text and "[default: all]" in help_text


def test_a_parsed_default_that_drifts_fails_at_decoration():
    with pytest.raises(TypeError, match=r"MoreToy.budget: the option's default '3' gives 3, "
                                        r"not the field's default None"):
        config_options(MoreToy, parsers={"budget": Parsed(_budget, "3")})
    with pytest.raises(TypeError, match=r"MoreToy.budget: the option's default 'x' is refused"):
        config_options(MoreToy, parsers={"budget": Parsed(_budget, "x")})
    with pytest.raises(TypeError, match=r"MoreToy has no field\(s\) \['nope'\]"):
        config_options(MoreToy, names={"nope": "--nope"})
