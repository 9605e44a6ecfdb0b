"""Benchmark: generating inputs from a deep layer of an ImageNet net vs. the forward pass to it.

Times (median of 5, after a warm-up, no grad) the shadow net's ``generate`` from the layer's
codes down to the 3×224×224 input (max-pool switches, α calibrated, ρ = 1) and the plain
forward pass of the net's modules from the input up to the layer, on the same inputs; prints
both and last the ratio generate / forward. Target (issue 11): AlexNet from conv5
(``features.11``) ≤ 1.5×.

    .venv/bin/python benchmarks/bench_generate_imagenet.py [--arch alexnet]
        [--layer features.11] [--n-inputs 64] [--threads 2] [--save]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from bench_audit_imagenet import photo_crops


def _median_time(fn, reps: int = 5) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="alexnet")
    parser.add_argument("--layer", default="features.11")
    parser.add_argument("--n-inputs", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    _record.add_save_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from shadownets.archs import create_arch
    from shadownets.reverse import reverse

    torch.manual_seed(0)
    model = create_arch(args.arch).eval()
    x = photo_crops(args.n_inputs)
    shadow = reverse(model, x[:1], args.layer, alpha="calibrated").calibrate(x[:32])
    with torch.no_grad():
        enc = shadow.encode(x)
        # the plain forward to the layer: the model's own modules, stopped at the layer
        stop = args.layer
        captured = {}

        def hook(_m, _i, out):
            captured["h"] = out
            raise StopIteration

        handle = model.get_submodule(stop).register_forward_hook(hook)

        def forward_to_layer():
            try:
                model(x)
            except StopIteration:
                pass

        fwd = _median_time(forward_to_layer)
        handle.remove()
        gen = _median_time(lambda: shadow.generate(enc.h, switches=enc.switches))
    ratio = gen / fwd
    print(f"{args.arch} {args.layer}: {x.shape[0]} inputs x {tuple(x.shape[1:])}; code "
          f"{tuple(enc.h.shape[1:])}; threads {args.threads}")
    print(f"forward to the layer: {fwd:.3f} s; generate from it: {gen:.3f} s (medians of 5)")
    met = ratio <= 1.5
    print(f"generate / forward: {ratio:.2f}x (target <= 1.5x: {'met' if met else 'NOT met'})")
    if args.save:
        _record.save(f"bench_generate_{args.arch}",
                     {"forward_to_layer_s": fwd, "generate_s": gen, "layer": args.layer,
                      "inputs": int(x.shape[0]), "threads": args.threads},
                     ratio, "generate / forward to the layer <= 1.5x", met)


if __name__ == "__main__":
    main()
