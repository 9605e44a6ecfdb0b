"""The training study of docs/training.md: shadow data, supervised and semi-supervised, against
their baselines over data sets × architectures × label budgets, seeds chosen from a pilot.

    python scripts/training_study.py --jobs 2 --max-seeds 8   # pilot, then the study
    python scripts/training_study.py --jobs 2 --pilot-only

Every comparison is one ``shadownets.train.compare`` call (Holm across its data sets ×
budgets; margin 1 point of test error; power for that margin), written to
``docs/results/study/<use>/<arch>/`` (runs.csv, cells.csv, diffs.csv, summary.json,
judgement.json). Steps:

1. **Pilot**: ``PILOT_SEEDS`` seeds of every comparison.
2. **Seeds**: the largest ``seeds_needed`` of the pilot's reference − best-other comparisons
   (80% power to detect a 1-point difference at the Holm level), capped at ``--max-seeds``
   (the machine's budget); the choice and the cap are written to ``study.json``.
3. **Study**: every comparison re-run with that many seeds, re-using the pilot's runs
   (``resume``: same settings, so the same runs).

The numbers in docs/training.md are read from these files by ``scripts/make_docs.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd

from shadownets.io import save_json
from shadownets.train import DEFAULT_GRIDS, CompareConfig, TrainConfig, compare

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs/results/study"

#: Data sets each architecture of the study is trained on.
ARCHS: dict[str, tuple[str, ...]] = {
    "mlp": ("digits", "fashion-mnist", "mnist1d"),
    "lenet": ("digits", "fashion-mnist"),
    "cnn1d": ("mnist1d",),
}
#: The two uses: methods compared and the reference whose claim is tested.
USES: dict[str, tuple[tuple[str, ...], str]] = {
    "supervised": (("plain", "dropout", "input-noise", "shadow"), "shadow"),
    "semi": (("plain", "shadow-consistency", "pi-noise", "pi-dropout", "pseudo-label"),
             "shadow-consistency"),
}
BUDGETS = (100, 1000)
PILOT_SEEDS = 4
MARGIN, ALPHA, POWER = 0.01, 0.05, 0.8
EPOCHS, STEPS = 30, 10
LR = {"mlp": 1e-3, "lenet": 1e-3, "cnn1d": 1e-2}  # cnn1d: the MNIST-1D paper's rate


def config(use: str, arch: str, seeds: int, jobs: int) -> CompareConfig:
    methods, reference = USES[use]
    base = TrainConfig(model=arch, epochs=EPOCHS, steps_per_epoch=STEPS, lr=LR[arch])
    return CompareConfig(datasets=ARCHS[arch], budgets=BUDGETS, methods=methods,
                         seeds=tuple(range(seeds)), base=base,
                         grids={m: DEFAULT_GRIDS[m] for m in methods if m in DEFAULT_GRIDS},
                         reference=reference, margin=MARGIN, alpha=ALPHA, power=POWER,
                         jobs=jobs, threads=1)


def run(use: str, arch: str, seeds: int, jobs: int) -> pd.DataFrame:
    from shadownets.cli.train import _judge_claim

    out = OUT / use / arch
    cfg = config(use, arch, seeds, jobs)
    resume = (out / "run.json").is_file()
    tic = time.perf_counter()
    result = compare(cfg, out_dir=out, resume=resume, progress=True)
    _judge_claim(out, cfg.reference, cfg.margin, cfg.alpha, cfg.correction, cfg.power)
    print(f"{use}/{arch}: {len(result.runs)} runs, {time.perf_counter() - tic:.0f} s",
          file=sys.stderr)
    return result.diffs


def write_summary() -> None:
    """``summary.csv`` (one row per reference − best-other comparison of every folder) and
    ``claims.csv`` (one row per folder: its claim's verdict) under :data:`OUT`."""
    rows, claims = [], []
    for use, (_, reference) in USES.items():
        for arch in ARCHS:
            folder = OUT / use / arch
            if not (folder / "diffs.csv").is_file():
                continue
            d = pd.read_csv(folder / "diffs.csv")
            d = d[d.family == "best_other"]
            for r in d.itertuples():
                rows.append({"use": use, "arch": arch, "dataset": r.dataset,
                             "budget": r.budget, "reference": reference, "other": r.other,
                             "n_pairs": r.n_pairs, "diff_mean": r.diff_mean,
                             "ci_low": r.ci_low, "ci_high": r.ci_high,
                             "p_diff_adj": r.p_diff_adj, "p_equiv_adj": r.p_equiv_adj,
                             "power_diff": r.power_diff, "seeds_needed": r.seeds_needed,
                             "verdict": r.verdict})
            j = json.loads((folder / "judgement.json").read_text(encoding="utf-8"))
            counts = d.verdict.value_counts()
            claims.append({"use": use, "arch": arch, "datasets": ",".join(ARCHS[arch]),
                           "reference": reference, "comparisons": len(d),
                           **{v: int(counts.get(v, 0)) for v in ("win", "loss", "tie",
                                                                  "undetermined")},
                           "median_power": float(d.power_diff.median()),
                           "verdict": j["verdict"]})
    from shadownets.io import save_dataframe_csv

    save_dataframe_csv(OUT / "summary.csv", pd.DataFrame(rows))
    save_dataframe_csv(OUT / "claims.csv", pd.DataFrame(claims))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--max-seeds", type=int, default=12)
    ap.add_argument("--pilot-only", action="store_true")
    ap.add_argument("--summarise-only", action="store_true",
                    help="only rewrite summary.csv and claims.csv from the folders")
    args = ap.parse_args(argv)
    if args.summarise_only:
        write_summary()
        return 0
    needed = []
    for use in USES:
        for arch in ARCHS:
            diffs = run(use, arch, PILOT_SEEDS, args.jobs)
            best = diffs[diffs.family == "best_other"]
            needed += [float(v) for v in best.seeds_needed if pd.notna(v)]
    want = int(max(needed)) if needed else PILOT_SEEDS
    chosen = max(PILOT_SEEDS, min(want, args.max_seeds))
    record = {"pilot_seeds": PILOT_SEEDS, "seeds_needed_max": want,
              "seeds_needed": sorted(int(v) for v in needed if math.isfinite(v)),
              "max_seeds": args.max_seeds, "seeds": chosen,
              "seeds_run": PILOT_SEEDS if args.pilot_only else chosen, "margin": MARGIN,
              "alpha": ALPHA, "power": POWER, "budgets": list(BUDGETS),
              "archs": {a: list(d) for a, d in ARCHS.items()},
              "uses": {u: {"methods": list(m), "reference": r} for u, (m, r) in USES.items()},
              "base": dataclasses.asdict(config("supervised", "mlp", 1, 1).base)}
    save_json(OUT / "study.json", record)
    print(json.dumps({k: record[k] for k in ("seeds_needed_max", "seeds")}), file=sys.stderr)
    if not args.pilot_only and chosen > PILOT_SEEDS:
        for use in USES:
            for arch in ARCHS:
                run(use, arch, chosen, args.jobs)
    write_summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
