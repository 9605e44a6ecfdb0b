"""CLI commands of the theory module: recover, sweep, baselines, identities."""

from __future__ import annotations

from pathlib import Path

import typer

from shadownets.cli._common import handle_errors, print_json, print_table, step_progress

__all__ = ["register"]

_DTYPES = ("float32", "float64")


def _parse_bias(text: str) -> str | float:
    from shadownets.theory import BIAS_RULES

    if text in BIAS_RULES:
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--bias must be one of {', '.join(BIAS_RULES)} or a number, "
                         f"got {text!r}") from None


def _widths(n: int, m: int, depth: int | None, widths: str | None) -> tuple[int, ...]:
    if widths is not None and depth is not None:
        raise ValueError("give either --depth or --widths, not both")
    if widths:
        try:
            inner = tuple(int(w) for w in widths.split(",") if w.strip())
        except ValueError:
            raise ValueError(f"--widths must be comma-separated integers, got {widths!r}") from None
        return (n, *inner, m)
    depth = 1 if depth is None else depth
    if depth < 1:
        raise ValueError(f"--depth must be >= 1, got {depth}")
    return (n,) * depth + (m,)


def _torch_device(name: str):
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    return device


def _torch_dtype(name: str):
    import torch

    if name not in _DTYPES:
        raise ValueError(f"--dtype must be one of {_DTYPES}, got {name!r}")
    return getattr(torch, name)


