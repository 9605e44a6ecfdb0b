"""Inversion from hidden layers: the one-pass shadow vs rMLE, on a LeNet trained on digits.

The net is ``shadownets train --dataset digits --model lenet --epochs 5`` (seed 0), trained
in-process (or ``--model SPEC``); the inputs are the first ``--n`` digits test images, the
layers every ReLU output. Two figures, each a ratio with its target (issue 12):

1. ``shadow / step``: the wall time per image of one shadow inversion (generate from the
   layer's codes with the encoder's switches, then clip), over that of one rMLE step
   (``f_L`` forward, gradient of the objective in x, one Adam step) on the same batch — the
   median of ``--repeats`` interleaved runs each. Target <= 1.5; the printed ratio is the
   largest over the layers.
2. ``warm / optimize``: the steps ``warm`` (rMLE from the shadow) needs for its mean PSNR
   to reach the mean PSNR ``optimize`` (rMLE from zeros) has after ``--steps`` steps, as a
   fraction of ``--steps`` (recorded every ``--record-every`` steps; inf when never reached).
   Target <= 1/3; the printed ratio is the largest over the layers.

    .venv/bin/python benchmarks/bench_invert.py [--steps 5000] [--n 64] [--threads 1] [--save]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

import _record  # benchmarks/_record.py: this folder is on sys.path when run as a script
from shadownets.invert import InvertConfig, ValueScale, invert
from shadownets.invert.methods import build_shadow, feature_map, objective, shadow_pass
from shadownets.reverse.graph import TracedNet
from shadownets.reverse.shadow import shadow_of


def _model(spec: str | None):
    if spec:
        from shadownets.specs import load_model

        return load_model(spec).eval()
    from shadownets.train import TrainConfig, fit

    return fit(TrainConfig(dataset="digits", model="lenet", epochs=5), progress=False).model


def _median_times(fns, repeats: int) -> list[float]:
    """Median wall time of each function, interleaved in every repeat (same machine load)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            record.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def shadow_vs_step(model, x, scale, aux, layer: str, repeats: int) -> dict[str, float]:
    """Seconds per image of one shadow inversion and of one rMLE step at ``layer``."""
    cfg = InvertConfig(batch_size=x.shape[0])
    net = TracedNet(model, x[:1])
    with torch.no_grad():
        enc = shadow_of(model, net, layer).encode(x)
    shadow = build_shadow(model, net, layer, aux[:cfg.calibrate_inputs], known=True,
                          unpool=cfg.unpool)
    lift = feature_map(net, layer)
    xs = torch.zeros_like(x).requires_grad_(True)
    opt = torch.optim.Adam([xs], lr=cfg.lr, eps=cfg.adam_eps, amsgrad=cfg.amsgrad)

    def step() -> None:  # the inner loop of shadownets.invert.methods.optimise
        value = objective(lift, xs, enc.h, cfg)
        (xs.grad,) = torch.autograd.grad(value.sum(), [xs])
        opt.step()

    def one_pass() -> None:
        shadow_pass(shadow, enc.h, enc.switches, scale, batch_size=x.shape[0])

    t_shadow, t_step = _median_times([one_pass, step], repeats)
    n = x.shape[0]
    return {"shadow_s_per_image": t_shadow / n, "step_s_per_image": t_step / n,
            "ratio": t_shadow / t_step}


def warm_vs_optimize(model, x, y, scale, aux, layer: str, steps: int,
                     record_every: int) -> dict[str, float]:
    """Steps warm needs to reach optimize's final mean PSNR (fraction of ``steps``)."""
    cfg = InvertConfig(steps=steps, record_every=record_every)
    curves = {}
    for method in ("optimize", "warm"):
        result = invert(model, x, layer, config=cfg.replace(method=method), labels=y,
                        aux=aux, scale=scale)
        curves[method] = result.curves.groupby("step")["psnr"].mean()
    target = float(curves["optimize"].iloc[-1])
    reached = curves["warm"][curves["warm"] >= target]
    needed = int(reached.index[0]) if len(reached) else math.inf
    return {"optimize_final_psnr": target, "warm_start_psnr": float(curves["warm"].iloc[0]),
            "warm_final_psnr": float(curves["warm"].iloc[-1]), "warm_steps_needed": needed,
            "fraction": needed / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model spec (default: train the LeNet)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--steps", type=int, default=InvertConfig().steps)
    parser.add_argument("--record-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    _record.add_save_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from shadownets.data import load_dataset
    from shadownets.reverse import list_layers

    torch.manual_seed(0)
    model = _model(args.model)
    d = load_dataset("digits")
    x, y, aux = d.x_test[:args.n], d.y_test[:args.n], d.x_train
    scale = ValueScale(d.mean, d.std)
    layers = [i.name for i in list_layers(model, x[:1]) if i.kind == "ReLU" and i.reversible]
    print(f"LeNet on digits ({'trained 5 epochs' if args.model is None else args.model}), "
          f"{args.n} test images, threads {args.threads}, layers {', '.join(layers)}")

    timing = {layer: shadow_vs_step(model, x, scale, aux, layer, args.repeats)
              for layer in layers}
    for layer, t in timing.items():
        print(f"{layer:8s} shadow {t['shadow_s_per_image'] * 1e6:8.2f} us/image   rMLE step "
              f"{t['step_s_per_image'] * 1e6:8.2f} us/image   ratio {t['ratio']:.3f}")
    worst = max(t["ratio"] for t in timing.values())

    warm = {layer: warm_vs_optimize(model, x, y, scale, aux, layer, args.steps,
                                    args.record_every) for layer in layers}
    for layer, w in warm.items():
        print(f"{layer:8s} optimize final {w['optimize_final_psnr']:6.2f} dB after "
              f"{args.steps} steps; warm starts at {w['warm_start_psnr']:6.2f} dB, reaches it "
              f"after {w['warm_steps_needed']} steps (fraction {w['fraction']:.4f}), ends at "
              f"{w['warm_final_psnr']:6.2f} dB")
    worst_fraction = max(w["fraction"] for w in warm.values())
    print(f"ratio shadow time / rMLE step time (largest over layers)  {worst:.3f}")
    print(f"ratio warm steps / optimize steps (largest over layers)   {worst_fraction:.4f}")
    if args.save:
        common = {"n": args.n, "threads": args.threads, "layers": layers}
        _record.save("bench_invert_shadow_step", {**common, "per_layer": timing}, worst,
                     "<= 1.5", worst <= 1.5)
        _record.save("bench_invert_warm", {**common, "steps": args.steps,
                                           "record_every": args.record_every,
                                           "per_layer": warm},
                     worst_fraction, "<= 1/3", worst_fraction <= 1 / 3)


if __name__ == "__main__":
    main()
