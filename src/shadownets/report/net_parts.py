"""Report parts on trained nets: the random-like audit and the shadow images."""

from __future__ import annotations

import pandas as pd
import torch

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, PartResult, judge, register_part
from shadownets.report.nets import ensure_nets
from shadownets.report.plots import plot_audit_ratios, plot_shadow_rows

__all__: list[str] = []

_AUDIT_COLUMNS = ["net", "state", "layer", "kind", "active_frac", "rel_err_one",
                  "rel_err_one_gaussian", "ratio_one_gaussian", "ratio_one_gaussian_lo",
                  "ratio_one_gaussian_hi", "ratio_one_shuffle", "rel_err_input", "mp_ks",
                  "mp_ks_gaussian", "verdict"]


@register_part("audit", "Random-like hypothesis: trained nets audited against random nulls",
               order=70)
def audit_part(ctx: Context) -> PartResult:
    from shadownets.audit import AuditConfig, audit

    folder = ctx.part_dir("audit")
    nets = ensure_nets(ctx)
    cfg = AuditConfig(n_inputs=ctx.pick(64, 256, 1000), n_null=ctx.pick(2, 5, 10),
                      bootstrap=ctx.pick(100, 1000, 2000), seed=ctx.seed,
                      weight_stats=ctx.scale != "tiny")
    frames = []
    for net in nets:
        for state, model in (("trained", net.trained), ("random init", net.init)):
            table = audit(model, net.data.x_test, config=cfg)
            table.insert(0, "state", state)
            table.insert(0, "net", net.spec.name)
            frames.append(table)
    df = pd.concat(frames, ignore_index=True)
    save_dataframe_csv(folder / "audit.csv", df)
    summary = df[[c for c in _AUDIT_COLUMNS if c in df.columns]]
    save_dataframe_csv(folder / "summary.csv", summary)
    plot_audit_ratios(df, folder / "audit.png")
    share = df.groupby("state")["random_like"].mean()
    trained, init = float(share.get("trained", 0.0)), float(share.get("random init", 0.0))
    worse = df[(df["state"] == "trained") & (df["verdict"] == "worse than random")]
    return PartResult(
        name="audit", title="",
        verdict=judge(trained >= 0.8 and init >= 0.8, trained >= 0.5 and init >= 0.8),
        claim="Trained nets are random-like: run backwards (transposed weights) and forwards "
              "again, each layer recovers its hidden code about as well as random nets of the "
              "same architecture do (the paper tests this on AlexNet).",
        evidence=f"{trained:.0%} of trained layers audit as random-like (error within the band "
                 f"[1/1.5, 1.5] × the null nets', by a 95% prediction interval), against "
                 f"{init:.0%} of random-init layers (the sanity check); layers worse than "
                 f"random: {', '.join(worse['net'] + ' ' + worse['layer']) or 'none'}. Holds "
                 "if ≥ 80% of trained layers are random-like, partly if ≥ 50%.",
        numbers={"trained_random_like": trained, "init_random_like": init,
                 "n_layers": int((df["state"] == "trained").sum())},
        tables=[{"title": "Audit per layer: error one layer down, ratio to Gaussian and "
                          "shuffled null nets, Marchenko–Pastur KS distance, verdict",
                 "path": "summary.csv"},
                {"title": "Nets (trained by the report)", "path": "../nets/nets.csv"}],
        figures=[{"title": "Error ratio against Gaussian null nets, per layer",
                  "path": "audit.png"}],
        notes=["Full table with all columns (bootstrap intervals, weight statistics, the "
               "theory-bias and all-the-way-down settings): audit/audit.csv. The trained nets' "
               "spectra are far from Marchenko–Pastur (mp_ks) even where their reversibility "
               "is random-like: the property the theory needs is not the spectrum."],
    )


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


@register_part("shadows", "Shadow images: inputs generated from every layer", order=80)
def shadows_part(ctx: Context) -> PartResult:
    from shadownets.reverse.samples import shadow_samples
    from shadownets.train import hidden_layer_names

    folder = ctx.part_dir("shadows")
    n_show, n_eval = 8, ctx.pick(64, 256, 1000)
    rows, figures = [], []
    for net in ensure_nets(ctx):
        x = net.data.x_test[:n_eval]
        grid = [("original", net.data.raw(x[:n_show]))]
        for state, model in (("trained", net.trained), ("random init", net.init)):
            for layer in hidden_layer_names(model):
                s = shadow_samples(model, x, layer, alpha="calibrated", rho=1.0,
                                   seed=ctx.seed)
                cos = _cosine(s.shadows, x)
                rows.append({"net": net.spec.name, "state": state, "layer": layer,
                             "cosine_mean": float(cos.mean()), "cosine_std": float(cos.std()),
                             "n_inputs": len(x)})
                grid.append((f"{state}\n{layer}", net.data.raw(s.shadows[:n_show])))
        path = f"{net.spec.name}.png"
        plot_shadow_rows(grid, folder / path, f"{net.spec.name}: originals and their shadows")
        figures.append({"title": f"{net.spec.name}: shadows from each hidden layer, trained "
                                 "and random-init", "path": path})
    df = pd.DataFrame(rows)
    save_dataframe_csv(folder / "shadows.csv", df)
    wide = df.pivot_table(index=["net", "layer"], columns="state", values="cosine_mean")
    wins = float((wide["trained"] > wide["random init"]).mean())
    return PartResult(
        name="shadows", title="",
        verdict=judge(wins >= 0.8, wins >= 0.5),
        claim="Training makes the shadow distribution p(x | h) more like the real inputs: the "
              "shadow of a real input's code resembles the input more for a trained net than "
              "for a random one.",
        evidence=f"the trained net's shadows are closer (cosine to the original input) than the "
                 f"random-init net's at {wins:.0%} of {len(wide)} (net, layer) pairs; mean "
                 f"cosine {wide['trained'].mean():.3f} trained vs "
                 f"{wide['random init'].mean():.3f} random. Holds if ≥ 80%.",
        numbers={"trained_closer": wins, "cosine_trained": float(wide["trained"].mean()),
                 "cosine_init": float(wide["random init"].mean())},
        tables=[{"title": "Cosine between inputs and their shadows (α calibrated, no dropout)",
                 "path": "shadows.csv"}],
        figures=figures,
    )
