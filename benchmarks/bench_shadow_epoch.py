"""Epoch time and peak memory: shadow training (1 shadow per input) vs plain training.

Each measurement runs in a fresh child process (so that its peak resident memory is its own),
alternating plain / shadow ``--reps`` times; the figure is the median over repetitions of the
median training seconds per epoch reported by ``shadownets.train.fit`` (``train_seconds``:
the epoch's steps, shadow generation and α calibration included, evaluation excluded).

    .venv/bin/python benchmarks/bench_shadow_epoch.py [--dataset fashion-mnist] [--model lenet]

Prints one line per method and, last, ``ratio shadow/plain epoch time: X.XX``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script


def child(args: argparse.Namespace) -> None:
    import torch

    from shadownets.data import load_dataset
    from shadownets.train import TrainConfig, fit

    torch.set_num_threads(args.threads)
    splits = load_dataset(args.dataset, download=False, limit_train=args.limit_train)
    cfg = TrainConfig(dataset=args.dataset, model=args.model, method=args.method,
                      epochs=args.epochs, eval_every=args.epochs, batch_size=args.batch_size,
                      aug_weight=0.5, shadow_rho=0.8, n_aug=1)
    fit(cfg.replace(epochs=1, eval_every=1), splits=splits, progress=False)  # warm-up
    result = fit(cfg, splits=splits, progress=False)
    seconds = statistics.median(row["train_seconds"] for row in result.history)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"seconds_per_epoch": seconds, "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--limit-train", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)  # child mode
    _record.add_save_flag(parser)
    args = parser.parse_args()
    if args.method is not None:
        child(args)
        return
    results: dict[str, list[dict[str, float]]] = {"plain": [], "shadow": []}
    for _ in range(args.reps):
        for method in results:
            cmd = [sys.executable, __file__, "--method", method, "--dataset", args.dataset,
                   "--model", args.model, "--limit-train", str(args.limit_train),
                   "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
                   "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results[method].append(json.loads(out.strip().splitlines()[-1]))
    print(f"dataset={args.dataset} model={args.model} train={args.limit_train} "
          f"batch={args.batch_size} threads={args.threads} reps={args.reps}")
    median, peaks = {}, {}
    for method, runs in results.items():
        median[method] = statistics.median(r["seconds_per_epoch"] for r in runs)
        peak = peaks[method] = max(r["peak_rss_mib"] for r in runs)
        print(f"{method:7s} epoch {median[method]:.3f} s (median of {len(runs)}), "
              f"peak RSS {peak:.0f} MiB")
    ratio = median["shadow"] / median["plain"]
    print(f"ratio shadow/plain epoch time: {ratio:.2f}")
    if args.save:
        target = 2.2 if args.model == "lenet" else 1.8
        _record.save(f"bench_shadow_epoch_{args.model}",
                     {"plain_s": median["plain"], "shadow_s": median["shadow"],
                      "plain_peak_rss_mib": peaks["plain"], "shadow_peak_rss_mib": peaks["shadow"],
                      "dataset": args.dataset, "train": args.limit_train,
                      "threads": args.threads}, ratio, f"<= {target}", ratio <= target)


if __name__ == "__main__":
    main()
