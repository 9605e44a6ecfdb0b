"""Shadow-net generation vs the forward pass, VGG-style net, 3x32x32 inputs, batch 64.

Generates from the top convolutional layer (its ReLU output) back to the input, with the
encoder's max-pool switches and ρ = 0.5 dropout masks, and times the forward pass of the
same net up to that layer. Prints both medians and, last, their ratio (generate / forward).

    .venv/bin/python benchmarks/bench_reverse.py [--repeats 15] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from shadownets.reverse import reverse


def vgg(widths=(32, 64, 128)) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for w in widths:
        layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=True),
                   nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        cin = w
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * 4 * 4, 10))


def _median_times(fns, repeats: int, sync) -> list[float]:
    """Median wall time of each function; the functions are interleaved in every repeat so
    that all of them see the same machine load."""
    for fn in fns:
        fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            sync()
            record.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    _record.add_save_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = vgg().to(dev).eval()
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    top = "13"  # ReLU after the last convolution
    trunk = model[:14]
    shadow = reverse(model, x[:1], top, rho=0.5)
    gen = torch.Generator(dev).manual_seed(0)
    with torch.no_grad():
        enc = shadow.encode(x)
        plain = reverse(model, x[:1], top)
        t_fwd, t_gen, t_gen1 = _median_times(
            [lambda: trunk(x),
             lambda: shadow.generate(enc.h, switches=enc.switches, generator=gen),
             lambda: plain.generate(enc.h, switches=enc.switches)], args.repeats, sync)
    print(f"device {dev}, threads {args.threads}, batch {args.batch}, layer {top!r} "
          f"code {tuple(enc.h.shape[1:])}, repeats {args.repeats}")
    print(f"forward to layer        median {t_fwd * 1e3:8.2f} ms")
    print(f"generate (rho=0.5)      median {t_gen * 1e3:8.2f} ms")
    print(f"generate (rho=1)        median {t_gen1 * 1e3:8.2f} ms")
    print(f"ratio generate/forward  {t_gen / t_fwd:.3f}")
    if args.save:
        _record.save("bench_reverse", {"forward_ms": t_fwd * 1e3, "generate_ms": t_gen * 1e3,
                                       "generate_rho1_ms": t_gen1 * 1e3,
                                       "threads": args.threads, "batch": args.batch},
                     t_gen / t_fwd, "<= 1.5", t_gen / t_fwd <= 1.5)


if __name__ == "__main__":
    main()
