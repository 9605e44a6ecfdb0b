"""An independent reader of the report's markdown tables (markdown-it-py's tokens, not the
renderer's formatter), shared by the report tests."""

from __future__ import annotations

import math

from markdown_it import MarkdownIt


def md_tables(md: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(csv path, header, rows) of each rendered table, parsed by markdown-it-py's tokens."""
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    out, path, row, rows, header = [], None, None, [], None
    for i, t in enumerate(tokens):
        if t.type == "inline" and t.children and tokens[i - 1].type == "paragraph_open":
            codes = [c.content for c in t.children if c.type == "code_inline"]
            if codes and codes[-1].endswith(".csv"):
                path = codes[-1]
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t.content)
        elif t.type == "tr_close":
            if header is None:
                header = row
            else:
                rows.append(row)
            row = None
        elif t.type == "table_close":
            if path:
                out.append((path, header, rows))
            path, header, rows = None, None, []
    return out


def same_value(cell: str, value) -> bool:
    cell = cell.replace("\\|", "|")
    if isinstance(value, float):
        if math.isnan(value):
            return cell == ""
        return math.isclose(float(cell), value, rel_tol=5e-4, abs_tol=0.0)
    return cell == str(value)
