"""Regenerate every generated part of the documentation from committed files.

    python scripts/make_docs.py           # rewrite README.md, docs/*.md and docs/report/
    python scripts/make_docs.py --check   # write nothing; exit 1 listing the stale files

What is generated (see ``shadownets.report.docs``): the committed quick report
(docs/report/report.md and report.html, from its result.json and CSV files) and every marker
block (tables, verdicts, single values) in README.md and docs/*.md. The test suite runs the
check, so CI fails when a committed document differs from what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shadownets.report.docs import update_docs

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is stale")
    args = parser.parse_args(argv)
    try:
        changed = update_docs(ROOT, check=args.check)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        verb = "stale" if args.check else "rewrote"
        print(f"{verb}: {path.relative_to(ROOT)}")
    if args.check and changed:
        print("run `python scripts/make_docs.py` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
