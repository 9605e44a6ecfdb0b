"""Benchmark: audit of a LeNet-style net on 1000 inputs, all layers.

Prints wall seconds per part (trained net, null nets, weight statistics), the peak resident
memory of the process, and last the share of the time spent on the null nets.

    .venv/bin/python benchmarks/bench_audit.py [--n-inputs 1000] [--n-null 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _inputs(n: int) -> tuple[torch.Tensor, str]:
    try:
        from shadownets.data import load_dataset

        return load_dataset("fashion-mnist", download=False).x_test[:n], "fashion-mnist test"
    except (OSError, ValueError, RuntimeError):  # no local copy: same shape, Gaussian
        return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)), "gaussian"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inputs", type=int, default=1000)
    parser.add_argument("--n-null", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    _record.add_save_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from shadownets.audit import AuditConfig, run_audit
    from shadownets.train.models import create_model

    x, source = _inputs(args.n_inputs)
    torch.manual_seed(0)
    model = create_model("lenet", (1, 28, 28), 10)
    cfg = AuditConfig(n_inputs=args.n_inputs, n_null=args.n_null)
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    result = run_audit(model, x, config=cfg)
    total = time.perf_counter() - t0
    t = result.timings
    print(f"inputs: {x.shape[0]} x {tuple(x.shape[1:])} ({source}); layers: "
          f"{', '.join(result.table['layer'])}; null nets: {args.n_null} x "
          f"{len(cfg.null_kinds)}; bootstrap: {cfg.bootstrap}; threads: {args.threads}")
    print(f"total seconds: {total:.2f}")
    print(f"  trained net reversibility: {t['trained']:.2f} s")
    print(f"  null nets reversibility:   {t['nulls']:.2f} s")
    print(f"  weight statistics:         {t['weights']:.2f} s")
    print(f"  tables/bootstrap/other:    {total - sum(t.values()):.2f} s")
    print(f"peak RSS: {_peak_rss_mb():.0f} MiB (before the audit: {rss0:.0f} MiB)")
    print(f"null-net share of audit time: {t['nulls'] / total:.1%} "
          f"(null / trained reversibility time ratio: {t['nulls'] / t['trained']:.1f}x)")
    if args.save:
        share = t["nulls"] / total
        _record.save("bench_audit", {"total_s": total, "trained_s": t["trained"],
                                     "nulls_s": t["nulls"], "weights_s": t["weights"],
                                     "peak_rss_mib": _peak_rss_mb(), "inputs": int(x.shape[0]),
                                     "source": source, "n_null": args.n_null,
                                     "threads": args.threads},
                     share, "null-net share of the time (no target)", True)


if __name__ == "__main__":
    main()
