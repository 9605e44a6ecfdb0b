"""Progress of long work on stderr: ``done / total`` with the elapsed time and an ETA.

On a terminal a live rich bar (removed when done); otherwise (a log file, CI, ``make demo``
piped) one plain line per step, at most one every ``every`` seconds, plus the last one:

    [training] 3/24 runs, 0:01:12 elapsed, ETA 0:08:24

The ETA is the mean time per finished step times the steps left (steps of one grid cost
about the same); none is shown before the first step.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import IO, Any

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` (``"?"`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """``done / total`` steps of one job (use as a context manager; :meth:`advance` per step).

    Parameters
    ----------
    total : int
        Steps to do (those already done before are not counted).
    label : str
        What is running (shown in brackets).
    unit : str, default "runs"
    enabled : bool, default True
        ``False``: silent.
    stream : text stream, default sys.stderr
    every : float, default 10.0
        Least seconds between two plain lines.
    live : bool, optional
        Force (True) or refuse (False) the live bar; default: when ``stream`` is a terminal.
    """

    def __init__(self, total: int, label: str, *, unit: str = "runs", enabled: bool = True,
                 stream: IO[str] | None = None, every: float = 10.0,
                 live: bool | None = None) -> None:
        self.total, self.label, self.unit = int(total), label, unit
        self.enabled = enabled and total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.live = _isatty(self.stream) if live is None else live
        self.done = 0
        self._start = time.perf_counter()
        self._last_line = -math.inf
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        if self.enabled and self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn(f"[{self.label}]"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn(self.unit),
                                     TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(),
                                     console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def eta(self) -> float:
        """Seconds left by the mean time per finished step (NaN before the first)."""
        if self.done == 0:
            return math.nan
        elapsed = time.perf_counter() - self._start
        return elapsed / self.done * max(self.total - self.done, 0)

    def line(self) -> str:
        elapsed = time.perf_counter() - self._start
        return (f"[{self.label}] {self.done}/{self.total} {self.unit}, "
                f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(self.eta())}")

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` finished steps and show them."""
        self.done = min(self.done + steps, self.total)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            return
        now = time.perf_counter()
        if now - self._last_line >= self.every or self.done == self.total:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)


def _isatty(stream: IO[str]) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
