"""Part: weight tying — does denoising training make the decoder the encoder's transpose?

The paper: its generative model "is just the reverse of the feedforward net: if the forward
transformation at a layer is A then the reverse transformation is Aᵀ. (This can be seen as an
explanation of the old weight tying idea for denoising autoencoders.)" Untied ReLU denoising
autoencoders are trained on samples of the generative model (W known) and on real data
(digits; Fashion-MNIST at scale ``full``) with :func:`shadownets.tying.run_tying`, next to the
tied autoencoder and the linear ℓ2 autoencoder (the positive control, Kunin et al. 2019); a
plain autoencoder (no noise) on the same model data says whether the denoising matters.

Files written under ``tying/``: ``alignment.csv`` (per setting × model × seed × layer,
columns :data:`ALIGNMENT_COLUMNS`: what :func:`judge` reads), ``units.csv``, ``curves.csv``,
``errors.csv``, ``matching.csv``, ``summary.csv`` (the run tables of
:mod:`shadownets.tying.core` with ``setting`` and ``kind`` in front), ``headline.csv`` (one
row per setting × model × layer), ``outcomes.csv`` (the rule applied per setting,
:func:`outcome_table`), ``settings.json`` and the figures ``alignment.png``,
``histogram.png``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shadownets.io import save_dataframe_csv, save_figure, save_json
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.stats import decide_regions, interval, region_tests, t_estimate

__all__ = ["TyingRule", "RULE", "judge", "outcome_table", "Setting", "settings_for",
           "ALIGNMENT_COLUMNS", "OUTCOME_COLUMNS", "KINDS"]

NAME = "tying"
#: Kinds of setting: a DAE on samples of the generative model (the verdict's), a DAE on a real
#: data set, and a plain (not denoising) autoencoder on model data (does denoising matter?).
KINDS = ("model", "real", "plain")
#: How the settings that do not enter the verdict are introduced in the evidence.
_SEPARATE = {"real": "Real data", "plain": "Plain autoencoder (no noise) on model data"}
#: Columns of alignment.csv: the setting and its data's kind, then
#: :data:`shadownets.tying.ALIGNMENT_COLUMNS`.
ALIGNMENT_COLUMNS = ("setting", "kind", "data", "model", "seed", "layer", "n_units", "n_live",
                     "median_cosine", "mean_cosine", "null_median", "c", "residual", "null_c",
                     "null_residual")
#: Columns of outcomes.csv (one row per setting).
OUTCOME_COLUMNS = ("setting", "kind", "n_seeds", "median_cosine", "lo", "hi", "null_max",
                   "control_min", "p_above", "p_below", "outcome")


@dataclass(frozen=True)
class TyingRule:
    """Per setting, the untied ReLU DAE's median per-unit cosine (one value per seed, t
    interval) tested against a threshold; Holm across the settings of one kind of data."""

    threshold: float = 0.8  # "tied": the median cos(D[:, i], E[i, :]) shown above this
    null_max: float = 0.3  # the random-pair null's median must stay below this on every seed
    control_min: float = 0.95  # the linear ℓ2 control's median cosine on every seed, at least
    alpha: float = 0.05  # family-wise error rate across the settings of one kind (Holm)
    model: str = "untied"  # the model the claim is about
    layer: int = 1  # the layer judged (the first: the one the data's W generates)

    def text(self) -> str:
        return (f"per setting, the median over live units of cos(D[:, i], E[i, :]) of the "
                f"{self.model} ReLU denoising autoencoder (layer {self.layer}), one value per "
                f"seed, t interval, tested against {self.threshold} one-sided (Holm across the "
                f"settings of one kind of data at α = {self.alpha}). A setting counts only if "
                f"its random-pair null (D's columns deranged) stays below {self.null_max} and "
                f"the linear ℓ2 control reaches {self.control_min} on every seed; otherwise it "
                f"is undetermined. Holds if every model-data setting is shown above "
                f"{self.threshold}; does not hold if one is shown below it; undetermined "
                f"otherwise. Real data, and a plain (not denoising) autoencoder on model data, "
                f"are judged by the same rule and stated separately: they do not enter the "
                f"verdict.")


RULE = TyingRule()


def outcome_table(alignment: pd.DataFrame, rule: TyingRule = RULE) -> pd.DataFrame:
    """The rule applied per setting of ``alignment`` (columns :data:`ALIGNMENT_COLUMNS`):
    columns :data:`OUTCOME_COLUMNS`, outcome ``tied`` / ``not tied`` / ``undetermined`` /
    ``null too high`` / ``control failed`` / ``no control``; p-values Holm-adjusted within
    each kind."""
    rows = []
    for setting, g in alignment.groupby("setting", sort=False):
        mine = g[(g["model"] == rule.model) & (g["layer"] == rule.layer)]
        control = g[(g["model"] == "linear") & (g["layer"] == 1)]
        values = mine.sort_values("seed")["median_cosine"].to_numpy(float)
        est = t_estimate(values)
        lo, hi = interval(est)
        rows.append({"setting": setting, "kind": str(g["kind"].iloc[0]), "n_seeds": est.n,
                     "median_cosine": est.mean, "lo": lo, "hi": hi,
                     "null_max": float(mine["null_median"].max()) if len(mine) else math.nan,
                     "control_min": (float(control["median_cosine"].min()) if len(control)
                                     else math.nan),
                     "_test": region_tests(est, rule.threshold, math.inf)})
    for kind in KINDS:
        family = [r for r in rows if r["kind"] == kind]
        if not family:
            continue
        decisions, adj = decide_regions([r["_test"] for r in family], rule.alpha)
        for i, r in enumerate(family):
            r["p_above"], r["p_below"] = float(adj["p_inside"][i]), float(adj["p_below"][i])
            outcome = {"inside": "tied", "below": "not tied"}.get(decisions[i], "undetermined")
            if not (r["null_max"] < rule.null_max):  # NaN: no null, also refused
                outcome = "null too high"
            elif math.isnan(r["control_min"]):
                outcome = "no control"
            elif r["control_min"] < rule.control_min:
                outcome = "control failed"
            r["outcome"] = outcome
    return pd.DataFrame([{k: r[k] for k in OUTCOME_COLUMNS} for r in rows],
                        columns=list(OUTCOME_COLUMNS))


def _show(r: Any) -> str:
    return (f"{r.setting}: {r.median_cosine:.3f} [{r.lo:.3f}, {r.hi:.3f}] over {r.n_seeds} "
            f"seeds, null ≤ {r.null_max:.3f}, control ≥ {r.control_min:.3f} → {r.outcome}")


def judge(folder: Path, rule: TyingRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/alignment.csv`` (columns :data:`ALIGNMENT_COLUMNS`)."""
    table = outcome_table(pd.read_csv(Path(folder) / "alignment.csv"), rule)
    model = table[table["kind"] == "model"]
    out = dict(zip(model["setting"], model["outcome"], strict=True))
    if model.empty:
        verdict = "undetermined"
        flip = "a run on samples of the generative model (no model-data setting was found)."
    elif all(o == "tied" for o in out.values()):
        verdict = "holds"
        low = model.loc[model["lo"].idxmin()]
        flip = (f"a model-data setting whose median cosine is shown below {rule.threshold} "
                f"(the lowest interval here starts at {low['lo']:.3f}, {low['setting']}).")
    elif any(o == "not tied" for o in out.values()):
        verdict = "does not hold"
        flip = (f"the failing settings' median cosine shown above {rule.threshold} (e.g. with "
                f"longer training, if their curves are still rising: see alignment.png).")
    else:
        verdict = "undetermined"
        why = {"undetermined": f"more seeds, to narrow the intervals that straddle "
                               f"{rule.threshold}",
               "null too high": f"a null below {rule.null_max} (the threshold is not well "
                                f"above it: a measure that tells units apart)",
               "control failed": f"the linear control reaching {rule.control_min} (longer "
                                 f"training: the instrument must pass its positive control "
                                 f"first)",
               "no control": "a run with the linear control"}
        needed = [f"{text} ({', '.join(s for s, o in out.items() if o == key)})"
                  for key, text in why.items() if key in out.values()]
        flip = "every model-data setting decided: " + "; ".join(needed) + "."
    evidence = ("untied ReLU DAE, median per-unit cos(D[:, i], E[i, :]) (mean over seeds, "
                "95% t interval; random-pair null; linear ℓ2 control), model data: "
                + ("; ".join(_show(r) for r in model.itertuples()) or "none run") + ".")
    separate = {}
    for kind, title in _SEPARATE.items():
        rows = table[table["kind"] == kind]
        separate[f"{kind}_outcomes"] = dict(zip(rows["setting"], rows["outcome"], strict=True))
        if not rows.empty:
            evidence += (f" {title} (stated separately, not in the verdict): "
                         + "; ".join(_show(r) for r in rows.itertuples()) + ".")
    numbers = {"outcomes": out, **separate,
               "median_cosine": {r.setting: float(r.median_cosine)
                                 for r in table.itertuples()},
               "null_max": {r.setting: float(r.null_max) for r in table.itertuples()},
               "control_min": {r.setting: float(r.control_min) for r in table.itertuples()}}
    return Judgement(verdict=verdict, evidence=evidence, numbers=numbers, flip=flip)


