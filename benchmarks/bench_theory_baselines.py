"""Feed-forward inference against the solvers a user would otherwise pick (same instances).

Prints error and time per sample of every method, then the speed ratio of feed-forward over the
fastest baseline (target >= 100).

    .venv/bin/python benchmarks/bench_theory_baselines.py [--n 2000 --m 1000 --k 20 --batch 32]
"""

from __future__ import annotations

import argparse

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from shadownets.theory import NetConfig
from shadownets.theory.baselines import compare_baselines


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--rho", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=32)
    _record.add_save_flag(p)
    a = p.parse_args()
    df = compare_baselines(NetConfig((a.n, a.m), k=a.k, rho=a.rho), batch=a.batch)
    print(f"n={a.n}, m={a.m}, k={a.k}, rho={a.rho}, {a.batch} samples, feed-forward bias "
          "'calibrated'")
    print(df.to_string(index=False))
    ff = df.set_index("method").loc["feedforward", "seconds_per_sample"]
    others = df[df["method"] != "feedforward"]
    fastest = others.loc[others["seconds_per_sample"].idxmin()]
    ratio = float(fastest["seconds_per_sample"] / ff)
    print(f"speed ratio feedforward / fastest baseline ({fastest['method']}), target >= 100: "
          f"{ratio:.0f}")
    if a.save:
        _record.save("bench_theory_baselines",
                     {"feedforward_ms": float(ff) * 1e3, "fastest": str(fastest["method"]),
                      "fastest_ms": float(fastest["seconds_per_sample"]) * 1e3, "n": a.n,
                      "m": a.m, "k": a.k, "batch": a.batch}, ratio, ">= 100", ratio >= 100)


if __name__ == "__main__":
    main()
