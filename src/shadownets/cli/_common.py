"""Shared pieces of the command-line skin: error reporting, progress, tables, JSON."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer

from shadownets.io import to_jsonable

__all__ = ["handle_errors", "json_object", "progress", "step_progress", "print_table",
           "print_json", "fail", "USER_ERRORS", "DEBUG_ENV", "fits_model", "is_out_of_memory"]

F = TypeVar("F", bound=Callable[..., Any])

#: Exceptions that mean "the user asked for something wrong": shown as one line, no traceback.
#: The library raises ValueError for bad input and OSError (FileNotFoundError, ...) for files;
#: anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, NotImplementedError)

#: Environment variable: set to 1 to see the full traceback instead of one ``error:`` line.
DEBUG_ENV = "SHADOWNETS_DEBUG"

_OOM = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (MemoryError, torch's CPU/CUDA out of memory)."""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                            and bool(_OOM.search(str(exc))))


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def fits_model(x: Any, what: str = "data") -> Iterator[None]:
    """Turn the RuntimeError of a forward pass on ``x`` into "``what`` of shape (...) does not
    fit the model" (a ValueError); failed allocations are passed on unchanged."""
    try:
        yield
    except RuntimeError as exc:
        if is_out_of_memory(exc):
            raise
        shape = tuple(getattr(x, "shape", ()))
        text = " ".join(str(exc).split()) or type(exc).__name__
        if len(text) > 300:
            text = text[:297] + "..."
        raise ValueError(f"{what} of shape {shape} does not fit the model: {text}; give data "
                         "of the shape the model was built for, or another --model") from exc


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def handle_errors(func: F) -> F:
    """Decorate a command so that user errors print one line to stderr and exit 2.

    Failed allocations become "not enough memory for <command>"; with the environment variable
    ``SHADOWNETS_DEBUG=1`` nothing is caught and the full traceback is shown.
    """

    command = func.__name__.removesuffix("_command")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _debug():  # SHADOWNETS_DEBUG=1: the full traceback
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except USER_ERRORS as exc:
            fail(_one_line(exc))
        except (MemoryError, RuntimeError) as exc:  # other RuntimeErrors are bugs: traceback
            if not is_out_of_memory(exc):
                raise
            fail(f"not enough memory for {command} ({_one_line(exc)[:200]}); use fewer inputs "
                 "/ a smaller batch or a smaller model")
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper  # type: ignore[return-value]


def progress(items: Iterable[Any], description: str, total: int | None = None,
             enabled: bool = True) -> Iterator[Any]:
    """Iterate over ``items`` with a rich progress bar on stderr (hidden when not a TTY
    or when ``enabled`` is False)."""
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, total=total,
                     console=Console(stderr=True), transient=True)


@contextmanager
def step_progress(description: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yield a callback ``on_step(done, total)`` that drives a rich progress bar on stderr
    (a no-op when stderr is not a TTY or ``enabled`` is False)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def on_step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield on_step


def print_table(rows: Sequence[dict[str, Any]], title: str | None = None,
                float_fmt: str = "{:.4g}") -> None:
    """Print a list of dicts as a rich table on stdout (columns from the first row)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    if not rows:
        Console().print("(no rows)")
        return
    columns = list(rows[0].keys())
    for col in columns:
        table.add_column(str(col))
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            if isinstance(value, float):
                cells.append(float_fmt.format(value))
            else:
                cells.append(str(value))
        table.add_row(*cells)
    Console(width=max(200, Console().width)).print(table)


def print_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON on stdout."""
    typer.echo(json.dumps(to_jsonable(obj), indent=2, allow_nan=False))


def json_object(option: str, text: str | None) -> dict[str, Any]:
    """The JSON object of a command-line option, given inline or as a path to a .json file
    (empty: ``{}``); anything else is one ValueError line naming the option."""
    if not text:
        return {}
    if not text.lstrip().startswith("{") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} must be a JSON object or a .json file; got {text!r} "
                         f"({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object; got {text!r}")
    return value
