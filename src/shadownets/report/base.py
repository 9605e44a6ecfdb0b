"""The pieces every report part shares: context, outputs, judgements, the registry.

A part is two functions and a rule:

* ``run(ctx) -> PartOutput`` runs the experiment and writes its CSV/JSON files and figures
  under ``ctx.out/NAME/``;
* ``judge(folder, rule) -> Judgement`` reads **only those files** and applies the part's
  verdict rule, a frozen dataclass of thresholds declared before any run (printed in the
  report). Tests feed ``judge`` crafted files that must give each verdict.

Verdicts are three-valued: ``holds``, ``does not hold``, ``undetermined`` (the run's evidence
does not decide; the judgement says what would).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shadownets.io import save_json

__all__ = ["SCALES", "VERDICTS", "Context", "PartOutput", "Judgement", "PartResult", "Part",
           "PARTS", "register_part", "load_result", "rule_dict", "reuse_mode", "default_parts",
           "file_sha256", "weights_record"]

SCALES = ("tiny", "quick", "full")
VERDICTS = ("holds", "does not hold", "undetermined")


@dataclass(frozen=True)
class Context:
    """Where and how big a reproduction runs."""

    out: Path  # report folder; part NAME writes under out/NAME/
    scale: str = "quick"  # "tiny" (CI), "quick" (demo, minutes) or "full"
    seed: int = 0  # base seed of every experiment
    weights: Path | None = None  # trained AlexNet state dict (part "alexnet"); None: random init
    jobs: int = 1  # independent trainings at once (local processes); results do not change
    progress: bool = False  # show runs done / total with an ETA on stderr

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be an int >= 1, got {self.jobs!r}")
        if self.weights is not None:
            object.__setattr__(self, "weights", Path(self.weights))

    def part_dir(self, name: str) -> Path:
        path = Path(self.out) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def command(self, name: str) -> str:
        """The shell command that re-runs one part alone."""
        weights = (f" --weights {shlex.quote(str(self.weights))}"
                   if self.weights is not None else "")
        return (f"shadownets reproduce --scale {self.scale} --seed {self.seed} "
                f"--out {shlex.quote(str(self.out))}{weights} --part {name} --force")

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        """The value for this context's scale."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.scale]


@dataclass(frozen=True)
class PartOutput:
    """What a part's experiment wrote: tables and figures (paths relative to the part's
    folder, ``{"title", "path"}``) and notes."""

    tables: list[dict[str, str]] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Judgement:
    """A verdict with the numbers behind it and what evidence would change it."""

    verdict: str  # one of VERDICTS
    evidence: str  # the numbers behind the verdict, in words
    numbers: dict[str, Any]  # the same numbers, machine-readable
    flip: str  # what evidence would change the verdict (or decide an undetermined one)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class PartResult:
    """A finished part: its output, judgement, rule and provenance (saved as result.json)."""

    name: str
    title: str
    claim: str
    verdict: str  # one of VERDICTS
    evidence: str
    numbers: dict[str, Any]
    flip: str = ""
    rule: dict[str, Any] = field(default_factory=dict)  # the rule's thresholds
    rule_text: str = ""  # the rule in words
    tables: list[dict[str, str]] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
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


def reuse_mode(folder: Path) -> dict[str, bool]:
    """How a part continues the run folder it owns inside the report (a trained net, a
    comparison): ``{"resume": True}`` when the folder is new or was made by this code, else
    ``{"overwrite": True}`` — a run made by other code is redone, as the part itself is."""
    from shadownets.rundir import code_version, read_run

    record = read_run(folder) if Path(folder).is_dir() else None
    if record is None or record.get("code") == code_version():
        return {"resume": True}
    return {"overwrite": True}


def file_sha256(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_record(path: str | Path | None) -> dict[str, str] | None:
    """``{"path", "sha256"}`` of a weights file (the path as given), None for no file.

    Raises
    ------
    FileNotFoundError
        ``path`` is not an existing file.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"--weights {path}: {what}; give the path of a saved state "
                                "dict (e.g. torchvision's alexnet-owt-7be5be79.pth)")
    return {"path": str(path), "sha256": file_sha256(path)}


def rule_dict(rule: Any) -> dict[str, Any]:
    """A rule dataclass as a plain dict (tuples as lists, for JSON)."""
    return json.loads(json.dumps(dataclasses.asdict(rule), default=list))


@dataclass(frozen=True)
class Part:
    """One section of the report: experiment, verdict rule and judge."""

    name: str
    title: str
    claim: str
    run: Callable[[Context], PartOutput]
    judge: Callable[[Path, Any], Judgement]
    rule: Any  # frozen dataclass with the thresholds, and a ``text()`` method
    needs: tuple[str, ...] = ()  # parts whose files this one reads
    order: int = 0  # position in the report
    on_request: bool = False  # run only when named (--part NAME), never by default
    # files derived from the part's measurements by its rule (e.g. per-row verdict columns),
    # as the current rule writes them: {path: text}; re-judging rewrites them
    refresh: Callable[[Path, Any], dict[Path, str]] | None = None


PARTS: dict[str, Part] = {}


def default_parts() -> list[str]:
    """The parts a report runs when none are named (all but the on-request ones), in
    report order."""
    return [name for name, part in PARTS.items() if not part.on_request]


def register_part(name: str, title: str, *, order: int, claim: str, rule: Any,
                  judge: Callable[[Path, Any], Judgement], needs: tuple[str, ...] = (),
                  on_request: bool = False,
                  refresh: Callable[[Path, Any], dict[Path, str]] | None = None):
    """Decorator adding ``run(ctx) -> PartOutput`` to :data:`PARTS` with its rule and judge,
    kept sorted by ``order`` (the report's section order). An ``on_request`` part runs only
    when named (``--part NAME``): a report without it is not partial."""
    if not (dataclasses.is_dataclass(rule) and callable(getattr(rule, "text", None))):
        raise TypeError(f"rule of part {name!r} must be a dataclass with a text() method")

    def decorator(fn: Callable[[Context], PartOutput]) -> Callable[[Context], PartOutput]:
        if name in PARTS:
            raise ValueError(f"report part {name!r} is already registered")
        PARTS[name] = Part(name, title, claim, fn, judge, rule, needs, order, on_request,
                           refresh)
        ordered = sorted(PARTS.values(), key=lambda p: p.order)
        PARTS.clear()
        PARTS.update((p.name, p) for p in ordered)
        return fn

    return decorator
