"""CLI commands: ``shadownets train`` (one run) and ``shadownets compare`` (methods × budgets).

Both are thin: parse options into a config, make one library call, write and print.
``shadownets train`` also runs under ``torchrun --nproc_per_node=N -m shadownets.train ...``.
The options of a config's fields (type, default, help: the field's comment) come from the
config dataclasses, :class:`~shadownets.train.TrainConfig` and
:class:`~shadownets.train.CompareConfig`, through
:func:`shadownets.cli._config_options.config_options`; a new field is a new option.

Options that the chosen method (or optimizer) does not use are refused, not ignored: an option
counts as given when it is on the command line (or in the environment), whatever its value.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

import typer

from shadownets.cli._common import handle_errors, json_object, print_json, print_table
from shadownets.cli._config_options import Parsed, config_options
from shadownets.train.compare import CompareConfig
from shadownets.train.config import TrainConfig
from shadownets.train.study import ARCHS, StudyConfig

__all__ = ["register", "train_command", "compare_command", "study_command"]


def _labels(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--labels/--budgets values must be positive ints or 'all'; got "
                         f"{text!r}") from None


def _csv(option: str, text: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    if not items:
        raise ValueError(f"{option} must be a comma-separated list; got {text!r}")
    return items


def _alpha(text: str) -> str | float:
    if text in ("calibrated", "theory"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--shadow-alpha must be 'calibrated', 'theory' or a number; got "
                         f"{text!r}") from None


def _budgets(text: str) -> tuple[int | None, ...]:
    return tuple(_labels(b) for b in _csv("--budgets", text))


def _none_if_false(value: Any) -> Any:
    return value or None


#: TrainConfig fields whose option keeps an older name.
_TRAIN_NAMES = {"n_labels": "--labels"}
#: TrainConfig fields given on the command line otherwise than as their type.
_TRAIN_PARSERS = {
    "n_labels": Parsed(_labels, "all"),
    "model_kwargs": Parsed(functools.partial(json_object, "--model-kwargs"), None, str | None),
    "steps_per_epoch": Parsed(_none_if_false, None, int | None),
    "data_dir": Parsed(_none_if_false, None, str | None),
    "shadow_alpha": Parsed(_alpha, "calibrated"),
}
#: What a TrainConfig field's option means beyond its comment.
_TRAIN_NOTES = {
    "n_labels": "Here a number or 'all'.",
    "model_kwargs": "Here JSON, inline or a .json file.",
    "steps_per_epoch": "Here 0 also stands for None.",
}
#: The TrainConfig fields of every comparison run with an option of their own on ``compare``
#: (the others go in --base).
_OWN_OPTIONS = ("model", "model_kwargs", "epochs", "steps_per_epoch", "batch_size",
                "optimizer", "lr")
_COMPARE_PARSERS = {"budgets": Parsed(_budgets, "50,100,300,1000")}
_COMPARE_NOTES = {
    "budgets": "Here comma-separated numbers or 'all'.",
    "margin": "A 'tie' means shown within ±margin (TOST); power is for a true difference of "
              "this size.",
    "correction": "Across data sets × budgets (× methods).",
}


def _given(ctx: typer.Context, *names: str) -> list[str]:
    """Which of the parameters ``names`` the user gave (not left at their default)."""
    def default(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is None or source.name in ("DEFAULT", "DEFAULT_MAP")

    return [n for n in names if not default(n)]


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _refuse_unused(ctx: typer.Context, method: str, optimizer: str) -> None:
    """Refuse method- or optimizer-specific options that ``method``/``optimizer`` do not use."""
    from shadownets.train.config import METHOD_FIELDS, OPTIMIZER_FIELDS

    if method not in METHOD_FIELDS or optimizer not in OPTIMIZER_FIELDS:
        return  # TrainConfig names the allowed values
    specific = [f for fields in METHOD_FIELDS.values() for f in fields]
    unused = [n for n in _given(ctx, *dict.fromkeys(specific))
              if n not in METHOD_FIELDS.get(method, ())]
    if unused:
        users = [m for m, fields in METHOD_FIELDS.items() if unused[0] in fields]
        raise ValueError(f"{', '.join(map(_option, unused))} "
                         f"{'does' if len(unused) == 1 else 'do'} not apply to --method {method} "
                         f"({_option(unused[0])} is used by --method {' or '.join(users)}); "
                         f"remove {'it' if len(unused) == 1 else 'them'}")
    if _given(ctx, "momentum") and "momentum" not in OPTIMIZER_FIELDS.get(optimizer, ()):
        raise ValueError(f"--momentum does not apply to --optimizer {optimizer} (it is used by "
                         "--optimizer sgd); remove it")


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@handle_errors
@config_options(TrainConfig, names=_TRAIN_NAMES, parsers=_TRAIN_PARSERS, notes=_TRAIN_NOTES)
def train_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Run folder (checkpoints, metrics.csv, ...)."),
    config: TrainConfig = None,  # the TrainConfig options (--dataset, --labels, --method, ...)
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (same "
                                "settings, data and code)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out."),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:i]."),
    as_json: bool = typer.Option(False, "--json", help="Print the final metrics as JSON."),
) -> None:
    """Train one model (plain, dropout, input noise or shadow data); checkpoint every epoch."""
    from shadownets.io import save_figure
    from shadownets.train import fit
    from shadownets.train.plots import plot_history

    _refuse_unused(ctx, config.method, config.optimizer)
    result = fit(config, out_dir=out, resume=resume, overwrite=overwrite, device=device)
    if not _is_main_rank():
        return
    save_figure(out / "training_curves.png", plot_history(result.history))
    final = {**result.final, "world_size": result.world_size,
             "weight_spread": result.weight_spread, "out": str(out)}
    if as_json:
        print_json(final)
    else:
        labels = "all" if config.n_labels is None else config.n_labels
        print_table([final], title=f"{config.method} on {config.dataset} ({labels} labels)")


@handle_errors
@config_options(TrainConfig, fields=_OWN_OPTIONS, param="base_config", parsers=_TRAIN_PARSERS,
                notes=_TRAIN_NOTES)
@config_options(CompareConfig, exclude=("base", "grids"), parsers=_COMPARE_PARSERS,
                notes=_COMPARE_NOTES)
def compare_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output folder for tables, figure, summary."),
    config: CompareConfig = None,  # the CompareConfig options (--datasets, --budgets, ...)
    base_config: TrainConfig = None,  # the TrainConfig options of _OWN_OPTIONS (--model, ...)
    base: str = typer.Option("", help="Other TrainConfig fields for every run, JSON."),
    grid: str = typer.Option("", help="Per-method candidate lists, JSON: replaces the "
                                      "default grid of the methods it names."),
    resume: bool = typer.Option(False, "--resume", help="Reuse the runs already in --out "
                                "that match (continue a killed comparison, add seeds, budgets "
                                "or candidates, or re-summarise with new --margin/--alpha); "
                                "the base training settings must be the same."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the comparison in "
                                   "--out."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Compare methods over label budgets and seeds; pick hyper-parameters on validation.

    Each comparison reference − other (paired over seeds, test error) is a win / loss (a
    difference shown), a tie (shown within ±margin) or undetermined (neither shown), with
    Holm-adjusted p-values, power and the seeds that --power would need.
    """
    from shadownets.train import DEFAULT_GRIDS, compare

    extra = json_object("--base", base)
    _check_base(ctx, extra, config.methods, base_config.optimizer)
    user_grid = json_object("--grid", grid)
    unused = [m for m in user_grid if m not in config.methods]
    if unused:
        raise ValueError(f"--grid gives candidates for {', '.join(map(repr, unused))}, not in "
                         f"--methods {','.join(config.methods)}; add the method or remove its "
                         "grid")
    config = dataclasses.replace(config, base=base_config.replace(**extra),
                                 grids={**DEFAULT_GRIDS, **user_grid})
    result = compare(config, out_dir=out, resume=resume, overwrite=overwrite, progress=True)
    _warn_diverged(result.summary)
    reference, margin, alpha, correction = (config.reference, config.margin, config.alpha,
                                            config.correction)
    judgement = _judge_claim(out, reference, margin, alpha, correction, config.power)
    if as_json:
        print_json(result.summary)
        return
    print_table(result.cells.to_dict("records"), title="selected candidates (test error)")
    level = "α/m, m = the family's size" if correction == "holm" else "α"
    for family, what in (("best_other", "best other method"), ("each_other", "each other")):
        rows = [{"dataset": d.dataset, "budget": d.budget, "other": d.other,
                 "pairs": int(d.n_pairs), "diff": d.diff_mean,
                 f"{config.confidence:.0%} CI": f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]",
                 "p diff (adj)": d.p_diff_adj, "p equiv (adj)": d.p_equiv_adj,
                 "power": d.power_diff, f"seeds for {config.power:.0%}": d.seeds_needed,
                 "verdict": d.verdict}
                for d in result.diffs[result.diffs.family == family].itertuples()]
        print_table(rows, title=f"{reference} − {what}: tie = within ±{margin:g}, "
                                f"{correction} at α = {alpha:g}; power to detect ±{margin:g} "
                                f"at {level}")
    if judgement is not None:
        typer.echo(f"claim '{reference} improves on the best other method': "
                   f"{judgement['verdict']} (rule: {judgement['rule_text']}) "
                   f"Would change: {judgement['flip']} [{out / 'judgement.json'}]")


