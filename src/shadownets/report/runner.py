"""Run the report's parts, skipping those already finished, and render the report."""

from __future__ import annotations

import json
import platform
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from shadownets.io import save_json, to_jsonable
from shadownets.report.base import (
    PARTS,
    Context,
    PartResult,
    default_parts,
    load_result,
    rule_dict,
    weights_record,
)
from shadownets.report.render import report_texts, write_report
from shadownets.rundir import code_version

__all__ = ["ReportResult", "reproduce", "environment", "code_version", "render_texts",
           "rejudged"]

_PACKAGES = ("shadownets", "torch", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib",
             "typer")


@dataclass(frozen=True)
class ReportResult:
    """Paths of the written report and the results of its parts (in report order)."""

    markdown: Path
    html: Path
    parts: list[PartResult]
    skipped: list[str]  # parts reused from an earlier run


def environment() -> dict[str, str]:
    """Python, platform and package versions."""
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    return env


def _current(r: PartResult | None, scale: str, seed: int, version: str, out: Path) -> bool:
    """Whether a saved result can be reused: same scale, seed and version, and finished after
    every part whose files it reads."""
    if r is None or (r.scale, r.seed, r.version) != (scale, seed, version):
        return False
    deps = [load_result(out / d) for d in PARTS[r.name].needs]
    return all(d is not None and d.finished <= r.finished for d in deps)


def _selected(parts: Sequence[str] | None) -> list[str]:
    """The parts to run, in report order: ``parts`` and what they need, or every part but the
    on-request ones when none are named."""
    if not parts:
        return default_parts()
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown report part(s) {unknown}; known: {list(PARTS)}")
    # dependencies first, in report order
    wanted = set(parts)
    for name in parts:
        wanted.update(PARTS[name].needs)
    return [name for name in PARTS if name in wanted]


def _missing(shown: Sequence[str], asked: Sequence[str]) -> list[str]:
    """Parts missing from a report showing ``shown``: every part that is not shown, except an
    on-request part that was not ``asked`` for."""
    return [n for n in PARTS if n not in shown and (not PARTS[n].on_request or n in asked)]


def _command(out: str | Path, scale: str, seed: int, parts: Sequence[str] | None,
             force: bool, resume: bool = False, overwrite: bool = False,
             weights: str | Path | None = None, jobs: int = 1) -> str:
    words = ["shadownets", "reproduce", "--scale", scale, "--seed", str(seed), "--out",
             shlex.quote(str(out))]
    if jobs != 1:
        words += ["--jobs", str(jobs)]
    if weights is not None:
        words += ["--weights", shlex.quote(str(weights))]
    for p in parts or ():
        words += ["--part", p]
    flags = [f for f, on in (("--force", force), ("--resume", resume),
                             ("--overwrite", overwrite)) if on]
    return " ".join(words + flags)


