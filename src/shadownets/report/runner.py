"""Run the report's parts, skipping those already finished, and render the report."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from shadownets.io import save_json
from shadownets.report.base import PARTS, Context, PartResult, load_result
from shadownets.report.render import write_report

__all__ = ["ReportResult", "reproduce", "environment"]

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


def _selected(parts: Sequence[str] | None) -> list[str]:
    if not parts:
        return list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown report part(s) {unknown}; known: {list(PARTS)}")
    # dependencies first, in report order
    wanted = set(parts)
    for name in parts:
        wanted.update(PARTS[name].needs)
    return [name for name in PARTS if name in wanted]


def reproduce(
    out: str | Path,
    *,
    scale: str = "quick",
    seed: int = 0,
    parts: Sequence[str] | None = None,
    force: bool = False,
    on_part: Callable[[str, str], None] | None = None,
) -> ReportResult:
    """Run every part (or ``parts`` and what they need) and write ``out/report.md`` and
    ``out/report.html``.

    A part whose ``out/NAME/result.json`` exists with the same scale and seed is reused, unless
    ``force``. ``on_part(name, status)`` is called with status ``"run"``, ``"done"`` or
    ``"skip"``.
    """
    ctx = Context(Path(out), scale=scale, seed=seed)
    names = _selected(parts)
    forced = set(parts or PARTS) if force else set()
    results, skipped = [], []
    for name in names:
        part = PARTS[name]
        old = load_result(Path(out) / name)
        if name not in forced and old is not None and old.scale == scale and old.seed == seed:
            results.append(old)
            skipped.append(name)
            if on_part:
                on_part(name, "skip")
            continue
        if on_part:
            on_part(name, "run")
        start = time.perf_counter()
        result = part.run(ctx)
        result.name, result.title = name, part.title
        result.command, result.scale, result.seed = ctx.command(name), scale, seed
        result.seconds = time.perf_counter() - start
        result.save(ctx.part_dir(name))
        results.append(result)
        if on_part:
            on_part(name, "done")
    # the report shows every finished part in the folder, not only this run's
    shown = [load_result(Path(out) / n) for n in PARTS]
    shown = [r for r in shown if r is not None and r.scale == scale and r.seed == seed]
    meta = {"scale": scale, "seed": seed, "environment": environment(),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f"shadownets reproduce --scale {scale} --seed {seed} --out {out}",
            "parts_run": [r.name for r in results if r.name not in skipped],
            "parts_reused": skipped}
    save_json(Path(out) / "meta.json", meta)
    md, html = write_report(Path(out), shown, meta)
    save_json(Path(out) / "verdicts.json",
              [{k: v for k, v in asdict(r).items() if k in ("name", "verdict", "evidence",
                                                            "numbers")} for r in shown])
    return ReportResult(md, html, results, skipped)
