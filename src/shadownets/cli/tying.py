"""CLI command ``shadownets tying``: does an untied denoising autoencoder learn D ≈ c·Eᵀ?

Thin: parse options into a :class:`~shadownets.tying.TyingConfig` (the options' defaults are
its fields'), one :func:`shadownets.tying.run_tying` call, write the tables (CSV, atomically),
a JSON record and the figures into ``--out`` (claimed first with
:func:`shadownets.rundir.claim`), print the headline table.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from shadownets.cli._common import handle_errors, print_json, print_table, step_progress
from shadownets.tying.config import TyingConfig

__all__ = ["register", "tying_command", "SHOWN_COLUMNS"]

#: Columns printed on the terminal (all of them go to the files).
SHOWN_COLUMNS = ("model", "layer", "n_seeds", "median_cosine", "median_cosine_lo",
                 "median_cosine_hi", "null_median", "c", "residual", "encoder_w_median",
                 "random_w_median", "gain_over_alpha", "oracle_over_alpha", "reconstruction",
                 "denoising")

_D = TyingConfig()  # the options' defaults


@handle_errors
def tying_command(
    data: str = typer.Option(..., "--data", help="model (the one-layer generative model, "
                             "W known), model:n=N,m=M,k=K,rho=RHO, or a data set: digits, "
                             "fashion-mnist, mnist, cifar10, synthetic, folder:PATH."),
    hidden: int = typer.Option(..., "--hidden", help="Hidden units M of every layer."),
    depth: int = typer.Option(_D.depth, "--depth", help="1, or 2 (a stack trained end to "
                              "end)."),
    noise: str = typer.Option(_D.noise, "--noise", help="Input corruption: dropout:RHO (keep "
                              "probability, rescaled by 1/RHO), gaussian:SIGMA or none."),
    l2: float = typer.Option(_D.l2, "--l2", help="λ of the weight penalty λ(‖E‖² + ‖D‖²)."),
    epochs: int = typer.Option(_D.epochs, "--epochs", help="Passes over the training data."),
    seeds: int = typer.Option(_D.seeds, "--seeds", help="Number of training seeds (--seed, "
                              "--seed + 1, ...)."),
    seed: int = typer.Option(_D.seed, "--seed", help="First seed (model data: the generative "
                             "net of seed s is drawn from s)."),
    lr: float = typer.Option(_D.lr, "--lr", help="Adam learning rate."),
    batch_size: int = typer.Option(_D.batch_size, "--batch-size", help="Samples per step."),
    n_train: int = typer.Option(_D.n_train, "--n-train", help="Training samples (a data set "
                                "gives at most its train split)."),
    n_test: int = typer.Option(_D.n_test, "--n-test", help="Held-out samples."),
    record_every: int = typer.Option(_D.record_every, "--record-every", help="Epochs between "
                                     "alignment recordings."),
    tied: bool = typer.Option(_D.tied, "--tied/--no-tied", help="Also train the tied "
                              "autoencoder (D = Eᵀ) for the error comparison."),
    control: bool = typer.Option(_D.control, "--control/--no-control", help="Also train the "
                                 "linear ℓ2 autoencoder (positive control: cosine → 1)."),
    control_l2: float = typer.Option(_D.control_l2, "--control-l2", help="λ of the linear "
                                     "control."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Data-set cache folder."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the tying run already "
                                   "in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline table as JSON."),
) -> None:
    """Train untied (and tied, and linear) autoencoders; measure how close D comes to c·Eᵀ.

    Writes alignment.csv, units.csv, curves.csv, errors.csv, matching.csv (model data),
    summary.csv, headline.csv, tying.json and the figures alignment.png, histogram.png.
    """
    from shadownets.io import save_dataframe_csv, save_figure, save_json
    from shadownets.rundir import claim
    from shadownets.tying import parse_tying_data, run_tying
    from shadownets.tying.plots import tying_figures

    config = TyingConfig(data=data, hidden=hidden, depth=depth, noise=noise, l2=l2,
                         epochs=epochs, seeds=seeds, seed=seed, lr=lr, batch_size=batch_size,
                         n_train=n_train, n_test=n_test, record_every=record_every, tied=tied,
                         control=control, control_l2=control_l2)
    parse_tying_data(data)  # a bad spec is refused before the folder is claimed
    settings = {"tying": config, "data_dir": str(data_dir) if data_dir else None,
                "figures": figures}
    with claim(out, kind="tying", overwrite=overwrite, resumable=False, config=settings) as run:
        t0 = time.perf_counter()
        with step_progress("tying", enabled=not as_json) as on_step:
            result = run_tying(config, data_dir=data_dir, on_step=on_step)
        wall = time.perf_counter() - t0
        headline = result.headline
        written = [save_dataframe_csv(out / f"{name}.csv", getattr(result, name))
                   for name in ("alignment", "units", "curves", "errors", "matching",
                                "summary")]
        written.append(save_dataframe_csv(out / "headline.csv", headline))
        record = {"data": data, "config": config, "info": result.info, "wall_seconds": wall,
                  "headline": headline.to_dict(orient="records")}
        written.append(save_json(out / "tying.json", record))
        if figures:
            for stem, fig in tying_figures(result).items():
                written.append(save_figure(out / f"{stem}.png", fig))
        run.finish(files=[p.name for p in written])
    if as_json:
        print_json(record)
        return
    print_table(headline[list(SHOWN_COLUMNS)].to_dict(orient="records"),
                title=f"weight tying on {headline['data'].iloc[0]}: M={hidden}, depth {depth}, "
                      f"noise {result.info['noise']}, {epochs} epochs, {seeds} seeds")
    typer.echo("median_cosine: median over live units of cos(D[:, i], E[i, :]), mean over "
               f"seeds with its {config.level:.0%} t interval; null_median: the same for random "
               f"pairs; errors: held-out fraction of variance unexplained; wall time "
               f"{wall:.1f} s")
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add ``tying`` to ``app``."""
    app.command("tying")(tying_command)
