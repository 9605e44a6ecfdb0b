"""Generate + infer throughput against plain torch matmuls of the same shapes.

Ours: ``net.generate(h)`` (W h, scale, ReLU, dropout mask) then ``net.infer(x)`` with the theory
bias (Wᵀ x, bias from ‖x‖, ReLU). Baseline: the two bare products ``h Wᵀ`` and ``x W``.
Target: throughput ratio (baseline time / ours) >= 0.8 at n = 8192, m = 2048, batch 1024.

    .venv/bin/python benchmarks/bench_theory_throughput.py [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from shadownets.theory import NetConfig, RandomLikeNet, resolve_bias


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def interleaved(fns, repeats: int, device: str) -> list[float]:
    """Median seconds of each function, timed alternately so that drift hits all alike."""
    for fn in fns:  # warm-up
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times, strict=True):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            bucket.append(time.perf_counter() - t)
    return [statistics.median(b) for b in times]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=8192)
    p.add_argument("--m", type=int, default=2048)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--device", default="cpu")
    _record.add_save_flag(p)
    a = p.parse_args()
    net = RandomLikeNet(NetConfig((a.n, a.m), k=32, rho=0.5), seed=0, device=a.device)
    gen = torch.Generator(device=a.device).manual_seed(1)
    h = net.sample_hidden(a.batch, generator=gen)
    bias = resolve_bias(net, "theory")
    W = net.layers[0].dense()

    def ours() -> None:
        x = net.generate(h, generator=gen)[0]
        net.infer(x, bias)

    def bare() -> None:
        x = h @ W.T
        _ = x @ W

    t_ours, t_bare = interleaved([ours, bare], a.repeats, a.device)
    samples = a.batch
    print(f"device {a.device}, threads {torch.get_num_threads()}, n={a.n}, m={a.m}, "
          f"batch={a.batch}, median of {a.repeats} interleaved repeats")
    print(f"generate+infer: {t_ours * 1e3:.1f} ms  ({samples / t_ours:,.0f} samples/s)")
    print(f"two bare matmuls: {t_bare * 1e3:.1f} ms  ({samples / t_bare:,.0f} samples/s)")
    print(f"throughput ratio ours/bare (target >= 0.8): {t_bare / t_ours:.3f}")
    if a.save:
        _record.save("bench_theory_throughput",
                     {"ours_ms": t_ours * 1e3, "bare_ms": t_bare * 1e3, "n": a.n, "m": a.m,
                      "batch": a.batch, "threads": torch.get_num_threads(),
                      "repeats": a.repeats}, t_bare / t_ours, ">= 0.8", t_bare / t_ours >= 0.8)


if __name__ == "__main__":
    main()
