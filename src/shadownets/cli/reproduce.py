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
                                "its finished parts (same scale and seed required)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the report in --out."),
    list_parts: bool = typer.Option(False, "--list", help="List the parts and exit."),
) -> None:
    """Run every experiment of the paper and write OUT/report.md and OUT/report.html.

    Each part ends with a verdict — holds, does not hold, or undetermined — by a rule fixed
    before the run and printed in the report. A folder that already holds a report is refused
    unless --resume (reuse its parts finished with the same scale, seed and code) or
    --overwrite.
    """
    from shadownets.report import PARTS
    from shadownets.report import reproduce as run

    if list_parts:
        for name, p in PARTS.items():
            typer.echo(f"{name:12s} {p.title}")
        return
    if quick and full:
        raise ValueError("give at most one of --quick and --full")
    chosen = scale or ("full" if full else "quick")

    def on_part(name: str, status: str) -> None:
        verb = {"run": "running", "done": "finished", "skip": "reused"}[status]
        typer.echo(f"[{verb}] {name}: {PARTS[name].title}", err=True)

    result = run(out, scale=chosen, seed=seed, parts=part or None, force=force, on_part=on_part,
                 resume=resume, overwrite=overwrite)
    for r in result.parts:
        typer.echo(f"{r.verdict:>13s}  {r.title}")
    typer.echo(f"report: {result.markdown}")
    typer.echo(f"html:   {result.html}")


def register(app: typer.Typer) -> None:
    """Add the reproduce command to ``app``."""
    app.command("reproduce")(reproduce)
