"""Render the report: report.md (figures linked) and a self-contained report.html (figures
embedded). Every table is read from the CSV its part wrote; nothing is typed by hand."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from shadownets.io import atomic_write_text
from shadownets.report.base import PartResult

__all__ = ["write_report", "format_value", "MAX_ROWS"]

#: Longer tables show their first MAX_ROWS rows and say how many more the CSV holds.
MAX_ROWS = 40

_BADGE = {"holds": "#1a7f37", "partly": "#9a6700", "does not hold": "#cf222e"}


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


def _markdown(out: Path, parts: list[PartResult], meta: dict) -> str:
    lines = ["# shadownets: reproduction of Arora, Liang & Ma (2015)", "",
             "*Why are deep nets reversible: a simple theory, with implications for training* "
             "(arXiv 1511.05653). Every number below was read from the files the experiments "
             "wrote.", "",
             f"Generated {meta['generated']} with `{meta['command']}` "
             f"(scale {meta['scale']}, seed {meta['seed']}).", "",
             "| # | part | verdict | evidence |", "|---|---|---|---|"]
    for i, r in enumerate(parts, 1):
        lines.append(f"| {i} | [{_cell(r.title)}](#p{i}) | **{r.verdict}** | "
                     f"{_cell(r.evidence)} |")
    for i, r in enumerate(parts, 1):
        folder = out / r.name
        lines += ["", f'<a id="p{i}"></a>', "", f"## {i}. {r.title}", "",
                  f"**Claim.** {r.claim}", "",
                  f"**Verdict: {r.verdict}.** {r.evidence}", "",
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


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row)
                   + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1f2328}table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em;display:block;
overflow-x:auto}th,td{border:1px solid #d0d7de;padding:.2em .5em;text-align:right}
th{background:#f6f8fa}.v{color:#fff;padding:.1em .5em;border-radius:.3em;font-weight:600}
code{background:#f6f8fa;padding:.1em .3em}img{max-width:100%}blockquote{color:#57606a;
border-left:.25em solid #d0d7de;margin:0;padding:0 1em}"""


def _badge(verdict: str) -> str:
    return f'<span class="v" style="background:{_BADGE[verdict]}">{html.escape(verdict)}</span>'


def _html(out: Path, parts: list[PartResult], meta: dict) -> str:
    e = html.escape
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>shadownets report</title>"
         f"<style>{_CSS}</style></head><body>",
         "<h1>shadownets: reproduction of Arora, Liang &amp; Ma (2015)</h1>",
         f"<p>Generated {e(meta['generated'])} with <code>{e(meta['command'])}</code> "
         f"(scale {e(meta['scale'])}, seed {meta['seed']}). Every number was read from the "
         "files the experiments wrote.</p>",
         "<table><thead><tr><th>#</th><th>part</th><th>verdict</th><th>evidence</th></tr>"
         "</thead><tbody>"]
    for i, r in enumerate(parts, 1):
        h.append(f"<tr><td>{i}</td><td style='text-align:left'><a href='#p{i}'>{e(r.title)}"
                 f"</a></td><td>{_badge(r.verdict)}</td><td style='text-align:left'>"
                 f"{e(r.evidence)}</td></tr>")
    h.append("</tbody></table>")
    for i, r in enumerate(parts, 1):
        folder = out / r.name
        h += [f"<h2 id='p{i}'>{i}. {e(r.title)}</h2>",
              f"<p><b>Claim.</b> {e(r.claim)}</p>",
              f"<p><b>Verdict:</b> {_badge(r.verdict)} {e(r.evidence)}</p>",
              f"<p>Command: <code>{e(r.command)}</code> · seed {r.seed} · {r.seconds:.1f} s</p>"]
        for t in r.tables:
            df, total = _table(folder, t["path"])
            h += [f"<p><b>{e(t['title'])}</b> (<code>{e(r.name)}/{e(t['path'])}</code>)</p>",
                  _html_table(df)]
            if total > len(df):
                h.append(f"<p><i>… {total - len(df)} more rows in the CSV.</i></p>")
        for f in r.figures:
            h += [f"<figure>{_img(folder / f['path'], f['title'])}"
                  f"<figcaption>{e(f['title'])}</figcaption></figure>"]
        h += [f"<blockquote>{e(note)}</blockquote>" for note in r.notes]
    h.append("<h2>Environment</h2><table><tbody>")
    h += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in meta["environment"].items()]
    h.append("</tbody></table></body></html>")
    return "\n".join(h)


def write_report(out: Path, parts: list[PartResult], meta: dict) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; return their paths."""
    md = atomic_write_text(out / "report.md", _markdown(out, parts, meta))
    page = atomic_write_text(out / "report.html", _html(out, parts, meta))
    return md, page
