"""Benchmark results as committed files: ``--save`` writes ``benchmarks/results/NAME.json``.

Each benchmark prints its figures and, last, its ratio; with ``--save`` it also writes them,
with the command line, the date, the machine's core count and the package versions, so that the
README's benchmark table is generated from these files (``python scripts/make_docs.py``) and no
figure there is typed by hand.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def add_save_flag(parser) -> None:
    parser.add_argument("--save", action="store_true",
                        help=f"also write the figures to {RESULTS.name}/<benchmark>.json")


def save(name: str, figures: dict[str, Any], ratio: float, target: str, met: bool) -> Path:
    """Write ``results/NAME.json``: figures, the ratio and its target, and provenance."""
    import torch

    record = {"benchmark": name, "figures": figures, "ratio": ratio, "target": target,
              "met": bool(met),
              "command": "python " + shlex.join([f"benchmarks/{Path(sys.argv[0]).name}",
                                                 *[a for a in sys.argv[1:] if a != "--save"]]),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
              "cores": os.cpu_count(), "python": platform.python_version(),
              "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"saved {path.relative_to(RESULTS.parent.parent)}")
    return path
