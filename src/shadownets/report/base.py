"""The pieces every report part shares: its context, its result record, the registry."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shadownets.io import save_json

__all__ = ["SCALES", "VERDICTS", "Context", "PartResult", "Part", "PARTS", "register_part",
           "judge", "load_result"]

SCALES = ("tiny", "quick", "full")
VERDICTS = ("holds", "partly", "does not hold")


@dataclass(frozen=True)
class Context:
    """Where and how big a reproduction runs."""

    out: Path  # report folder; part NAME writes under out/NAME/
    scale: str = "quick"  # "tiny" (CI), "quick" (demo, minutes) or "full"
    seed: int = 0  # base seed of every experiment

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")

    def part_dir(self, name: str) -> Path:
        path = Path(self.out) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def command(self, name: str) -> str:
        """The shell command that re-runs one part alone."""
        return (f"shadownets reproduce --scale {self.scale} --seed {self.seed} "
                f"--out {shlex.quote(str(self.out))} --part {name} --force")

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        """The value for this context's scale."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.scale]


@dataclass
class PartResult:
    """What a part found: a claim, a verdict and the files that hold the numbers.

    Table and figure paths are relative to the part's folder. ``numbers`` are the figures the
    verdict rests on, computed from the part's own CSV files.
    """

    name: str
    title: str
    claim: str
    verdict: str  # one of VERDICTS
    evidence: str  # one sentence with the numbers behind the verdict
    numbers: dict[str, Any]
    tables: list[dict[str, str]] = field(default_factory=list)  # {"title", "path"}
    figures: list[dict[str, str]] = field(default_factory=list)  # {"title", "path"}
    notes: list[str] = field(default_factory=list)
    command: str = ""
    scale: str = ""
    seed: int = 0
    seconds: float = 0.0
    version: str = ""  # code version that made it (a part is reused only by the same code)
    finished: float = 0.0  # time.time() when it finished: older than a part it reads = stale

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def save(self, folder: Path) -> Path:
        return save_json(Path(folder) / "result.json", asdict(self))


def load_result(folder: Path) -> PartResult | None:
    """The saved result of a part, or None when there is none (or it is unreadable)."""
    path = Path(folder) / "result.json"
    try:
        return PartResult(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def judge(holds: bool, partly: bool) -> str:
    """Verdict from two conditions (``holds`` implies ``partly``)."""
    return "holds" if holds else ("partly" if partly else "does not hold")


@dataclass(frozen=True)
class Part:
    """One section of the report."""

    name: str
    title: str
    run: Callable[[Context], PartResult]
    needs: tuple[str, ...] = ()  # parts whose files this one reads
    order: int = 0  # position in the report


PARTS: dict[str, Part] = {}


def register_part(name: str, title: str, *, order: int, needs: tuple[str, ...] = ()):
    """Decorator adding ``fn(ctx) -> PartResult`` to :data:`PARTS`, kept sorted by ``order``
    (the report's section order)."""

    def decorator(fn: Callable[[Context], PartResult]) -> Callable[[Context], PartResult]:
        if name in PARTS:
            raise ValueError(f"report part {name!r} is already registered")
        PARTS[name] = Part(name, title, fn, needs, order)
        ordered = sorted(PARTS.values(), key=lambda p: p.order)
        PARTS.clear()
        PARTS.update((p.name, p) for p in ordered)
        return fn

    return decorator
