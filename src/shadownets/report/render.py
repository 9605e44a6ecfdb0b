"""Render the report: report.md (figures linked) and a self-contained report.html (figures
embedded), the HTML rendered from the same markdown by markdown-it-py. Every table is read from
the CSV its part wrote; nothing is typed by hand."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from shadownets.io import atomic_write_text
from shadownets.report.base import PartResult

__all__ = ["write_report", "report_texts", "format_value", "table_cell", "MAX_ROWS"]

#: Longer tables show their first MAX_ROWS rows and say how many more the CSV holds.
MAX_ROWS = 40

def format_value(value: Any) -> str:
    """How a table cell is printed: floats with 4 significant digits."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    return str(value)


def _table(folder: Path, path: str) -> tuple[pd.DataFrame, int]:
    df = pd.read_csv(folder / path)
    return df.head(MAX_ROWS), len(df)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(_cell(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(_cell(format_value(v)) for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _md_text(text: str) -> str:
    """Prose for a table cell or a line: pipes escaped, newlines folded."""
    return _cell(" ".join(str(text).split()))


def table_cell(value: Any) -> str:
    """A value as a markdown table cell: formatted as the report prints it, newlines folded,
    pipes escaped."""
    return _md_text(format_value(value))


def _markdown(out: Path, parts: list[PartResult], meta: dict) -> str:
    lines = ["# shadownets: reproduction of Arora, Liang & Ma (2015)", "",
             "*Why are deep nets reversible: a simple theory, with implications for training* "
             "(arXiv 1511.05653). Every number below was read from the files the experiments "
             "wrote.", "",
             f"Generated {meta['generated']} with `{meta['command']}` "
             f"(scale {meta['scale']}, seed {meta['seed']}).", ""]
    missing = meta.get("parts_missing") or []
    if missing:
        lines += [f"> **Partial report:** {len(parts)} of {len(parts) + len(missing)} parts. "
                  f"Missing: {', '.join(missing)} (not run, interrupted, or made by other "
                  "settings or code). Run `shadownets reproduce` with the same --out, scale "
                  "and seed and --resume (without --part) to complete it.", ""]
    lines += ["Verdicts are three-valued: **holds**, **does not hold**, or **undetermined** "
              "(this run's evidence does not decide; each part says what would). Each part's "
              "rule and thresholds were fixed before the run and are printed with it.", "",
              "| # | part | verdict | evidence |", "|---|---|---|---|"]
    for i, r in enumerate(parts, 1):
        lines.append(f"| {i} | [{_md_text(r.title)}](#p{i}) | **{r.verdict}** | "
                     f"{_md_text(r.evidence)} |")
    for i, r in enumerate(parts, 1):
        folder = out / r.name
        lines += ["", f'<a id="p{i}"></a>', "", f"## {i}. {r.title}", "",
                  f"**Claim.** {r.claim}", "",
                  f"**Verdict: {r.verdict}.** {r.evidence}", "",
                  f"**Rule** (declared before the run). {r.rule_text}", "",
                  f"**What would change it.** {r.flip}", "",
                  f"Thresholds: `{json.dumps(r.rule, ensure_ascii=False)}`", "",
                  f"Command: `{r.command}` · seed {r.seed} · {r.seconds:.1f} s", ""]
        for t in r.tables:
            df, total = _table(folder, t["path"])
            lines += [f"**{t['title']}** (`{r.name}/{t['path']}`)", "", _md_table(df), ""]
            if total > len(df):
                lines += [f"*… {total - len(df)} more rows in `{r.name}/{t['path']}`.*", ""]
        for f in r.figures:
            lines += [f"![{f['title']}]({r.name}/{f['path']})", "", f"*{f['title']}*", ""]
        for note in r.notes:
            lines += [f"> {note}", ""]
    lines += ["## Environment", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in meta["environment"].items()]
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1f2328}table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em;display:block;
overflow-x:auto}th,td{border:1px solid #d0d7de;padding:.2em .5em}th{background:#f6f8fa}
code{background:#f6f8fa;padding:.1em .3em;word-break:break-word}img{max-width:100%}
blockquote{color:#57606a;border-left:.25em solid #d0d7de;margin:0;padding:0 1em}"""


def _html(out: Path, markdown: str) -> str:
    """The markdown rendered by markdown-it-py (CommonMark + tables), figures embedded."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")

    def image(renderer, tokens, idx, options, env):  # embed the PNG instead of linking it
        token = tokens[idx]
        src = out / str(token.attrGet("src"))
        data = base64.b64encode(src.read_bytes()).decode("ascii")
        alt = html.escape(token.content, quote=True)
        return f'<img alt="{alt}" src="data:image/png;base64,{data}">'

    md.add_render_rule("image", image)
    body = md.render(markdown)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>shadownets report"
            f"</title><style>{_CSS}</style></head><body>\n{body}</body></html>\n")


def report_texts(out: Path, parts: list[PartResult], meta: dict) -> tuple[str, str]:
    """The report's markdown and HTML (figures read from ``out``)."""
    text = _markdown(Path(out), parts, meta)
    return text, _html(Path(out), text)


def write_report(out: Path, parts: list[PartResult], meta: dict) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; return their paths."""
    text, page_text = report_texts(out, parts, meta)
    md = atomic_write_text(Path(out) / "report.md", text)
    page = atomic_write_text(Path(out) / "report.html", page_text)
    return md, page
