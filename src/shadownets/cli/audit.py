"""CLI command ``shadownets audit``: how random-like is a trained net, layer by layer.

Thin: parse options (one per field of :class:`~shadownets.audit.AuditConfig`, its type,
default and help taken from the field by :func:`shadownets.cli._config_options.config_options`),
load the model and the inputs, one :func:`shadownets.audit.run_audit` call, write
``audit.csv`` / ``audit.json`` and the figures, print a summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shadownets.audit.config import AuditConfig
from shadownets.cli._common import fits_model, handle_errors, json_object, print_table
from shadownets.cli._config_options import config_options

__all__ = ["register", "audit_command", "SUMMARY_COLUMNS"]

#: Columns printed on the terminal (all of them go to the files).
SUMMARY_COLUMNS = ("layer", "kind", "active_frac", "rel_err_one", "ratio_one_gaussian",
                   "ratio_one_gaussian_ci_lo", "ratio_one_gaussian_ci_hi",
                   "ratio_one_gaussian_lo", "ratio_one_gaussian_hi", "ratio_one_shuffle",
                   "verdict_gaussian", "verdict_shuffle", "verdict", "to_decide", "mp_ks")


def _load_model(spec: str, kwargs: dict[str, Any], weights: Path | None) -> Any:
    from shadownets.audit.adapters import resolve_timm_spec, resolve_torchvision_spec
    from shadownets.specs import list_spec_prefixes, load_model, register_spec_prefix

    if spec.startswith("zoo:"):
        import shadownets.train  # noqa: F401  (registers the zoo: prefix)
    if spec.startswith("torchvision:") and weights is not None:
        kwargs = {"weights": None, **kwargs}  # the local file replaces the pretrained download
    for prefix, resolver in (("torchvision", resolve_torchvision_spec),
                             ("timm", resolve_timm_spec)):
        if prefix not in list_spec_prefixes():
            register_spec_prefix(prefix, resolver)
    return load_model(spec, kwargs, weights)


#: What a field means on this command line beyond its AuditConfig comment.
_NOTES = {"seed": "Also the init of a model built without --weights."}


@handle_errors
@config_options(AuditConfig, notes=_NOTES)
def audit_command(
    model: str = typer.Option(..., "--model", help="Model spec, e.g. zoo:runs/lenet, "
                              "zoo:lenet, torchvision:alexnet, module.path:factory."),
    model_kwargs: str = typer.Option(None, "--model-kwargs", help="JSON object of model "
                                     "constructor arguments."),
    weights: Path = typer.Option(None, "--weights", help="Weights file (.safetensors or .pt)."),
    data: str = typer.Option(..., "--data", help="Data set name (its test split), photos "
                             "(the photographs bundled with scikit-image) or folder:PATH "
                             "(images in PATH and PATH/<class>/)."),
    preset: str = typer.Option(None, "--preset", help="Image preset for photos and "
                               "folder:PATH: imagenet (resize 256, centre crop 224, ImageNet "
                               "mean/std) or resize (stretch to the model's input shape). "
                               "Default: imagenet for 3x224x224 models (or none stated), "
                               "else resize."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    layers: str = typer.Option(None, "--layers", help="Comma-separated layer names "
                               "(ReLU outputs or Linear/Conv modules); default all."),
    config: AuditConfig = None,  # the AuditConfig options (--n-inputs, --n-null, --seed, ...)
    data_dir: Path = typer.Option(None, "--data-dir", help="Data-set cache folder."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the audit already in "
                                   "--out (otherwise a folder holding a run is refused)."),
) -> None:
    """Audit a net: per-layer reversibility against null nets, and weight statistics.

    --out must be a new or empty folder, or hold an earlier audit to replace with --overwrite.
    """
    import torch

    from shadownets.audit import audit_figures, load_data_spec, run_audit
    from shadownets.io import save_dataframe_csv, save_figure, save_json
    from shadownets.rundir import claim

    seed = config.seed
    with claim(out, kind="audit", overwrite=overwrite, resumable=False, config={
        "model": model, "model_kwargs": json_object("--model-kwargs", model_kwargs),
        "weights": str(weights) if weights else None, "data": data, "preset": preset,
        "data_dir": str(data_dir) if data_dir else None, "layers": layers,
        "audit": config, "figures": figures}) as run:
        torch.manual_seed(seed)  # a spec built without weights gets a reproducible random init
        net = _load_model(model, json_object("--model-kwargs", model_kwargs), weights)
        shape = getattr(net, "input_shape", None)
        x = load_data_spec(data, input_shape=tuple(shape) if shape else None, data_dir=data_dir,
                           preset=preset, limit=config.n_inputs, seed=seed)
        names = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
        with fits_model(x, what=f"data {data!r}"):
            result = run_audit(net, x, layers=names, config=config)
        table = result.table
        save_dataframe_csv(out / "audit.csv", table)
        save_json(out / "audit.json", {"model": model, "data": data, "config": config,
                                       "timings": result.timings,
                                       "rows": table.to_dict(orient="records")})
        written = [out / "audit.csv", out / "audit.json"]
        if figures:
            for stem, fig in audit_figures(result).items():
                written.append(save_figure(out / f"{stem}.png", fig))
        cols = [c for c in SUMMARY_COLUMNS if c in table.columns]
        print_table(table[cols].to_dict(orient="records"), title=f"audit of {model} on {data}")
        typer.echo(f"verdict: the ratio tested against [1/{config.factor}, {config.factor}] "
                   f"(random-like: its confidence interval to the typical null net, ci_lo/ci_hi;"
                   f" worse/better: its prediction interval, lo/hi; {config.level:.0%} shown), "
                   f"Holm across layers x null kinds at {config.significance}; to_decide: null "
                   "nets per kind that would decide (inf: none would)")
        run.finish(files=[p.name for p in written])
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app``."""
    app.command("audit")(audit_command)
