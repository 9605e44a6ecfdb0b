"""CLI commands ``shadownets invert`` (one layer, one method) and ``shadownets leakage`` (every
layer, several methods): reconstruct a net's inputs from a hidden layer's activations.

Thin: parse options into an :class:`~shadownets.invert.InvertConfig` (one option per field,
its type, default and help taken from the field by
:func:`shadownets.cli._config_options.config_options`), load the model and the data, one
:func:`shadownets.invert.invert` / :func:`~shadownets.invert.leakage` call, write the tables
(CSV, atomically), a JSON record and the figures into ``--out`` (claimed first with
:func:`shadownets.rundir.claim`), print a summary.

Data: a registered data set gives its test split (the first ``--n`` images, as
:func:`shadownets.data.load_inputs` does), its labels, its train statistics (pixels mapped to
[0, 1] for PSNR/SSIM) and its train split as the attacker's auxiliary data (the shadow is
calibrated on it; ``learned`` is trained on it). ``photos`` and ``folder:PATH`` give images
through their preset (its mean/std), without labels or auxiliary data.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from shadownets.cli._common import (
    fits_model,
    handle_errors,
    json_object,
    print_json,
    print_table,
)
from shadownets.cli._config_options import config_options
from shadownets.invert.config import InvertConfig

__all__ = ["register", "invert_command", "leakage_command", "SUMMARY_COLUMNS"]

#: Columns printed on the terminal (all of them go to the files).
SUMMARY_COLUMNS = ("layer", "method", "switches", "psnr", "psnr_lo", "psnr_hi", "ssim",
                   "ssim_lo", "ssim_hi", "feature_error", "accuracy", "seconds_per_image",
                   "setup_seconds")

#: What a field means on this command line beyond its InvertConfig comment (the options'
#: type, default and help are the fields', see shadownets.cli._config_options).
_NOTES = {
    "switches": "The shadow method reports both; this one is the shadow warm starts from.",
    "calibrate_inputs": "aux: the data set's train split; x: the images inverted.",
    "seed": "Also seeds the model's init when --model is built without --weights.",
}
#: Fields whose comment points into InvertConfig's docstring: their help in full.
_HELPS = {
    "tv_weight": "λ_TV of the normalised objective ‖f_L(x) − h‖²/‖h‖² + λ_TV·TV(x) (ours, "
                 "chosen on digits: see shadownets.invert.InvertConfig).",
}
_THREADS_HELP = ("torch CPU threads (0: torch's default; 1 is fastest for small nets on a busy "
                 "machine).")
_MODEL_HELP = ("Model spec: zoo:runs/NAME (a trained run), zoo:NAME, package.module:factory or "
               "path/to/file.py:factory.")
_DATA_HELP = ("Data set name (its test split; its train split is the attacker's auxiliary "
              "data), photos or folder:PATH (no labels, no auxiliary data).")
_PRESET_HELP = "Image preset for photos and folder:PATH: imagenet or resize."


def _csv(option: str, text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{option} must be a comma-separated list, got {text!r}")
    return items


def _load_data(spec: str, net: Any, *, n: int, preset: str | None,
               data_dir: Path | None) -> tuple[Any, Any, Any, Any]:
    """(x, labels or None, aux or None, ValueScale) for ``--data``."""
    from shadownets.data import load_dataset, load_inputs, parse_data_spec
    from shadownets.data.inputs import subset_indices
    from shadownets.data.presets import resolve_preset
    from shadownets.invert import ValueScale

    if n < 1:
        raise ValueError(f"--n must be a positive number of images, got {n}")
    shape = getattr(net, "input_shape", None)
    shape = tuple(int(s) for s in shape) if shape is not None else None
    parsed = parse_data_spec(spec)
    if parsed.kind == "dataset":
        if preset is not None:
            raise ValueError(f"--preset applies to folder:PATH and photos, not to the data set "
                             f"{spec!r}")
        splits = load_dataset(spec, data_dir=data_dir)
        keep = subset_indices(splits.x_test.shape[0], n, seed=None)  # as load_inputs(limit=n)
        return (splits.x_test[keep], splits.y_test[keep], splits.x_train,
                ValueScale(splits.mean, splits.std, source="data"))
    x = load_inputs(spec, input_shape=shape, preset=preset, data_dir=data_dir, limit=n)
    chosen, channels, _ = resolve_preset(preset, shape)
    mean, std = chosen.normalisation(channels)
    return x, None, None, ValueScale(tuple(mean.flatten().tolist()),
                                     tuple(std.flatten().tolist()), source="preset")


def _set_threads(threads: int) -> None:
    import torch

    if threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), got {threads}")
    if threads:
        torch.set_num_threads(threads)


def _save_reconstructions(path: Path, result: Any) -> Path:
    from safetensors.torch import save_file

    from shadownets.io import atomic_write_with

    tensors = {"originals": result.originals.contiguous().cpu(),
               "reconstructions": result.reconstructions.contiguous().cpu()}
    meta = {"variants": json.dumps([list(v) for v in result.variants])}
    return atomic_write_with(path, lambda p: save_file(tensors, str(p), metadata=meta))


def _print_summary(summary: Any, title: str, as_json: bool, record: dict[str, Any]) -> None:
    if as_json:
        print_json(record)
        return
    cols = [c for c in SUMMARY_COLUMNS if c in summary.columns]
    print_table(summary[cols].to_dict(orient="records"), title=title)


@handle_errors
@config_options(InvertConfig, notes=_NOTES, helps=_HELPS)
def invert_command(
    model: str = typer.Option(..., "--model", help=_MODEL_HELP),
    model_kwargs: str = typer.Option(None, "--model-kwargs", help="JSON object of model "
                                     "constructor arguments."),
    weights: Path = typer.Option(None, "--weights", help="Weights file (.safetensors or .pt)."),
    layer: str = typer.Option(..., "--layer", help="Activation point whose activations are "
                              "inverted (see `shadownets layers`)."),
    data: str = typer.Option(..., "--data", help=_DATA_HELP),
    preset: str = typer.Option(None, "--preset", help=_PRESET_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help="Data-set cache folder."),
    n: int = typer.Option(64, "--n", help="Images inverted (the first ones of --data)."),
    config: InvertConfig = None,  # the InvertConfig options (--method, --steps, --lr, ...)
    threads: int = typer.Option(0, "--threads", help=_THREADS_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the invert run "
                                   "already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Reconstruct inputs from one layer's activations with one method, and score them.

    Writes invert.csv (one row per image), summary.csv, curves.csv (optimisation), invert.json,
    reconstructions.safetensors and the figures grid.png, psnr_time.png.
    """
    import torch

    from shadownets.invert import invert
    from shadownets.invert.plots import invert_figures
    from shadownets.io import save_dataframe_csv, save_figure, save_json
    from shadownets.rundir import claim
    from shadownets.specs import load_model

    method, seed = config.method, config.seed
    _set_threads(threads)
    settings = {"model": model, "model_kwargs": json_object("--model-kwargs", model_kwargs),
                "weights": str(weights) if weights else None, "layer": layer, "data": data,
                "preset": preset, "data_dir": str(data_dir) if data_dir else None, "n": n,
                "invert": config, "figures": figures}
    with claim(out, kind="invert", overwrite=overwrite, resumable=False,
               config=settings) as run:
        t0 = time.perf_counter()
        torch.manual_seed(seed)  # a spec built without weights gets a reproducible init
        net = load_model(model, json_object("--model-kwargs", model_kwargs), weights)
        x, labels, aux, scale = _load_data(data, net, n=n, preset=preset, data_dir=data_dir)
        with fits_model(x, what=f"data {data!r}"):
            result = invert(net, x, layer, config=config, labels=labels, aux=aux, scale=scale,
                            progress=not as_json)
        wall = time.perf_counter() - t0
        summary = result.summary
        written = [save_dataframe_csv(out / "invert.csv", result.table),
                   save_dataframe_csv(out / "summary.csv", summary),
                   save_dataframe_csv(out / "curves.csv", result.curves),
                   _save_reconstructions(out / "reconstructions.safetensors", result)]
        record = {"model": model, "data": data, "layer": layer, "config": config,
                  "info": result.info, "timings": result.timings, "wall_seconds": wall,
                  "summary": summary.to_dict(orient="records")}
        written.append(save_json(out / "invert.json", record))
        if figures:
            for stem, fig in invert_figures(result).items():
                written.append(save_figure(out / f"{stem}.png", fig))
        run.finish(files=[p.name for p in written])
    _print_summary(summary, f"{method} inversion of {model} at {layer} on {data} "
                            f"({result.info['n']} images)", as_json, record)
    if not as_json:
        typer.echo(f"PSNR/SSIM on pixels in [0, 1] ({scale.source} mean/std); accuracy vs "
                   f"{result.info['accuracy_vs']}; shadow calibrated on "
                   f"{result.info['calibrated_on'] or '-'}; wall time {wall:.1f} s")
        typer.echo("wrote " + ", ".join(str(p) for p in written))


