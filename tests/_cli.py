"""Helpers shared by the "nothing lost" tests: snapshots of folders and one-line refusals."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(*roots: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every link's target under ``roots`` (links not followed; a root
    may be a single file)."""
    out: dict[str, bytes | str] = {}
    for root in roots:
        root = Path(root)
        if root.is_file() and not root.is_symlink():
            out[str(root)] = root.read_bytes()
            continue
        for base, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(base) / name
                if path.is_symlink():
                    out[str(path)] = "link:" + os.readlink(path)
                elif path.is_file():
                    out[str(path)] = path.read_bytes()
    return out


def one_error_line(result) -> str:
    """The single non-empty stderr line ``error: ...`` of a CLI result (no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def refused(result, *fragments: str) -> str:
    """Assert a refusal: exit 2, one error line holding every fragment; return the line."""
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    for fragment in fragments:
        assert fragment in line, line
    return line