@handle_errors
def recover(
    n: int = typer.Option(..., help="Observed units n (width of x)."),
    m: int = typer.Option(..., help="Top hidden units m."),
    k: int = typer.Option(..., help="Non-zeros of the top hidden code, 1 <= k <= m."),
    rho: float = typer.Option(0.5, help="Dropout keep probability ρ in (0, 1], every layer."),
    depth: int = typer.Option(None, help="Number of layers (intermediate widths = n)."),
    widths: str = typer.Option(None, help="Intermediate widths W1,W2,... between n and m."),
    weights: str = typer.Option("gaussian", help="Weight family: gaussian | sparse."),
    degree: int = typer.Option(None, help="Sparse family: hidden neighbours per observed unit."),
    bias: str = typer.Option("theory", help="none | theory | calibrated | oracle | a number."),
    batch: int = typer.Option(256, help="Samples."),
    seed: int = typer.Option(0, help="Seed (net: seed, samples: seed+1, calibration: seed+2)."),
    dtype: str = typer.Option("float32", help="float32 | float64."),
    device: str = typer.Option("cpu", help="cpu | cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Sample the generative model, infer every layer feed-forward, print per-layer errors."""
    from shadownets.theory import NetConfig, run_recovery

    if degree is not None and weights != "sparse":
        raise ValueError(f"--degree applies to --weights sparse only, got --weights {weights}; "
                         "drop --degree or add --weights sparse")
    cfg = NetConfig(_widths(n, m, depth, widths), k=k, rho=rho, weights=weights, degree=degree)
    table, _ = run_recovery(cfg, batch=batch, bias=_parse_bias(bias), seed=seed,
                            dtype=_torch_dtype(dtype), device=_torch_device(device))
    rows = table.to_dict(orient="records")
    if json_out:
        top = rows[-1]
        print_json({"rel_error_sq": top["rel_error_sq"], "bound": top["bound"],
                    "support_f1": top["support_f1"], "in_regime": top["in_regime"],
                    "config": {"widths": cfg.widths, "k": k, "rho": rho, "weights": weights,
                               "degree": degree, "bias": bias, "batch": batch, "seed": seed},
                    "layers": rows})
    else:
        shown = ("layer", "n_in", "width", "k", "rho", "bound", "in_regime", "bias_c",
                 "rel_error_sq", "rel_error_sq_std", "linf_error", "precision", "recall",
                 "support_f1")
        print_table([{c: r[c] for c in shown} for r in rows],
                    title=f"recovery, widths {cfg.widths} (layer 1 = first hidden)")


@handle_errors
def sweep(
    out: Path = typer.Option(..., help="Output folder (results.csv, recovery.png, summary.json, "
                                       "run.json)."),
    quick: bool = typer.Option(False, "--quick", help="The quick grid (1-3 minutes on 2 cores)."),
    full: bool = typer.Option(False, "--full", help="The full grid (the default; about 4 "
                                                    "minutes on 2 cores)."),
    resume: bool = typer.Option(False, "--resume", help="Reuse the sweep in --out if it has the "
                                                        "same grid and code: a finished one is "
                                                        "left as it is, an unfinished one is "
                                                        "run again."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the sweep in --out."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Sweep n, m, k, ρ, weight families and bias rules; fit the error law; plot it.

    The folder is claimed first (shadownets.rundir.claim, kind "sweep", the grid as settings):
    a folder holding another run or other files is refused, nothing in it touched.
    Depth has its own experiment: `shadownets reproduce --part depth`.
    """
    import json
    from dataclasses import asdict

    from shadownets import rundir
    from shadownets.io import atomic_write_bytes
    from shadownets.theory.sweep import FULL_GRID, QUICK_GRID, sweep_to_folder

    if quick and full:
        raise ValueError("give at most one of --quick and --full")
    grid = QUICK_GRID if quick else FULL_GRID
    before = rundir.read_run(out) if out.is_dir() else None
    record = out / rundir.RUN_FILE
    record_bytes = record.read_bytes() if before is not None else None
    claim = rundir.claim(out, kind="sweep", config=asdict(grid), resume=resume,
                         overwrite=overwrite)
    summary_file = out / "summary.json"
    if (claim.resumed and before is not None and before.get("status") == "finished"
            and summary_file.is_file()):
        atomic_write_bytes(record, record_bytes)  # left as it was: finished, same record
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        typer.echo(f"--resume: {out} holds this sweep, finished; nothing was run", err=True)
    else:
        with claim, step_progress("sweep") as on_step:  # a failure puts a replaced sweep back
            summary = sweep_to_folder(grid, out, on_step=on_step)
            claim.finish(n_rows=summary["n_rows"], slope=summary["slope"])
    if json_out:
        print_json(summary)
    else:
        fit = summary["fit"]
        print_table([{k: fit[k] for k in ("bias", "n_points", "slope", "slope_lo", "slope_hi",
                                         "constant", "r2", "slope_log", "r2_log")}],
                    title=f"fitted law (slope with its {fit['level']:.0%} t interval)")
        typer.echo(f"table:  {summary['files']['results']}")
        typer.echo(f"figure: {summary['files']['figure']}")


@handle_errors
def baselines(
    n: int = typer.Option(..., help="Observed units n."),
    m: int = typer.Option(..., help="Hidden units m."),
    k: int = typer.Option(..., help="Non-zeros of h."),
    rho: float = typer.Option(0.5, help="Keep probability ρ."),
    batch: int = typer.Option(32, help="Samples (the solvers run one sample at a time)."),
    bias: str = typer.Option("calibrated", help="Bias rule of the feed-forward row."),
    seed: int = typer.Option(0, help="Seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON rows."),
) -> None:
    """Feed-forward against NNLS, positive Lasso and OMP on the same instances."""
    from shadownets.theory import NetConfig
    from shadownets.theory.baselines import compare_baselines

    table = compare_baselines(NetConfig((n, m), k=k, rho=rho), batch=batch,
                              bias=_parse_bias(bias), seed=seed)
    rows = table.to_dict(orient="records")
    if json_out:
        print_json({"rows": rows})
    else:
        print_table(rows, title=f"recovery of h from x: n={n}, m={m}, k={k}, ρ={rho}")


@handle_errors
def identities(
    seed: int = typer.Option(0, help="Seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON rows."),
) -> None:
    """Monte-Carlo check of E[w·ReLU(wh+ξ)] = h/2, E[Wᵀx] = h and E‖x‖² = 2‖h‖²/(ρn)."""
    from shadownets.theory.identities import identity_table

    rows = identity_table(seed=seed).to_dict(orient="records")
    if json_out:
        print_json({"rows": rows})
    else:
        print_table(rows, title="identities behind α = 2/(ρn)")


def register(app: typer.Typer) -> None:
    """Add the theory commands to ``app``."""
    for func in (recover, sweep, baselines, identities):
        app.command(func.__name__)(func)
