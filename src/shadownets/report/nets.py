"""Trained nets and their random-init twins, shared by the report's audit and shadow parts.

Each net is trained once with :func:`shadownets.train.fit` into ``OUT/nets/NAME`` (resumed,
so a finished run is reused; a run made by other code is trained again) and its twin is the
same architecture freshly initialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from shadownets.data import DataSplits, load_dataset
from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, reuse_mode

__all__ = ["NetSpec", "TrainedNet", "net_specs", "ensure_nets"]


@dataclass(frozen=True)
class NetSpec:
    """One net of the report: what to train and how long."""

    name: str  # folder name under OUT/nets
    dataset: str  # shadownets.data name
    model: str  # shadownets.train zoo name
    n_labels: int | None  # labeled training examples (None: all)
    epochs: int

    def command(self, out: Path, seed: int) -> str:
        labels = "all" if self.n_labels is None else str(self.n_labels)
        return (f"shadownets train --dataset {self.dataset} --model {self.model} --labels "
                f"{labels} --epochs {self.epochs} --seed {seed} --out {out}")


@dataclass(frozen=True, eq=False)
class TrainedNet:
    spec: NetSpec
    trained: nn.Module  # eval mode
    init: nn.Module  # same architecture, random init (eval mode)
    data: DataSplits
    test_error: float


def _fashion_available() -> bool:
    try:
        load_dataset("fashion-mnist", download=False, limit_train=10)
    except (OSError, ValueError):
        return False
    return True


def net_specs(ctx: Context) -> list[NetSpec]:
    """The nets for this scale (Fashion-MNIST ones only when its files are on the machine)."""
    digits = ctx.pick(
        [NetSpec("digits-mlp", "digits", "mlp", None, 5)],
        [NetSpec("digits-mlp", "digits", "mlp", None, 30),
         NetSpec("digits-lenet", "digits", "lenet", None, 30)],
        [NetSpec("digits-mlp", "digits", "mlp", None, 60),
         NetSpec("digits-lenet", "digits", "lenet", None, 60)],
    )
    fashion = ctx.pick(
        [NetSpec("fashion-lenet", "fashion-mnist", "lenet", 1000, 2)],
        [NetSpec("fashion-mlp", "fashion-mnist", "mlp", 10000, 5),
         NetSpec("fashion-lenet", "fashion-mnist", "lenet", 10000, 5)],
        [NetSpec("fashion-mlp", "fashion-mnist", "mlp", None, 15),
         NetSpec("fashion-lenet", "fashion-mnist", "lenet", None, 15)],
    )
    return digits + (fashion if _fashion_available() else [])


def ensure_nets(ctx: Context) -> list[TrainedNet]:
    """Train (or reuse) every net of :func:`net_specs`; write ``OUT/nets/nets.csv``."""
    from shadownets.progress import Progress
    from shadownets.train import TrainConfig, create_model, fit, load_run_model

    nets, rows = [], []
    specs = net_specs(ctx)
    bar = Progress(len(specs), label="nets", unit="nets trained", enabled=ctx.progress,
                   every=0.0)
    for spec in specs:
        folder = Path(ctx.out) / "nets" / spec.name
        data = load_dataset(spec.dataset, seed=ctx.seed)
        cfg = TrainConfig(dataset=spec.dataset, model=spec.model, n_labels=spec.n_labels,
                          epochs=spec.epochs, seed=ctx.seed, data_seed=ctx.seed)
        result = fit(cfg, splits=data, out_dir=folder, **reuse_mode(folder), device="cpu",
                     progress=False)
        trained = load_run_model(folder).eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed + 12345)
            init = create_model(spec.model, data.input_shape, data.num_classes).eval()
        error = float(result.final["test_error"])
        nets.append(TrainedNet(spec, trained, init, data, error))
        rows.append({"net": spec.name, "dataset": spec.dataset, "model": spec.model,
                     "labels": spec.n_labels or len(data.y_train), "epochs": spec.epochs,
                     "test_error": error,
                     "command": spec.command(folder, ctx.seed)})
        bar.advance()
    save_dataframe_csv(Path(ctx.out) / "nets" / "nets.csv", pd.DataFrame(rows))
    return nets
