"""The training study of docs/training.md: shadow data, supervised and semi-supervised, against
their baselines over data sets × architectures × label budgets, seeds chosen from a pilot.

    python scripts/training_study.py --jobs 2 --max-seeds 8   # pilot, then the study
    python scripts/training_study.py --jobs 2 --pilot-only
    python scripts/training_study.py --summarise-only         # re-decide the committed runs

The protocol is :func:`shadownets.train.study.run_study` with the defaults of
:class:`~shadownets.train.study.StudyConfig` (its docstring): a 4-seed pilot of every
comparison, then as many seeds as the pilot asks for (80% power to detect a 1-point difference
at the study's Holm level), capped at ``--max-seeds``. It writes ``docs/results/study/``:
``study.json``, one comparison folder per use × architecture (``<use>/<arch>/``, with the
compare command's own ``judgement.json``), and ``summary.csv`` / ``claims.csv`` decided by the
report's rule (:func:`shadownets.report.parts.training.write_study_tables`: Holm over all the
study's comparisons). The numbers in docs/training.md are read from these files by
``scripts/make_docs.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shadownets.report.parts.training import write_study_tables
from shadownets.train.study import USES, StudyConfig, run_study

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs/results/study"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--max-seeds", type=int, default=StudyConfig.max_seeds)
    ap.add_argument("--pilot-only", action="store_true")
    ap.add_argument("--summarise-only", action="store_true",
                    help="only rewrite summary.csv and claims.csv from the folders")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not args.summarise_only:
        from shadownets.cli.train import _judge_claim

        cfg = StudyConfig(max_seeds=args.max_seeds, jobs=args.jobs)
        tic = time.perf_counter()

        def done(use: str, arch: str, folder: Path) -> None:
            _judge_claim(folder, USES[use][1], cfg.margin, cfg.alpha, "holm", cfg.power)
            print(f"{use}/{arch}: done at {time.perf_counter() - tic:.0f} s", file=sys.stderr)

        record = run_study(cfg, args.out, progress=True, on_comparison=done,
                           pilot_only=args.pilot_only)
        print(json.dumps({k: record[k] for k in ("seeds_needed_max", "seeds", "seeds_run")}),
              file=sys.stderr)
    write_study_tables(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
