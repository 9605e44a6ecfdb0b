"""CLI command: reproduce — every experiment, one report."""

from __future__ import annotations

from pathlib import Path

import typer

from shadownets.cli._common import handle_errors

__all__ = ["register"]


@handle_errors
def reproduce(
    out: Path = typer.Option(Path("runs/report"), help="Report folder."),
    quick: bool = typer.Option(False, "--quick", help="Quick scale (the default; minutes)."),
    full: bool = typer.Option(False, "--full", help="Full scale (see the README for its time)."),
    scale: str = typer.Option(None, help="tiny | quick | full (overrides --quick/--full)."),
    seed: int = typer.Option(0, help="Base seed of every experiment."),
    part: list[str] = typer.Option(None, help="Run only this part (repeatable) and what it "
                                              "needs; see --list."),
    force: bool = typer.Option(False, help="Re-run parts even when already finished (in the "
                               "report already in --out)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the report in --out: reuse "
                                "its finished parts (same scale, seed and --weights "
                                "required)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the report in --out."),
    list_parts: bool = typer.Option(False, "--list", help="List the parts and exit."),
    jobs: int = typer.Option(1, "--jobs", help="Independent trainings at once, in local "
                             "processes (the numbers do not change)."),
    weights: Path = typer.Option(None, "--weights", metavar="FILE",
                                 help="Trained AlexNet state dict for the part alexnet (e.g. "
                                      "torchvision's alexnet-owt-7be5be79.pth); default: "
                                      "random init."),
) -> None:
    """Run every experiment of the paper and write OUT/report.md and OUT/report.html.

    Each part ends with a verdict — holds, does not hold, or undetermined — by a rule fixed
    before the run and printed in the report. Parts marked "on request" in --list (the
    paper's AlexNet experiment) run only when named with --part. A folder that already holds
    a report is refused unless --resume (reuse its parts finished with the same scale, seed,
    weights and code) or --overwrite.
    """
    from shadownets.report import PARTS
    from shadownets.report import reproduce as run

    if list_parts:
        for name, p in PARTS.items():
            mark = f"  [on request: --part {name}]" if p.on_request else ""
            typer.echo(f"{name:12s} {p.title}{mark}")
        return
    if quick and full:
        raise ValueError("give at most one of --quick and --full")
    if weights is not None and "alexnet" not in (part or ()):
        raise ValueError("--weights is the AlexNet of the part alexnet, which runs only on "
                         "request; add --part alexnet")
    chosen = scale or ("full" if full else "quick")

    def on_part(name: str, status: str) -> None:
        verb = {"run": "running", "done": "finished", "skip": "reused"}[status]
        typer.echo(f"[{verb}] {name}: {PARTS[name].title}", err=True)

    result = run(out, scale=chosen, seed=seed, parts=part or None, force=force, on_part=on_part,
                 resume=resume, overwrite=overwrite, weights=weights, jobs=jobs, progress=True)
    for r in result.parts:
        typer.echo(f"{r.verdict:>13s}  {r.title}")
    typer.echo(f"report: {result.markdown}")
    typer.echo(f"html:   {result.html}")


def register(app: typer.Typer) -> None:
    """Add the reproduce command to ``app``."""
    app.command("reproduce")(reproduce)
