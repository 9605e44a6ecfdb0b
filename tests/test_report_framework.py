"""The report machinery with crafted parts: verdicts as judged, tables as in the CSVs (read by an
independent parser), partial reports, truthful metadata, generated docs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _cli import one_error_line, snapshot
from _markdown import md_tables, same_value
from shadownets.io import save_dataframe_csv
from shadownets.report import PARTS, VERDICTS, Judgement, PartOutput, reproduce
from shadownets.report.base import Part
from shadownets.report.docs import render_markers, update_docs
from shadownets.report.runner import render_texts


@dataclass(frozen=True)
class _Rule:
    threshold: float = 0.5

    def text(self) -> str:
        return f"holds if the mean is above {self.threshold}"


def _judge(folder: Path, rule: _Rule) -> Judgement:
    v = float(pd.read_csv(folder / "values.csv")["value"].mean())
    verdict = "holds" if v > rule.threshold else ("does not hold" if v < 0 else "undetermined")
    return Judgement(verdict, f"mean {v:.3f}", {"mean": v}, "a different mean")


def _make_run(values, *, fail=False, name="fake"):
    def run(ctx):
        if fail:
            raise KeyboardInterrupt  # an interrupted part
        folder = ctx.part_dir(name)
        rng = np.random.default_rng(0)
        save_dataframe_csv(folder / "values.csv", pd.DataFrame({
            "value": values, "tiny": rng.uniform(size=len(values)) * 1e-7,
            "label": [f"a|b {i}" for i in range(len(values))]}))
        from matplotlib.figure import Figure

        from shadownets.io import save_figure

        fig = Figure(figsize=(1, 1))
        fig.subplots().plot(values)
        save_figure(folder / "values.png", fig)
        return PartOutput(tables=[{"title": "Values", "path": "values.csv"}],
                          figures=[{"title": "Values <plotted>", "path": "values.png"}])
    return run


@pytest.fixture()
def fake_parts(monkeypatch):
    """Replace the registry with two crafted parts."""
    saved = dict(PARTS)
    PARTS.clear()
    yield PARTS
    PARTS.clear()
    PARTS.update(saved)


def _register(name, run, order):
    PARTS[name] = Part(name, f"Part {name}", "a claim", run, _judge, _Rule(), (), order)


@pytest.mark.parametrize(("values", "verdict"), [([0.9, 0.8], "holds"),
                                                  ([-1.0, -2.0], "does not hold"),
                                                  ([0.1, 0.2], "undetermined")])
def test_the_report_shows_what_the_judge_says(fake_parts, tmp_path, values, verdict):
    _register("fake", _make_run(values), 1)
    res = reproduce(tmp_path, scale="tiny", command="shadownets reproduce --test")
    assert [r.verdict for r in res.parts] == [verdict]
    md = res.markdown.read_text()
    assert f"**Verdict: {verdict}.**" in md and "holds if the mean is above 0.5" in md
    assert '"threshold": 0.5' in md  # the rule's thresholds are printed
    assert "**What would change it.** a different mean" in md
    saved = json.loads((tmp_path / "fake" / "result.json").read_text())
    assert saved["rule"] == {"threshold": 0.5} and saved["verdict"] in VERDICTS


def test_tables_match_their_csv_read_independently(fake_parts, tmp_path):
    _register("fake", _make_run([0.123456789, 12345.678, -0.5, math.nan]), 1)
    res = reproduce(tmp_path, scale="tiny")
    tables = md_tables(res.markdown.read_text())
    assert [p for p, _, _ in tables] == ["fake/values.csv"]
    path, header, rows = tables[0]
    df = pd.read_csv(tmp_path / path)
    assert header == list(df.columns)
    assert len(rows) == len(df)
    for row, ref in zip(rows, df.itertuples(index=False), strict=True):
        assert all(same_value(c, v) for c, v in zip(row, ref, strict=True)), (row, ref)


def test_partial_report_says_so_and_meta_is_truthful(fake_parts, tmp_path):
    _register("a", _make_run([0.9], name="a"), 1)
    _register("b", _make_run([0.9], fail=True, name="b"), 2)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path, scale="tiny")
    # the interrupted run left part a; a run of part a alone renders a partial report
    res = reproduce(tmp_path, scale="tiny", parts=["a"], resume=True)
    md = res.markdown.read_text()
    assert "**Partial report:** 1 of 2 parts. Missing: b" in md
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["parts_reused"] == ["a"] and meta["parts_run"] == []
    assert meta["parts_missing"] == ["b"]
    assert meta["command"] == (f"shadownets reproduce --scale tiny --seed 0 --out {tmp_path} "
                               "--part a --resume")


def test_report_rerenders_byte_for_byte_from_itssnapshot(fake_parts, tmp_path):
    _register("fake", _make_run([0.9, 0.7]), 1)
    res = reproduce(tmp_path, scale="tiny")
    md, page = render_texts(tmp_path)
    assert md == res.markdown.read_text() and page == res.html.read_text()


def test_html_is_rendered_from_the_markdown(fake_parts, tmp_path):
    _register("fake", _make_run([0.9]), 1)
    res = reproduce(tmp_path, scale="tiny")
    page = res.html.read_text()
    assert "<table>" in page and "<strong>Verdict: holds.</strong>" in page
    assert 'id="p1"' in page and "src=\"fake" not in page
    assert page.count('src="data:image/png;base64,') == 1
    assert 'alt="Values &lt;plotted&gt;"' in page


def test_markers_fill_tables_values_and_verdicts(tmp_path):
    save_dataframe_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1.234567, 2.0], "b": ["x", "y"],
                                                         "c": [3, 4]}))
    (tmp_path / "r.json").write_text(json.dumps({"numbers": {"slope": 0.86421, "l": [1, 2]}}))
    text = ("x <!-- value: r.json numbers.slope|.2f -->OLD<!-- end value --> y "
            "<!-- value: r.json numbers.l.1 -->?<!-- end value -->\n"
            "<!-- table: t.csv columns=b,a where=c=4 -->\nstale\n<!-- end table -->\n")
    out = render_markers(text, tmp_path)
    assert "-->0.86<!--" in out and "-->2<!--" in out
    assert "| b | a |\n|---|---|\n| y | 2 |\n" in out and "stale" not in out
    assert render_markers(out, tmp_path) == out  # idempotent
    one = "<!-- value: t.csv a[b=y;c=4]|.1f -->?<!-- end value -->"
    assert render_markers(one, tmp_path) == one.replace("?", "2.0")
    with pytest.raises(ValueError, match="selects 2 rows"):
        render_markers("<!-- value: t.csv a -->?<!-- end value -->", tmp_path)
    with pytest.raises(ValueError, match="no column"):
        render_markers("<!-- table: t.csv columns=zz -->\n<!-- end table -->", tmp_path)
    with pytest.raises(ValueError, match="no key"):
        render_markers("<!-- value: r.json numbers.nope -->1<!-- end value -->", tmp_path)


def test_update_docs_check_finds_a_hand_edited_number(tmp_path):
    save_dataframe_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1.5]}))
    (tmp_path / "README.md").write_text("<!-- table: t.csv -->\n| a |\n|---|\n| 9.9 |\n"
                                        "<!-- end table -->\n")
    assert update_docs(tmp_path, check=True, reports=()) == [tmp_path / "README.md"]
    assert "9.9" in (tmp_path / "README.md").read_text()  # check writes nothing
    assert update_docs(tmp_path, reports=()) == [tmp_path / "README.md"]
    assert update_docs(tmp_path, check=True, reports=()) == []


def test_docs_rejudge_a_committed_report_and_catch_a_hand_edited_verdict(fake_parts, tmp_path):
    _register("fake", _make_run([0.9, 0.8]), 1)
    out = tmp_path / "docs" / "report"
    reproduce(out, scale="tiny")
    assert update_docs(tmp_path, check=True, reports=["docs/report"]) == []
    path = out / "fake" / "result.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "verdict": "does not hold"}, indent=2) + "\n")
    assert path in update_docs(tmp_path, check=True, reports=["docs/report"])
    changed = update_docs(tmp_path, reports=["docs/report"])
    assert changed == [path]  # the report itself was rendered from the right verdict
    assert json.loads(path.read_text())["verdict"] == "holds"
    assert update_docs(tmp_path, check=True, reports=["docs/report"]) == []






def test_cli_refuses_a_finished_report_and_other_settings_before_any_work(fake_parts,
                                                                          tmp_path):
    from typer.testing import CliRunner

    from shadownets.cli import app

    _register("fake", _make_run([0.9]), 1)
    out = tmp_path / "rep"
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out)])
    assert res.exit_code == 0, res.output
    before = snapshot(out)
    res = runner.invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out)])
    assert res.exit_code == 2
    assert "holds a finished report run; use --resume" in one_error_line(res)
    res = runner.invoke(app, ["reproduce", "--scale", "quick", "--out", str(out), "--resume"])
    assert res.exit_code == 2 and "other settings (scale: 'tiny' → 'quick')" in \
        one_error_line(res)
    assert snapshot(out) == before
    res = runner.invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out), "--resume"])
    assert res.exit_code == 0 and "[reused] fake" in res.stderr
    res = runner.invoke(app, ["reproduce", "--scale", "tiny", "--out", str(out), "--overwrite"])
    assert res.exit_code == 0 and "[running] fake" in res.stderr
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    res = runner.invoke(app, ["reproduce", "--scale", "tiny", "--out", str(mine)])
    assert res.exit_code == 2 and "is a file, not a folder" in one_error_line(res)
    assert mine.read_text() == "mine"