@handle_errors
@config_options(InvertConfig, exclude=("method",), notes=_NOTES, helps=_HELPS)
def leakage_command(
    model: str = typer.Option(..., "--model", help=_MODEL_HELP),
    model_kwargs: str = typer.Option(None, "--model-kwargs", help="JSON object of model "
                                     "constructor arguments."),
    weights: Path = typer.Option(None, "--weights", help="Weights file (.safetensors or .pt)."),
    data: str = typer.Option(..., "--data", help=_DATA_HELP),
    preset: str = typer.Option(None, "--preset", help=_PRESET_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help="Data-set cache folder."),
    layers: str = typer.Option(None, "--layers", help="Comma-separated activation points "
                               "(default: every ReLU output)."),
    methods: str = typer.Option("shadow,optimize,warm", "--methods", help="Comma-separated "
                                "methods: shadow, optimize, warm, learned."),
    n: int = typer.Option(64, "--n", help="Images inverted (the first ones of --data)."),
    config: InvertConfig = None,  # the InvertConfig options but --method (--steps, --lr, ...)
    threads: int = typer.Option(0, "--threads", help=_THREADS_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the leakage run "
                                   "already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """The leakage profile of a net: how well every layer's activations give back the input.

    Writes leakage.csv (layer x method: PSNR, SSIM, seconds/image with t intervals at
    --level), per_image.csv, curves.csv, leakage.json and the figures leakage.png,
    psnr_time.png.
    """
    import torch

    from shadownets.invert import leakage
    from shadownets.invert.plots import leakage_figures
    from shadownets.io import save_dataframe_csv, save_figure, save_json
    from shadownets.rundir import claim
    from shadownets.specs import load_model

    seed = config.seed
    method_list = _csv("--methods", methods)
    layer_list = _csv("--layers", layers)
    _set_threads(threads)
    settings = {"model": model, "model_kwargs": json_object("--model-kwargs", model_kwargs),
                "weights": str(weights) if weights else None, "data": data, "preset": preset,
                "data_dir": str(data_dir) if data_dir else None, "n": n, "layers": layer_list,
                "methods": method_list, "invert": config, "figures": figures}
    with claim(out, kind="leakage", overwrite=overwrite, resumable=False,
               config=settings) as run:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        net = load_model(model, json_object("--model-kwargs", model_kwargs), weights)
        x, labels, aux, scale = _load_data(data, net, n=n, preset=preset, data_dir=data_dir)
        with fits_model(x, what=f"data {data!r}"):
            result = leakage(net, x, layers=layer_list, methods=method_list, config=config,
                             labels=labels, aux=aux, scale=scale, progress=not as_json)
        wall = time.perf_counter() - t0
        written = [save_dataframe_csv(out / "leakage.csv", result.table),
                   save_dataframe_csv(out / "per_image.csv", result.per_image),
                   save_dataframe_csv(out / "curves.csv", result.curves)]
        record = {"model": model, "data": data, "layers": list(result.layers),
                  "config": config, "info": result.info, "timings": result.timings,
                  "wall_seconds": wall, "rows": result.table.to_dict(orient="records")}
        written.append(save_json(out / "leakage.json", record))
        if figures:
            for stem, fig in leakage_figures(result).items():
                written.append(save_figure(out / f"{stem}.png", fig))
        run.finish(files=[p.name for p in written])
    _print_summary(result.table, f"leakage of {model} on {data} ({result.info['n']} images, "
                                 f"{config.steps} steps)", as_json, record)
    if not as_json:
        typer.echo(f"PSNR/SSIM on pixels in [0, 1] ({scale.source} mean/std), "
                   f"{config.level:.0%} t intervals; "
                   f"SSIM < 0.3: unrecognisable; accuracy vs {result.info['accuracy_vs']}; "
                   f"shadow calibrated on {result.info['calibrated_on'] or '-'}; wall time "
                   f"{wall:.1f} s")
        typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add ``invert`` and ``leakage`` to ``app``."""
    app.command("invert")(invert_command)
    app.command("leakage")(leakage_command)
