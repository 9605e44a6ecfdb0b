"""Sparse random-graph weights at scale: n = 1,000,000, m = 100,000, d = 64.

Draws the graph, generates a batch of 64 and infers it back; prints the time of each step and
the peak resident memory. Target: peak RSS under 4 GB. Last line: peak RSS / 4 GB.

    .venv/bin/python benchmarks/bench_theory_sparse_memory.py [--n N --m M --degree D --batch B]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from shadownets.theory import (
    HiddenPrior,
    NetConfig,
    RandomLikeNet,
    resolve_bias,
    sample_hidden,
    sparse_graph_weights,
)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--m", type=int, default=100_000)
    p.add_argument("--degree", type=int, default=64)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    _record.add_save_flag(p)
    a = p.parse_args()
    print(f"start: peak RSS {peak_rss_gb():.2f} GB")
    times = {}
    t = time.perf_counter()
    W = sparse_graph_weights(a.n, a.m, a.degree, generator=0)
    times["draw_s"] = time.perf_counter() - t
    print(f"draw graph ({a.n}×{a.m}, d={a.degree}, {a.n * a.degree:,} edges): "
          f"{time.perf_counter() - t:.1f} s, peak RSS {peak_rss_gb():.2f} GB")
    net = RandomLikeNet(NetConfig((a.n, a.m), k=a.k, rho=0.5, weights="sparse",
                                  degree=a.degree), weights=[W])
    h = sample_hidden(a.batch, a.m, HiddenPrior(a.k), generator=1)
    t = time.perf_counter()
    x, _ = net.generate(h, generator=2)
    times["generate_s"] = time.perf_counter() - t
    print(f"generate batch {a.batch}: {time.perf_counter() - t:.2f} s, "
          f"peak RSS {peak_rss_gb():.2f} GB")
    t = time.perf_counter()
    W.csr_t  # noqa: B018 -- build the cached transpose (once per net)
    times["transpose_s"] = time.perf_counter() - t
    print(f"build Wᵀ (CSR, once per net): {time.perf_counter() - t:.2f} s, "
          f"peak RSS {peak_rss_gb():.2f} GB")
    t = time.perf_counter()
    est = net.infer(x, resolve_bias(net, "theory"))[-1]
    times["infer_s"] = time.perf_counter() - t
    print(f"infer batch {a.batch}: {time.perf_counter() - t:.2f} s, "
          f"peak RSS {peak_rss_gb():.2f} GB")
    rel = ((est - h).pow(2).sum(1) / h.pow(2).sum(1)).mean()
    print(f"relative squared error (theory bias): {float(rel):.4f}  bound k/(ρn) = "
          f"{a.k / (0.5 * a.n):.4f}")
    print(f"peak RSS / 4 GB target: {peak_rss_gb() / 4:.3f}")
    if a.save:
        _record.save("bench_theory_sparse_memory",
                     {**times, "peak_rss_gb": peak_rss_gb(), "rel_error": float(rel),
                      "n": a.n, "m": a.m, "degree": a.degree, "batch": a.batch},
                     peak_rss_gb() / 4, "<= 1 (peak RSS / 4 GB)", peak_rss_gb() <= 4)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
