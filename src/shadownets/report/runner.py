"""Run the report's parts, skipping those already finished, and render the report."""

from __future__ import annotations

import platform
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from shadownets.io import save_json
from shadownets.report.base import PARTS, Context, PartResult, load_result
from shadownets.report.render import write_report

__all__ = ["ReportResult", "reproduce", "environment", "code_version"]

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


def code_version() -> str:
    """The shadownets version plus a hash of its source files: a part made by other code is
    not reused."""
    import hashlib

    import shadownets

    root = Path(shadownets.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{shadownets.__version__}+{digest.hexdigest()[:12]}"


def _current(r: PartResult | None, scale: str, seed: int, version: str, out: Path) -> bool:
    """Whether a saved result can be reused: same scale, seed and version, and finished after
    every part whose files it reads."""
    if r is None or (r.scale, r.seed, r.version) != (scale, seed, version):
        return False
    deps = [load_result(out / d) for d in PARTS[r.name].needs]
    return all(d is not None and d.finished <= r.finished for d in deps)


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

    A part whose ``out/NAME/result.json`` exists with the same scale, seed and code version
    (:func:`code_version`) is reused, unless ``force`` or a part it reads is re-run. ``on_part(name,
    status)`` is called with status ``"run"``, ``"done"`` or ``"skip"``.
    """
    ctx = Context(Path(out), scale=scale, seed=seed)
    names = _selected(parts)
    version = code_version()
    rerun = set(parts or PARTS) if force else set()
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
        result = part.run(ctx)
        result.name, result.title = name, part.title
        result.command, result.scale, result.seed = ctx.command(name), scale, seed
        result.seconds, result.version = time.perf_counter() - start, version
        result.finished = time.time()
        result.save(ctx.part_dir(name))
        results.append(result)
        if on_part:
            on_part(name, "done")
    # the report shows every finished part in the folder, not only this run's, while current
    shown = [r for r in (load_result(Path(out) / n) for n in PARTS)
             if _current(r, scale, seed, version, Path(out))]
    meta = {"scale": scale, "seed": seed, "environment": environment(), "code": version,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f"shadownets reproduce --scale {scale} --seed {seed} "
                       f"--out {shlex.quote(str(out))}",
            "parts_run": [r.name for r in results if r.name not in skipped],
            "parts_reused": skipped}
    save_json(Path(out) / "meta.json", meta)
    md, html = write_report(Path(out), shown, meta)
    save_json(Path(out) / "verdicts.json",
              [{k: v for k, v in asdict(r).items() if k in ("name", "verdict", "evidence",
                                                            "numbers")} for r in shown])
    return ReportResult(md, html, results, skipped)
