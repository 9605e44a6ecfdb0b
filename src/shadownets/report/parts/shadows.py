"""Part: shadow images — does training bring a real input's shadow closer to the input?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.report.nets import ensure_nets
from shadownets.report.plots import plot_shadow_rows
from shadownets.stats import decide_regions, interval, region_tests, t_estimate

__all__ = ["ShadowsRule", "RULE", "judge", "pair_tests", "COSINE_COLUMNS"]

#: Columns of ``cosines.csv``: one row per (net, layer, input), both states on the same input.
COSINE_COLUMNS = ["net", "layer", "input", "cos_trained", "cos_init", "diff"]


@dataclass(frozen=True)
class ShadowsRule:
    """Per (net, layer) pair, the per-input paired difference of cosine(shadow, input),
    trained − random init on the same inputs, is a one-sample t estimate tested against
    ±``margin`` (one-sided above / below), Holm across the pairs."""

    margin: float = 0.02  # smallest cosine difference that matters
    alpha: float = 0.05  # family-wise error rate across the pairs (Holm)
    holds_share: float = 0.75  # pairs shown closer (difference > +margin) for "holds"
    refute_share: float = 0.25  # pairs shown farther or within ±margin (no effect) that refute

    def text(self) -> str:
        return (f"per (net, layer), the paired per-input difference of cosine(shadow, input), "
                f"trained − random init, is tested against ±{self.margin} (t, Holm across "
                f"pairs at α = {self.alpha}). Holds if it is shown above +{self.margin} at "
                f"≥ {self.holds_share:.0%} of the pairs and below −{self.margin} at none; "
                f"does not hold if shown below −{self.margin} or shown within ±{self.margin} "
                f"(no difference that matters) at ≥ {self.refute_share:.0%} of the pairs; "
                f"undetermined otherwise.")


RULE = ShadowsRule()


def pair_tests(cosines: pd.DataFrame, rule: ShadowsRule = RULE) -> pd.DataFrame:
    """One row per (net, layer): ``mean``, ``se``, ``df``, ``n``, ``lo``/``hi`` (95%) of the
    paired difference, Holm-adjusted ``p_above`` / ``p_below`` / ``p_inside`` and the
    ``outcome`` ("closer", "farther", "within margin" or "undetermined")."""
    rows = []
    for (net, layer), g in cosines.groupby(["net", "layer"], sort=False):
        est = t_estimate(g["diff"].to_numpy(float))
        lo, hi = interval(est, 0.95)
        rows.append({"net": net, "layer": layer, "mean": est.mean, "se": est.se,
                     "df": est.df, "n": est.n, "lo": lo, "hi": hi,
                     **region_tests(est, -rule.margin, rule.margin)})
    out = pd.DataFrame(rows, columns=["net", "layer", "mean", "se", "df", "n", "lo", "hi",
                                      "p_inside", "p_above", "p_below"])
    decisions, adj = decide_regions(out.to_dict("records"), rule.alpha)
    for key in ("p_inside", "p_above", "p_below"):
        out[key] = adj[key]
    names = {"above": "closer", "below": "farther", "inside": "within margin",
             "undetermined": "undetermined"}
    out["outcome"] = [names[d] for d in decisions]
    return out


def judge(folder: Path, rule: ShadowsRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/cosines.csv`` (columns :data:`COSINE_COLUMNS`)."""
    pairs = pair_tests(pd.read_csv(Path(folder) / "cosines.csv"), rule)
    n = len(pairs)
    closer = int((pairs["outcome"] == "closer").sum()) if n else 0
    farther = int((pairs["outcome"] == "farther").sum()) if n else 0
    within = int((pairs["outcome"] == "within margin").sum()) if n else 0
    against = farther + within  # shown farther, or shown to make no difference that matters
    if n and closer / n >= rule.holds_share and farther == 0:
        verdict = "holds"
        flip = (f"pairs shown farther or within ±{rule.margin} (≥ {rule.refute_share:.0%} of "
                "them would refute it).")
    elif n and against / n >= rule.refute_share:
        verdict = "does not hold"
        flip = (f"those {against} pairs shown closer instead (more inputs, or a different "
                "shadow-net setting: α, dropout).")
    else:
        verdict = "undetermined"
        undecided = pairs[pairs["outcome"].isin(["undetermined", "within margin"])]
        flip = (f"more pairs shown closer: {len(undecided)} pairs are undetermined or within "
                f"±{rule.margin} (more inputs narrow their intervals, mean se "
                f"{float(undecided['se'].mean()) if len(undecided) else float('nan'):.3f}).")
    return Judgement(
        verdict=verdict,
        evidence=(f"trained − random-init cosine(shadow, input): shown above +{rule.margin} at "
                  f"{closer} of {n} (net, layer) pairs, below −{rule.margin} at {farther}, "
                  f"within ±{rule.margin} at {within} (Holm, α = {rule.alpha}); mean "
                  f"difference {float(pairs['mean'].mean()) if n else float('nan'):+.3f}."),
        numbers={"n_pairs": n, "closer": closer, "farther": farther, "within": within,
                 "mean_diff": float(pairs["mean"].mean()) if n else float("nan"),
                 "outcomes": list(pairs["outcome"])},
        flip=flip,
    )


def _cosine(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-row cosine of a and b, shape (batch,)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).numpy()


@register_part(
    "shadows", "Shadow images: inputs generated from every layer", order=80, rule=RULE,
    judge=judge,
    claim="Training makes the shadow distribution p(x | h) more like the real inputs: the "
          "shadow of a real input's code resembles the input more for a trained net than for "
          "a random one.")
def shadows_part(ctx: Context) -> PartOutput:
    from shadownets.reverse.samples import shadow_samples
    from shadownets.train import hidden_layer_names

    folder = ctx.part_dir("shadows")
    n_show, n_eval = 8, ctx.pick(64, 256, 1000)
    frames, figures = [], []
    for net in ensure_nets(ctx):
        x = net.data.x_test[:n_eval]
        grid = [("original", net.data.raw(x[:n_show]))]
        cos: dict[str, dict[str, np.ndarray]] = {}
        for state, model in (("trained", net.trained), ("random init", net.init)):
            for layer in hidden_layer_names(model):
                s = shadow_samples(model, x, layer, alpha="calibrated", rho=1.0, seed=ctx.seed)
                cos.setdefault(layer, {})[state] = _cosine(s.shadows, x)
                grid.append((f"{state}\n{layer}", net.data.raw(s.shadows[:n_show])))
        for layer, by in cos.items():
            frames.append(pd.DataFrame({
                "net": net.spec.name, "layer": layer, "input": np.arange(len(x)),
                "cos_trained": by["trained"], "cos_init": by["random init"],
                "diff": by["trained"] - by["random init"]}))
        path = f"{net.spec.name}.png"
        plot_shadow_rows(grid, folder / path, f"{net.spec.name}: originals and their shadows")
        figures.append({"title": f"{net.spec.name}: shadows from each hidden layer, trained "
                                 "and random-init", "path": path})
    cosines = pd.concat(frames, ignore_index=True)[COSINE_COLUMNS]
    save_dataframe_csv(folder / "cosines.csv", cosines)
    save_dataframe_csv(folder / "pairs.csv", pair_tests(cosines, RULE))
    return PartOutput(
        tables=[{"title": "Paired cosine difference per (net, layer), trained − random init "
                          "(α calibrated, no dropout; Holm-adjusted p-values)",
                 "path": "pairs.csv"}],
        figures=figures,
        notes=["Per-input cosines of both states on the same inputs: shadows/cosines.csv."],
    )
