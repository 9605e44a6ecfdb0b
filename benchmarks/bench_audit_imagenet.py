"""Benchmark: audit of a torchvision-layout ImageNet net at 3×224×224, against its forward pass.

Prints the wall time of one forward pass of the net over the audit's inputs (median of 3
runs before and 3 after the audit, after a warm-up), the audit's wall time with its parts
(trained net, null nets, weight statistics), the peak resident memory of the process, and
last the ratio audit / forward.
Targets (issue 11): AlexNet on 64 inputs with 5 + 5 null nets ≤ 200× the forward pass and
peak RSS ≤ 4 GB; ResNet-50: no ratio target, its time and RSS are stated.

Inputs are the bundled photographs (scikit-image) in ten crops each through the ImageNet
preset, repeated to ``--n-inputs`` (random init weights: torchvision's initialisation, seed 0).

    .venv/bin/python benchmarks/bench_audit_imagenet.py [--arch alexnet] [--n-inputs 64]
        [--n-null 5] [--threads 2] [--save]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: KiB


def photo_crops(n: int) -> torch.Tensor:
    """``n`` inputs (n, 3, 224, 224): the report's ten-crop of each bundled photograph
    (:func:`shadownets.report.parts.alexnet.ten_crops`), cycled."""
    from shadownets.data.photos import load_photos
    from shadownets.report.parts.alexnet import ten_crops

    pool = ten_crops(load_photos().images)
    return pool[torch.arange(n) % pool.shape[0]].contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="alexnet")
    parser.add_argument("--n-inputs", type=int, default=64)
    parser.add_argument("--n-null", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-weight-stats", action="store_true")
    _record.add_save_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from shadownets.archs import create_arch
    from shadownets.audit import AuditConfig, run_audit

    torch.manual_seed(0)
    model = create_arch(args.arch).eval()
    x = photo_crops(args.n_inputs)
    def forward_times(k: int) -> list[float]:
        times = []
        with torch.no_grad():
            for _ in range(k):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        return times

    forward_times(1)  # warm-up
    before = forward_times(3)
    cfg = AuditConfig(n_inputs=args.n_inputs, n_null=args.n_null,
                      weight_stats=not args.no_weight_stats)
    t0 = time.perf_counter()
    result = run_audit(model, x, config=cfg)
    total = time.perf_counter() - t0
    times = before + forward_times(3)  # before and after: a shared machine's load drifts
    forward = statistics.median(times)
    t = result.timings
    ratio = total / forward
    rss = _peak_rss_gb()
    print(f"{args.arch}: {x.shape[0]} inputs x {tuple(x.shape[1:])}; layers audited: "
          f"{len(result.table)}; null nets: {args.n_null} x {len(cfg.null_kinds)}; "
          f"threads: {args.threads}")
    print(f"forward pass over the inputs: {forward:.3f} s (median of 3 before and 3 after the "
          f"audit: {', '.join(f'{v:.2f}' for v in times)})")
    print(f"audit: {total:.1f} s (trained {t['trained']:.1f}, null nets {t['nulls']:.1f}, "
          f"weight statistics {t['weights']:.1f}, other {total - sum(t.values()):.1f})")
    print(f"peak RSS: {rss:.2f} GB")
    print("verdicts: " + ", ".join(f"{r.layer} {r.verdict}" for r in result.table.itertuples()))
    target = "<= 200x the forward pass, peak RSS <= 4 GB" if args.arch == "alexnet" else \
        "no target (time and RSS stated)"
    met = ratio <= 200 and rss <= 4 if args.arch == "alexnet" else True
    print(f"audit / forward: {ratio:.0f}x (target {target}: {'met' if met else 'NOT met'})")
    if args.save:
        _record.save(f"bench_audit_{args.arch}",
                     {"forward_s": forward, "audit_s": total, "trained_s": t["trained"],
                      "nulls_s": t["nulls"], "weights_s": t["weights"], "peak_rss_gb": rss,
                      "inputs": int(x.shape[0]), "n_null": args.n_null,
                      "layers": int(len(result.table)), "threads": args.threads},
                     ratio, target, met)


if __name__ == "__main__":
    main()
