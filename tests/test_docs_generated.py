"""The committed documentation is what `python scripts/make_docs.py` writes: the quick report
re-rendered from its result files, and every generated table and number in README.md/docs."""

from pathlib import Path

from shadownets.report.docs import update_docs

ROOT = Path(__file__).resolve().parents[1]


def test_committed_docs_are_generated_from_committed_files():
    stale = update_docs(ROOT, check=True)
    assert not stale, ("generated documentation is stale; run `python scripts/make_docs.py`: "
                       + ", ".join(str(p.relative_to(ROOT)) for p in stale))


def test_readme_has_generated_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- verdicts: docs/report -->" in text and "<!-- table: " in text


def test_verdict_changes_table_is_what_its_script_writes():
    """docs/results/verdict_changes.csv (README) is scripts/verdict_changes.py's output from
    the committed reports, so its "after" column cannot drift from docs/report."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.spec_from_file_location("verdict_changes",
                                                  ROOT / "scripts/verdict_changes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = pd.read_csv(ROOT / "docs/results/verdict_changes.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(committed, mod.table().astype(str), check_dtype=False)