@dataclass(frozen=True)
class Setting:
    """One run of the part: a data spec, its kind and the autoencoder's settings."""

    data: str
    kind: str  # one of KINDS
    hidden: int
    noise: str = "dropout:0.5"
    depth: int = 1
    epochs: int | None = None  # None: the scale's; digits need more (its curves rise longer)

    @property
    def label(self) -> str:
        depth = f", depth {self.depth}" if self.depth != 1 else ""
        epochs = f", {self.epochs} epochs" if self.epochs is not None else ""
        return f"{self.data}, M={self.hidden}, {self.noise}{depth}{epochs}"


def settings_for(scale: str) -> tuple[tuple[Setting, ...], dict[str, Any]]:
    """The settings and the shared training options (TyingConfig fields) of a scale."""
    if scale == "tiny":
        return ((Setting("model:n=64,m=16,k=3,rho=0.5", "model", 16),
                 Setting("digits", "real", 16)),
                {"epochs": 3, "seeds": 2, "n_train": 512, "n_test": 200, "record_every": 1})
    quick = (Setting("model:n=256,m=64,k=8,rho=0.5", "model", 64),
             Setting("model:n=256,m=128,k=16,rho=0.8", "model", 128),
             Setting("digits", "real", 32, epochs=100),
             Setting("model:n=256,m=64,k=8,rho=0.5", "plain", 64, "none"))
    if scale == "quick":
        return quick, {"epochs": 30, "seeds": 3, "n_train": 4000, "n_test": 1000}
    return (quick + (Setting("model:n=256,m=64,k=8,rho=0.5", "model", 64, "gaussian:0.5"),
                     Setting("model:n=256,m=64,k=8,rho=0.5", "model", 64, depth=2),
                     Setting("fashion-mnist", "real", 128)),
            {"epochs": 60, "seeds": 5, "n_train": 10000, "n_test": 2000})


