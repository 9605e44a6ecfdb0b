"""CLI command ``shadownets tying``: does an untied denoising autoencoder learn D ≈ c·Eᵀ?

Thin: parse options into a :class:`~shadownets.tying.TyingConfig` (one option per field, its
type, default and help taken from the field by
:func:`shadownets.cli._config_options.config_options`; ``--data`` and ``--hidden`` required),
one :func:`shadownets.tying.run_tying` call, write the tables (CSV, atomically),
a JSON record and the figures into ``--out`` (claimed first with
:func:`shadownets.rundir.claim`), print the headline table.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer

from shadownets.cli._common import handle_errors, print_json, print_table, step_progress
from shadownets.cli._config_options import config_options
from shadownets.tying.config import TyingConfig

__all__ = ["register", "tying_command", "SHOWN_COLUMNS"]

#: Columns printed on the terminal (all of them go to the files).
SHOWN_COLUMNS = ("model", "layer", "n_seeds", "median_cosine", "median_cosine_lo",
                 "median_cosine_hi", "null_median", "c", "residual", "encoder_w_median",
                 "random_w_median", "gain_over_alpha", "oracle_over_alpha", "reconstruction",
                 "denoising")

#: The fields required on this command line (their TyingConfig defaults are the API's).
_DATA_HELP = ("model (the one-layer generative model, W known), model:n=N,m=M,k=K,rho=RHO, or "
              "a data set: digits, fashion-mnist, mnist, cifar10, synthetic, folder:PATH.")
#: What a field means on this command line beyond its TyingConfig comment.
_NOTES = {"noise": "dropout:RHO is rescaled by 1/RHO."}


@handle_errors
@config_options(TyingConfig, exclude=("data", "hidden"), notes=_NOTES)
def tying_command(
    data: str = typer.Option(..., "--data", help=_DATA_HELP),
    hidden: int = typer.Option(..., "--hidden", help="Hidden units M of every layer."),
    config: TyingConfig = None,  # the other TyingConfig options (--noise, --epochs, ...)
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

    config = dataclasses.replace(config, data=data, hidden=hidden)
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
                title=f"weight tying on {headline['data'].iloc[0]}: M={hidden}, "
                      f"depth {config.depth}, noise {result.info['noise']}, "
                      f"{config.epochs} epochs, {config.seeds} seeds")
    typer.echo("median_cosine: median over live units of cos(D[:, i], E[i, :]), mean over "
               f"seeds with its {config.level:.0%} t interval; null_median: the same for random "
               f"pairs; errors: held-out fraction of variance unexplained; wall time "
               f"{wall:.1f} s")
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add ``tying`` to ``app``."""
    app.command("tying")(tying_command)
