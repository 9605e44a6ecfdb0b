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
