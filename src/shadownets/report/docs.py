"""Generated documentation: every number in README.md and docs/*.md comes from a committed file.

Markdown files carry marker blocks whose contents this module rewrites from files in the
repository (paths relative to its root):

* ``<!-- table: PATH [columns=a,b,c] [where=col=value;col2=value2] -->`` … ``<!-- end table -->``
  — a markdown table of a CSV (floats with 4 significant digits, as the report prints them);
* ``<!-- verdicts: FOLDER -->`` … ``<!-- end verdicts -->`` — one row per report part of a
  report folder (its ``result.json`` files): part, verdict, evidence;
* ``<!-- value: PATH KEY[|FORMAT] -->`` … ``<!-- end value -->`` — one number (or text) from a
  JSON file, ``KEY`` a dotted path (``numbers.slope``; list items by index), or from a CSV,
  ``KEY`` = ``column[col=value;…]`` selecting exactly one row; ``FORMAT`` a Python format spec
  (default: 4 significant digits);

and the committed report folders listed in :data:`REPORTS` are re-judged (each part's
``result.json`` gets the verdict that the part's current judge and rule give on the part's
committed files) and re-rendered (``report.md`` and ``report.html``) from their ``meta.json``
and part ``result.json`` files.

:func:`update_docs` rewrites everything; with ``check=True`` it writes nothing and returns the
files that differ, so CI fails when a committed document is stale or a number was typed by
hand inside a block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from shadownets.io import atomic_write_text
from shadownets.report.render import format_value, table_cell

__all__ = ["REPORTS", "render_markers", "update_docs", "doc_files"]

#: Committed report folders re-rendered by :func:`update_docs` (relative to the root).
REPORTS: tuple[str, ...] = ("docs/report", "docs/results/alexnet-report")

_BLOCK = re.compile(r"(<!-- (table|verdicts): (.*?) -->\n)(.*?)(<!-- end \2 -->)", re.S)
_VALUE = re.compile(r"(<!-- value: (.*?) -->)(.*?)(<!-- end value -->)", re.S)


def _table(root: Path, spec: str) -> str:
    words = spec.split()
    if not words:
        raise ValueError("table marker needs a CSV path")
    path, opts = words[0], dict(w.split("=", 1) for w in words[1:])
    unknown = set(opts) - {"columns", "where"}
    if unknown:
        raise ValueError(f"table marker for {path}: unknown option(s) {sorted(unknown)}")
    df = pd.read_csv(root / path)
    for cond in filter(None, opts.get("where", "").split(";")):
        col, value = cond.split("=", 1)
        if col not in df.columns:
            raise ValueError(f"table marker for {path}: no column {col!r}")
        df = df[df[col].astype(str) == value]
    if "columns" in opts:
        cols = opts["columns"].split(",")
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"table marker for {path}: no column(s) {missing}; has "
                             f"{list(df.columns)}")
        df = df[cols]
    head = "| " + " | ".join(table_cell(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(table_cell(v) for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def _results(root: Path, folder: str) -> list[dict[str, Any]]:
    from shadownets.report.base import PARTS

    out = []
    for name in PARTS:
        path = root / folder / name / "result.json"
        if path.is_file():
            out.append(json.loads(path.read_text(encoding="utf-8")))
    if not out:
        raise ValueError(f"verdicts marker: no result.json under {folder}")
    return out


def _verdicts(root: Path, folder: str) -> str:
    rows = ["| claim of the paper | verdict | evidence (quick report) |", "|---|---|---|"]
    for r in _results(root, folder.strip()):
        title, evidence = table_cell(r["title"]), table_cell(r["evidence"])
        rows.append(f"| {title} | **{r['verdict']}** | {evidence} |")
    return "\n".join(rows) + "\n"


def _lookup(obj: Any, key: str) -> Any:
    for part in key.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            raise ValueError(f"value marker: no key {part!r} in {key!r}")
    return obj


def _csv_value(path: Path, key: str) -> Any:
    """``column[col=value;col2=value2]`` of a CSV: the one cell selected by the conditions."""
    col, _, conds = key.partition("[")
    df = pd.read_csv(path)
    for cond in filter(None, conds.rstrip("]").split(";")):
        name, value = cond.split("=", 1)
        if name not in df.columns:
            raise ValueError(f"value marker for {path.name}: no column {name!r}")
        df = df[df[name].astype(str) == value]
    if col not in df.columns:
        raise ValueError(f"value marker for {path.name}: no column {col!r}")
    if len(df) != 1:
        raise ValueError(f"value marker for {path.name}: {key!r} selects {len(df)} rows, not 1")
    value = df[col].iloc[0]
    return value.item() if hasattr(value, "item") else value


def _value(root: Path, spec: str) -> str:
    words = spec.split(maxsplit=1)
    if len(words) != 2:
        raise ValueError(f"value marker needs 'PATH KEY[|FORMAT]', got {spec!r}")
    path, key = words
    key, _, fmt = key.partition("|")
    if path.endswith(".csv"):
        value = _csv_value(root / path, key.strip())
    else:
        value = _lookup(json.loads((root / path).read_text(encoding="utf-8")), key.strip())
    if fmt:
        return format(value, fmt)
    return format_value(value)


def render_markers(text: str, root: Path) -> str:
    """``text`` with every marker block filled from the files under ``root``."""
    root = Path(root)

    def block(m: re.Match) -> str:
        kind, spec = m.group(2), m.group(3)
        body = _table(root, spec) if kind == "table" else _verdicts(root, spec)
        return m.group(1) + body + m.group(5)

    text = _BLOCK.sub(block, text)
    return _VALUE.sub(lambda m: m.group(1) + _value(root, m.group(2)) + m.group(4), text)


def doc_files(root: Path) -> list[Path]:
    """README.md and every markdown file under docs/ (the committed reports excluded)."""
    root = Path(root)
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [f for f in files if f.is_file()]


def _render_reports(root: Path, folders: Iterable[str], *,
                    check: bool) -> tuple[dict[Path, str], list[Path]]:
    """The report files as they should be, and the result files already rewritten."""
    from shadownets.report.runner import rejudged, render_texts

    out: dict[Path, str] = {}
    written: list[Path] = []
    for folder in folders:
        results = rejudged(root / folder)
        changed = {p: t for p, t in results.items()
                   if not p.is_file() or p.read_text(encoding="utf-8") != t}
        out.update(changed)
        if changed and check:  # the report below would be rendered from the new results
            continue
        for path, text in changed.items():
            atomic_write_text(path, text)
            written.append(path)
        md, page = render_texts(root / folder)
        out[root / folder / "report.md"] = md
        out[root / folder / "report.html"] = page
    return out, written


def update_docs(root: str | Path, *, check: bool = False,
                reports: Iterable[str] = REPORTS) -> list[Path]:
    """Regenerate the committed reports and every marker block; return the files that changed
    (with ``check=True``: that would change, and nothing is written)."""
    root = Path(root)
    wanted, changed = _render_reports(root, reports, check=check)
    for path in doc_files(root):
        wanted[path] = render_markers(path.read_text(encoding="utf-8"), root)
    for path, text in wanted.items():
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old != text:
            changed.append(path)
            if not check:
                atomic_write_text(path, text)
    return changed