def _archs_text(archs: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    return ",".join(f"{a}={'+'.join(d)}" for a, d in archs)


def _archs(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for item in _csv("--archs", text):
        arch, sep, datasets = item.partition("=")
        names = tuple(d.strip() for d in datasets.split("+") if d.strip())
        if not sep or not arch.strip() or not names:
            raise ValueError(f"--archs items must be ARCH=DATASET+DATASET...; got {item!r} "
                             f"(e.g. {_archs_text(ARCHS)})")
        out.append((arch.strip(), names))
    return tuple(out)


_STUDY_PARSERS = {"archs": Parsed(_archs, _archs_text(ARCHS)),
                  "seeds": Parsed(_none_if_false, None, int | None)}
_STUDY_NOTES = {"archs": "Here ARCH=DATASET+DATASET,... .",
                "seeds": "Here 0 also stands for None."}


@handle_errors
@config_options(StudyConfig, parsers=_STUDY_PARSERS, notes=_STUDY_NOTES)
def study_command(
    out: Path = typer.Option(..., "--out", help="Study folder: study.json, <use>/<arch>/ "
                                                "comparisons, summary.csv, claims.csv."),
    config: StudyConfig = None,  # the StudyConfig options (--archs, --budgets, --seeds, ...)
    resume: bool = typer.Option(False, "--resume", help="Continue the study in --out (its "
                                "comparisons re-use their finished runs; more seeds may be "
                                "asked for)."),
    pilot_only: bool = typer.Option(False, "--pilot-only", help="Stop after the pilot."),
) -> None:
    """A training study: a comparison per use × architecture, seeds from a pilot.

    Uses: supervised (shadow data against plain, dropout, input noise) and semi (shadow-
    consistency against plain, the Π-model with noise and with dropout, pseudo-labels). Decided
    as the report's training part: Holm over all the study's comparisons, a verdict per claim
    (use × architecture) and one for the study (docs/training.md).
    """
    from shadownets.report.parts.training import write_study_tables
    from shadownets.train.study import USES, run_study

    if out.is_file():
        raise ValueError(f"--out {out} is a file, not a folder; give a folder")
    if (out / "study.json").is_file() and not resume:
        raise ValueError(f"--out {out} holds a study; use --resume to continue it, or another "
                         "folder")

    def done(use: str, arch: str, folder: Path) -> None:
        _judge_claim(folder, USES[use][1], config.margin, config.alpha, "holm", config.power)

    run_study(config, out, progress=True, reuse=lambda folder: {"resume": resume},
              on_comparison=done, pilot_only=pilot_only)
    judgement = write_study_tables(out)
    print_table(judgement.numbers["claims"], title=f"claims ({judgement.numbers['seeds_run']} "
                                                   f"seeds; Holm over all the study's "
                                                   f"comparisons)")
    typer.echo(f"study: {judgement.verdict}. Would change: {judgement.flip} "
               f"[{out / 'judgement.json'}]")


#: --base keys the comparison sets itself, with what to do instead.
_SET_BY_COMPARE = {"method": "use --methods", "seed": "use --seeds", "dataset": "use --datasets",
                   "n_labels": "use --budgets",
                   "eval_every": "every run is evaluated once, after its last epoch"}


def _check_base(ctx: typer.Context, extra: dict[str, Any], methods: tuple[str, ...],
                optimizer: str) -> None:
    """Refuse --base keys that would be ignored or that fight an option given explicitly."""
    from shadownets.train.config import METHOD_FIELDS, OPTIMIZER_FIELDS

    fixed = [k for k in extra if k in _SET_BY_COMPARE]
    if fixed:
        raise ValueError(f"--base may not set {', '.join(fixed)}: the comparison sets it "
                         f"({_SET_BY_COMPARE[fixed[0]]})")
    both = [k for k in _given(ctx, *_OWN_OPTIONS) if k in extra]
    if both:
        raise ValueError(f"{_option(both[0])} is given both as an option and in --base; give "
                         "it once")
    used = {f for m in methods for f in METHOD_FIELDS.get(m, ())}
    specific = {f for fields in METHOD_FIELDS.values() for f in fields}
    unused = [k for k in extra if k in specific and k not in used]
    optimizer = extra.get("optimizer", optimizer)
    if "momentum" in extra and "momentum" not in OPTIMIZER_FIELDS.get(optimizer, ()):
        unused.append("momentum")
    if unused:
        raise ValueError(f"--base sets {', '.join(unused)}, which none of --methods "
                         f"{','.join(methods)} (optimizer {optimizer}) uses; remove it")


def _warn_diverged(summary: dict[str, Any]) -> None:
    """One line on stderr naming the candidates that diverged (never selected)."""
    bad = summary.get("diverged") or []
    if not bad:
        return
    items = "; ".join(f"{d['dataset']}/{d['budget']} {d['method']} candidate {d['candidate']} "
                      f"{d['params']} (seeds {','.join(map(str, d['seeds']))})" for d in bad)
    empty = [f"{c['dataset']}/{c['budget']} {c['method']}" for c in summary.get("no_cell") or []]
    note = f"; no candidate left (no cell) for {', '.join(empty)}" if empty else ""
    typer.echo(f"warning: {len(bad)} candidate(s) diverged (non-finite loss) and were not "
               f"selected: {items}{note}", err=True)


def _judge_claim(out: Path, reference: str, margin: float, alpha: float,
                 correction: str, power: float) -> dict[str, Any] | None:
    """The report's verdict on the training claim for this comparison, saved as
    ``out/judgement.json`` (None when there is no best-other comparison)."""
    from shadownets.io import save_json
    from shadownets.report.parts.training import TrainingRule, judge_comparison

    rule = TrainingRule(margin=margin, alpha=alpha, correction=correction, power=power,
                        reference=reference)
    try:
        j = judge_comparison(out, rule)
    except ValueError:  # no best-other comparison (e.g. a single method)
        return None
    record = {"rule": dataclasses.asdict(rule), "rule_text": rule.comparison_text(),
              **dataclasses.asdict(j)}
    save_json(out / "judgement.json", record)
    return record


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``compare`` to ``app``."""
    app.command("train")(train_command)
    app.command("compare")(compare_command)
    app.command("study")(study_command)
