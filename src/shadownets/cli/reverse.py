"""CLI commands of the reverse module: ``generate`` (image grid of shadows) and ``layers``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from shadownets.cli._common import (
    fits_model,
    handle_errors,
    json_object,
    print_json,
    print_table,
)

__all__ = ["register"]

_MODEL_HELP = "Model spec: package.module:factory, path/to/file.py:factory or zoo:NAME."
_DATA_HELP = ("Data set name (its test split, see shadownets.data), photos (the photographs "
              "bundled with scikit-image) or folder:PATH (images in PATH and PATH/<class>/).")
_PRESET_HELP = ("Image preset for photos and folder:PATH: imagenet (resize 256, centre crop "
                "224, ImageNet mean/std) or resize (stretch to the model's input shape). "
                "Default: imagenet for 3x224x224 models (or none stated), else resize.")


def _parse_alpha(text: str) -> str | float:
    if text in ("theory", "calibrated"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"--alpha: expected theory, calibrated or a number, got {text!r}") from None


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"--input-shape: expected positive integers like 3,32,32, got {text!r}")
    return shape


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an --out that is a folder, has no image format, or exists."""
    from matplotlib.figure import Figure

    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give an image file name such as grid.png")
    formats = Figure().canvas.get_supported_filetypes()
    suffix = out.suffix.lstrip(".").lower()
    if suffix and suffix not in formats:  # no suffix: png
        raise ValueError(f"--out {out}: expected an image file ending in one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    if os.path.lexists(out) and not overwrite:
        raise ValueError(f"--out {out} exists; use --overwrite to replace it, or another name "
                         "(it was left as it is)")


@handle_errors
def generate(
    model: str = typer.Option(..., help=_MODEL_HELP),
    model_kwargs: str = typer.Option(None, help="Factory keyword arguments as a JSON object."),
    weights: Path = typer.Option(None, help=".safetensors or torch state dict / checkpoint."),
    layer: str = typer.Option(..., help="Activation point of the codes (see `layers`)."),
    data: str = typer.Option(..., help=_DATA_HELP),
    preset: str = typer.Option(None, help=_PRESET_HELP),
    data_dir: Path = typer.Option(None, help="Data-set cache folder (default: the cache)."),
    n: int = typer.Option(8, help="Number of images (the first ones; photos has 5)."),
    rho: float = typer.Option(1.0, help="Dropout keep probability ρ in (0, 1]."),
    alpha: str = typer.Option("theory", help="theory | calibrated | a number."),
    unpool: str = typer.Option(None, help="switches | spread | random | nearest (default: "
                                           "switches; nearest with --from-codes)."),
    seed: int = typer.Option(0, help="Seed of masks, random unpooling and sampled codes."),
    from_codes: bool = typer.Option(False, "--from-codes",
                                    help="Generate from sampled sparse codes, not real inputs."),
    out: Path = typer.Option(..., help="Output image (png, pdf, svg)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Write an image grid: test images beside their shadows (or shadows of sampled codes).

    --data photos or folder:PATH: images of the model's input_shape (else 3x224x224), by --preset.

    Grayscale images are replicated to RGB for a 3-channel model, colour ones made luma for 1.

    An existing --out is refused (left as it is) unless --overwrite; the write is atomic.
    """
    from shadownets.data import load_inputs
    from shadownets.io import save_figure
    from shadownets.reverse.figures import shadow_grid
    from shadownets.reverse.samples import shadow_samples
    from shadownets.specs import load_model

    if n < 1:
        raise ValueError(f"--n: expected a positive number of images, got {n}")
    if from_codes and unpool == "switches":
        raise ValueError("--unpool switches needs the switches of real inputs, which "
                         "--from-codes does not have; use spread, random or nearest")
    unpool = unpool or ("nearest" if from_codes else "switches")
    _check_out(out, overwrite)
    net = load_model(model, json_object("--model-kwargs", model_kwargs), weights)
    shape = getattr(net, "input_shape", None)
    x = load_inputs(data, input_shape=tuple(shape) if shape is not None else None,
                    preset=preset, data_dir=data_dir, limit=n)
    with fits_model(x, what=f"data {data!r}"):
        samples = shadow_samples(net, x, layer, rho=rho, alpha=_parse_alpha(alpha),
                                 unpool=unpool, seed=seed, from_codes=from_codes)
    save_figure(out, shadow_grid(samples), replace=overwrite)
    summary = {"out": str(out), "layer": samples.layer, "n": int(x.shape[0]),
               "alphas": samples.alphas, "rhos": samples.rhos, "from_codes": from_codes}
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"wrote {out} ({x.shape[0]} images, layer {samples.layer!r}, "
                   f"alphas {', '.join(f'{a:.4g}' for a in samples.alphas)})")


@handle_errors
def layers(
    model: str = typer.Option(..., help=_MODEL_HELP),
    model_kwargs: str = typer.Option(None, help="Factory keyword arguments as a JSON object."),
    weights: Path = typer.Option(None, help=".safetensors or torch state dict / checkpoint."),
    input_shape: str = typer.Option(None, help="Per-sample input shape, e.g. 3,32,32 "
                                               "(default: the model's input_shape attribute)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the activation points usable as --layer, in forward order, with shapes."""
    import torch

    from shadownets.reverse import list_layers
    from shadownets.specs import load_model

    net = load_model(model, json_object("--model-kwargs", model_kwargs), weights)
    if input_shape is not None:
        shape = _parse_shape(input_shape)
    elif getattr(net, "input_shape", None) is not None:
        shape = tuple(int(s) for s in net.input_shape)
    else:
        raise ValueError("--input-shape: required for a model without an input_shape attribute")
    probe = torch.zeros(1, *shape)
    with fits_model(probe, what="input (--input-shape)"):
        infos = list_layers(net, probe)
    rows = [{"name": i.name, "kind": i.kind, "shape": "x".join(map(str, i.shape)),
             "reversible": i.reversible} for i in infos]
    if json_out:
        print_json([{"name": i.name, "kind": i.kind, "shape": list(i.shape),
                     "reversible": i.reversible} for i in infos])
    else:
        print_table(rows, title=f"activation points of {model}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("generate")(generate)
    app.command("layers")(layers)