def reproduce(
    out: str | Path,
    *,
    scale: str = "quick",
    seed: int = 0,
    parts: Sequence[str] | None = None,
    force: bool = False,
    on_part: Callable[[str, str], None] | None = None,
    command: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    weights: str | Path | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> ReportResult:
    """Run every part but the on-request ones (or ``parts`` and what they need) and write
    ``out/report.md`` and ``out/report.html``.

    A part whose ``out/NAME/result.json`` exists with the same scale, seed and code version
    (:func:`code_version`) is reused, unless ``force`` or a part it reads is re-run. ``on_part(name,
    status)`` is called with status ``"run"``, ``"done"`` or ``"skip"``. ``command`` is the
    command line recorded in the report (default: the equivalent ``shadownets reproduce`` call).
    The report shows every current part in ``out``; ``meta.json`` lists the parts run now, the
    parts reused and the parts missing (a report with missing parts says so at its top; an
    on-request part counts as missing only when it was asked for and is not there).
    ``weights`` is a trained AlexNet state dict for the on-request part ``alexnet`` (None:
    random init); a path that is not a file is refused before anything runs. ``jobs``: the
    training study's independent runs at once (local processes; the numbers do not
    change); ``progress``: runs done / total with an ETA on stderr.

    ``out`` is claimed first (:func:`shadownets.rundir.claim`, kind ``"report"``, settings scale,
    seed and, when given, the weights' path and sha256): a folder holding a report is continued
    only with ``resume`` (or ``force``) and the same settings, replaced only with
    ``overwrite``, and anything else is refused before any part runs. Code changes do not block
    a resume: parts made by other code are simply re-run.
    """
    from shadownets.rundir import claim

    ctx = Context(Path(out), scale=scale, seed=seed, weights=weights, jobs=jobs,
                  progress=progress)
    names = _selected(parts)
    config = {"scale": scale, "seed": seed}
    record = weights_record(weights)
    if record is not None:  # absent without weights: earlier report folders stay resumable
        config["weights"] = record
    run = claim(out, kind="report", config=config, resume=resume or force,
                overwrite=overwrite, same_code=False)
    version = code_version()
    rerun = set(parts or default_parts()) if force else set()
    results, skipped = [], []
    for name in names:
        part = PARTS[name]
        old = load_result(Path(out) / name)
        fresh = _current(old, scale, seed, version, Path(out)) and not rerun & set(part.needs)
        if name not in rerun and fresh:
            results.append(old)
            skipped.append(name)
            if on_part:
                on_part(name, "skip")
            continue
        rerun.add(name)  # parts that read this one's files must be re-run too
        if on_part:
            on_part(name, "run")
        start = time.perf_counter()
        output = part.run(ctx)
        seconds = time.perf_counter() - start
        judgement = part.judge(ctx.part_dir(name), part.rule)
        result = PartResult(
            name=name, title=part.title, claim=part.claim, verdict=judgement.verdict,
            evidence=judgement.evidence, numbers=judgement.numbers, flip=judgement.flip,
            rule=rule_dict(part.rule), rule_text=part.rule.text(), tables=list(output.tables),
            figures=list(output.figures), notes=list(output.notes), command=ctx.command(name),
            scale=scale, seed=seed, seconds=seconds, version=version, finished=time.time())
        result.save(ctx.part_dir(name))
        results.append(result)
        if on_part:
            on_part(name, "done")
    # the report shows every finished part in the folder, not only this run's, while current
    shown = [r for r in (load_result(Path(out) / n) for n in PARTS)
             if _current(r, scale, seed, version, Path(out))]
    shown_names = [r.name for r in shown]
    meta = {"scale": scale, "seed": seed, "environment": environment(), "code": version,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command if command is not None else _command(
                out, scale, seed, parts, force, resume, overwrite, weights, jobs),
            "parts_run": [r.name for r in results if r.name not in skipped],
            "parts_reused": [n for n in shown_names if n not in
                             {r.name for r in results if r.name not in skipped}],
            "parts_missing": _missing(shown_names, names)}
    save_json(Path(out) / "meta.json", meta)
    md, html = write_report(Path(out), shown, meta)
    save_json(Path(out) / "verdicts.json",
              [{k: v for k, v in asdict(r).items() if k in ("name", "verdict", "evidence",
                                                            "numbers", "flip", "rule")}
               for r in shown])
    if not meta["parts_missing"]:
        run.finish()
    return ReportResult(md, html, results, skipped)


def rejudged(out: str | Path) -> dict[Path, str]:
    """Each part's ``result.json`` in a finished report folder with its verdict, evidence,
    numbers, flip and rule re-derived by the part's current judge and rule from the part's
    files, and the files its ``refresh`` derives by the rule: ``{path: text}`` (the committed
    report is checked against these, so a verdict always says what the current rule says on
    the committed data)."""
    import dataclasses

    out = Path(out)
    texts, summary = {}, []
    for name, part in PARTS.items():
        r = load_result(out / name)
        if r is None:
            continue
        if part.refresh is not None:
            texts.update(part.refresh(out / name, part.rule))
        j = part.judge(out / name, part.rule)
        r = dataclasses.replace(r, verdict=j.verdict, evidence=j.evidence, numbers=j.numbers,
                                flip=j.flip, rule=rule_dict(part.rule),
                                rule_text=part.rule.text(), title=part.title, claim=part.claim)
        texts[out / name / "result.json"] = json.dumps(to_jsonable(asdict(r)), indent=2,
                                                       allow_nan=False) + "\n"
        summary.append({k: v for k, v in asdict(r).items()
                        if k in ("name", "verdict", "evidence", "numbers", "flip", "rule")})
    if summary:
        texts[out / "verdicts.json"] = json.dumps(to_jsonable(summary), indent=2,
                                                  allow_nan=False) + "\n"
    return texts


def render_texts(out: str | Path) -> tuple[str, str]:
    """Re-render a finished report folder from its files alone: ``meta.json`` and each part's
    ``result.json`` (in report order), as :func:`reproduce` wrote them. Returns the markdown
    and HTML texts (the committed quick report is checked against these byte for byte)."""
    out = Path(out)
    try:
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{out}: no readable meta.json ({exc})") from None
    shown = [r for r in (load_result(out / n) for n in PARTS) if r is not None]
    names = [r.name for r in shown]
    asked = meta.get("parts_missing") or ()  # an on-request part missing then stays missing
    meta = {**meta, "parts_missing": _missing(names, asked)}
    return report_texts(out, shown, meta)