def _front(df: pd.DataFrame, setting: Setting) -> pd.DataFrame:
    return df.assign(setting=setting.label, kind=setting.kind)[
        ["setting", "kind", *df.columns]]


@register_part(
    NAME, "Weight tying: does denoising training make the decoder the encoder's transpose?",
    order=65, rule=RULE, judge=judge,
    claim="The generative model is the reverse of the feed-forward net (forward A, reverse "
          "Aᵀ), which explains weight tying in denoising autoencoders: an untied ReLU DAE "
          "trained on the model's data learns a decoder D ≈ c·Eᵀ.")
def tying(ctx: Context) -> PartOutput:
    from shadownets.tying import TyingConfig, run_tying
    from shadownets.tying.plots import plot_alignment_curves, plot_cosine_histograms

    folder = ctx.part_dir(NAME)
    settings, common = settings_for(ctx.scale)
    cfg = TyingConfig(**common)  # the settings every run shares (for the notes)
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("alignment", "units", "curves",
                                                              "errors", "matching", "summary",
                                                              "headline")}
    for s in settings:
        options = {**common, **({"epochs": s.epochs} if s.epochs is not None else {})}
        result = run_tying(TyingConfig(data=s.data, hidden=s.hidden, noise=s.noise,
                                       depth=s.depth, seed=ctx.seed, **options))
        for name in tables:
            tables[name].append(_front(getattr(result, name), s))
    frames = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    for name, df in frames.items():
        save_dataframe_csv(folder / f"{name}.csv", df)
    outcomes = outcome_table(frames["alignment"], RULE)
    save_dataframe_csv(folder / "outcomes.csv", outcomes)
    save_json(folder / "settings.json", {"settings": [{**asdict(s), "label": s.label}
                                                      for s in settings],
                                         "common": common, "seed": ctx.seed})
    save_figure(folder / "alignment.png",
                plot_alignment_curves(frames["curves"], threshold=RULE.threshold))
    save_figure(folder / "histogram.png",
                plot_cosine_histograms(frames["units"], threshold=RULE.threshold))
    head = frames["headline"]
    compact = head[["setting", "model", "layer", "n_seeds", "median_cosine", "median_cosine_lo",
                    "median_cosine_hi", "null_median", "c", "residual", "reconstruction",
                    "denoising"]]
    save_dataframe_csv(folder / "table.csv", compact)
    theory = head[(head["model"] != "tied") & head["encoder_w_median"].notna()][
        ["setting", "model", "encoder_w_median", "random_w_median", "gain_over_alpha",
         "oracle_over_alpha"]]
    save_dataframe_csv(folder / "theory.csv", theory)
    errs = frames["summary"]
    diffs = errs[errs["model"] == "tied-untied"][["setting", "quantity", "n_seeds", "mean",
                                                   "lo", "hi"]]
    save_dataframe_csv(folder / "tied_vs_untied.csv", diffs)
    return PartOutput(
        tables=[{"title": "The rule per setting (untied ReLU DAE, layer 1; mean over seeds "
                          "of the median cosine with its 95% t interval, Holm-adjusted "
                          "p-values)", "path": "outcomes.csv"},
                {"title": "Alignment and held-out errors per setting and model (mean over "
                          "seeds; errors: fraction of variance unexplained)",
                 "path": "table.csv"},
                {"title": "Model data: learned units matched to W (Hungarian), and the "
                          "per-unit gain ⟨D[:, i], E[i, :]⟩ over the theory's α‖W_j‖²",
                 "path": "theory.csv"},
                {"title": "Tied − untied held-out error (paired over seeds, 95% t interval)",
                 "path": "tied_vs_untied.csv"}],
        figures=[{"title": "Median cosine of D[:, i] and E[i, :] through training (thin: "
                           "seeds; grey: random-pair null)", "path": "alignment.png"},
                 {"title": "Per-unit cosines (live units, seeds pooled) against the null",
                  "path": "histogram.png"}],
        notes=[f"Untied: x → h = ReLU(E x + b) → x̂ = D h + c, trained on corrupted inputs "
               f"(dropout:RHO masks with keep probability RHO and rescales by 1/RHO) to "
               f"reconstruct the clean input, with a weight penalty λ = {cfg.l2:g}; tied: the "
               f"same with D = Eᵀ; the linear control x̂ = D E x on centred data with "
               f"λ = {cfg.control_l2:g} and no noise (Kunin et al.: D = Eᵀ at every critical "
               f"point). Adam lr {cfg.lr:g}, batch {cfg.batch_size}, {common['epochs']} epochs "
               f"(unless the setting says otherwise), seeds {ctx.seed}–"
               f"{ctx.seed + common['seeds'] - 1}; model data are one-layer samples "
               f"x = ReLU(αWh) ⊙ z with a W drawn per seed; dead units (never on held out) are "
               f"left out of every median. The plain setting is the same model data without "
               f"noise: whether the tie needs the denoising.",
               "The rule's thresholds were declared before any measurement; the control's λ "
               "and the digits' epochs were raised after a first run showed the control "
               "short of 0.99 with λ = 0.01 and the digits curve still rising at 30 epochs.",
               "gain_over_alpha is the median over units of ⟨D[:, i], E[i, :]⟩ / (α‖W_j‖²) "
               "for the W column j matched to the unit's encoder row: the theory's E = Wᵀ with "
               "decoder αW gives 1. oracle_over_alpha is the same for the least-squares "
               "linear decoder of the true codes with E = Wᵀ: in expectation it is ρ/2 (the "
               "mask keeps a fraction ρ; of ReLU(u) = u/2 + |u|/2 only the odd half u/2 is "
               "correlated with W), so α scales the generating matrix inside the ReLU, not "
               "a linear decoder.",
               "c, the best scalar in D ≈ c·Eᵀ, depends on how the units' scales are spread "
               "(rescaling a unit's E row by s and its D column by 1/s changes nothing the "
               "autoencoder computes); the cosines and the gains do not."],
    )
