"""`shadownets reproduce` at the tiny scale: every section present, every number traceable."""

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from _markdown import md_tables, same_value
from shadownets.cli import app
from shadownets.report import PARTS, VERDICTS, reproduce
from shadownets.report.base import default_parts
from shadownets.report.runner import render_texts


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, reproduce(out, scale="tiny")


def test_every_section_has_a_verdict_rule_and_flip(report):
    out, result = report
    md = result.markdown.read_text()
    assert [r.name for r in result.parts] == default_parts()  # on-request parts: not run
    for i, part in enumerate((PARTS[n] for n in default_parts()), 1):
        assert f"## {i}. {part.title}" in md
    verdicts = re.findall(r"\*\*Verdict: (.+?)\.\*\*", md)
    n = len(default_parts())
    assert len(verdicts) == n and set(verdicts) <= set(VERDICTS)
    assert md.count("**Rule** (declared before the run).") == n
    assert md.count("**What would change it.**") == n
    assert "Partial report" not in md
    assert "## Environment" in md and "torch" in md
    for r in result.parts:
        assert r.rule_text and r.flip and r.rule, r.name


def test_every_table_cell_matches_its_csv(report):
    """Read back by an independent parser (markdown-it-py tokens) and compared with pandas."""
    out, result = report
    tables = md_tables(result.markdown.read_text())
    assert len(tables) >= len(default_parts())
    for path, header, rows in tables:
        df = pd.read_csv(out / path)
        assert header == [str(c) for c in df.columns], path
        assert 0 < len(rows) <= len(df), path
        for row, ref in zip(rows, df.itertuples(index=False), strict=False):
            for cell, value in zip(row, ref, strict=True):
                assert same_value(cell, value), (path, cell, value)


def test_verdicts_are_rejudged_from_the_files(report):
    """Each saved verdict is what the part's judge says when it reads the files again."""
    out, result = report
    for name in default_parts():
        part = PARTS[name]
        again = part.judge(out / name, part.rule)
        saved = json.loads((out / name / "result.json").read_text())
        assert (again.verdict, again.evidence) == (saved["verdict"], saved["evidence"]), name
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert {v["name"] for v in verdicts} == set(default_parts())


def test_report_rerenders_byte_for_byte(report):
    out, result = report
    md, page = render_texts(out)
    assert md == result.markdown.read_text() and page == result.html.read_text()


def test_html_is_self_contained(report):
    out, result = report
    page = result.html.read_text()
    n_fig = sum(len(r.figures) for r in result.parts)
    assert page.count("data:image/png;base64,") == n_fig > 0
    assert not re.search(r'src="(?!data:)', page)


def test_rerun_reuses_finished_parts(report):
    out, _ = report
    again = reproduce(out, scale="tiny", resume=True, parts=["identities"])
    assert again.skipped == ["identities"]
    forced = reproduce(out, scale="tiny", resume=True, parts=["identities"], force=True)
    assert forced.skipped == []
    # re-running a part re-runs those that read its files
    forced = reproduce(out, scale="tiny", resume=True, parts=["theorem"], force=True)
    assert [r.name for r in forced.parts] == ["theorem"]
    again = reproduce(out, scale="tiny", resume=True, parts=["bias"])
    assert again.skipped == ["theorem"]  # bias is re-run: its input changed
    meta = json.loads((out / "meta.json").read_text())
    assert meta["parts_run"] == ["bias"] and "theorem" in meta["parts_reused"]


def test_cli_list_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "--list"])
    assert res.exit_code == 0 and "theorem" in res.stdout
    res = runner.invoke(app, ["reproduce", "--out", str(tmp_path), "--part", "nope"])
    assert res.exit_code == 2 and "unknown report part(s) ['nope']" in res.stderr
    res = runner.invoke(app, ["reproduce", "--out", str(tmp_path), "--scale", "huge"])
    assert res.exit_code == 2 and "scale must be one of" in res.stderr


def test_written_files_are_world_readable(report):
    out, result = report
    assert result.markdown.stat().st_mode & 0o044 == 0o044
