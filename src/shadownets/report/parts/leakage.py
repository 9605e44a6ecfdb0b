"""Part: inversion and leakage — is the shadow net an inverse, and does it help the attack?

LeNet-style nets are trained on ``digits`` (always), Fashion-MNIST and MNIST (only when their
files are already on the machine: nothing is downloaded) and inverted at the split points of
He, Zhang & Lee (ACSAC 2019): the first conv (``conv1``), the second conv's ReLU (``ReLU2``)
and the first dense layer's ReLU (``fc1-ReLU``), with all four methods of
:mod:`shadownets.invert` (shadow, rMLE from the data mean = ``optimize``, rMLE from the shadow
= ``warm``, a learned inverse trained on the train split). The nets are the report's own
(``OUT/nets/NAME``, shared with the audit and shadows parts where the same net is trained).

Two claims, each judged three-valued by :data:`RULE` (declared before the run):

(a) *the transposed net is a correct inverse*: at ``conv1`` the shadow's SSIM is at most
    ``ssim_margin`` below rMLE's (the paired per-image difference's interval) at ≥
    ``speedup``× less time per image;
(b) *warm start helps*: rMLE started from the shadow reaches the cold start's final PSNR
    (image by image) within ``step_fraction`` of the cold start's steps, for more than
    ``majority`` of the images (a sign test on the median image), at every split.

The part's verdict is their conjunction (holds if both hold, does not hold if either does
not, undetermined otherwise); the evidence states each claim's own verdict.

Files written under ``leakage/``: ``per_image.csv`` (``net, dataset, split`` +
:data:`shadownets.invert.TABLE_COLUMNS`) and ``curves.csv`` (``net, dataset, split`` +
:data:`shadownets.invert.CURVES_COLUMNS`) — what :func:`judge` reads; ``leakage.csv``
(:data:`LEAKAGE_COLUMNS`, the table shown) and ``leakage_full.csv`` (all summary columns);
``inverse_tests.csv`` (:data:`INVERSE_COLUMNS`), ``warm_tests.csv`` (:data:`WARM_COLUMNS`) and
``warm_steps.csv`` (:data:`WARM_STEP_COLUMNS`), the judge's intermediate tables; ``comparison.csv``
(:data:`COMPARISON_COLUMNS`: ours beside He et al.'s published figures); ``nets.csv``;
``setup.json``; and per net ``NET_grid.png`` and ``NET_psnr_time.png``. The experiment (nets,
budgets per scale, split points, figures) is in :mod:`shadownets.report.parts._leakage_run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.stats import interval, t_estimate

__all__ = ["LeakageRule", "RULE", "judge", "SPLITS", "PUBLISHED", "PUBLISHED_SOURCE",
           "inverse_tests", "warm_steps", "warm_tests", "combine", "LEAKAGE_COLUMNS",
           "INVERSE_COLUMNS", "WARM_COLUMNS", "WARM_STEP_COLUMNS", "COMPARISON_COLUMNS"]

NAME = "leakage"

#: The split points, in depth order, named as in this part's tables (He et al.'s conv1 and
#: ReLU2; ``fc1-ReLU`` is the first dense layer's ReLU).
SPLITS: tuple[str, ...] = ("conv1", "ReLU2", "fc1-ReLU")

#: He, Zhang & Lee (ACSAC 2019), LeNet-5 on 28 x 28 MNIST — published figures, not ours:
#: (split, method, PSNR dB, SSIM); ``optimize`` = their white-box rMLE, ``learned`` = their
#: black-box inverse network.
PUBLISHED: tuple[tuple[str, str, float, float], ...] = (
    ("conv1", "optimize", 39.69, 0.9969),
    ("ReLU2", "optimize", 15.10, 0.5998),
    ("ReLU2", "learned", 20.35, 0.7334),
)
PUBLISHED_SOURCE = "He, Zhang & Lee 2019 (published), LeNet-5 on 28x28 MNIST"

#: Columns of ``leakage.csv`` (means over images with t intervals at the part's level).
LEAKAGE_COLUMNS = ["net", "split", "layer", "method", "switches", "n", "psnr", "psnr_lo",
                   "psnr_hi", "ssim", "ssim_lo", "ssim_hi", "accuracy", "seconds_per_image",
                   "setup_seconds", "steps"]
#: Columns of ``inverse_tests.csv``: claim (a) per net at the first split.
INVERSE_COLUMNS = ["net", "split", "layer", "n", "ssim_shadow", "ssim_rmle", "diff", "diff_lo",
                   "diff_hi", "level", "seconds_shadow", "seconds_rmle", "speedup", "outcome"]
#: Columns of ``warm_steps.csv``: per image, the recorded warm step that first reaches the
#: cold start's final PSNR (``steps_needed`` empty = never within the budget).
WARM_STEP_COLUMNS = ["net", "split", "layer", "image", "steps", "target_psnr",
                     "warm_start_psnr", "warm_final_psnr", "steps_needed", "fraction"]
#: Columns of ``warm_tests.csv``: claim (b) per net and split.
WARM_COLUMNS = ["net", "split", "layer", "n", "steps", "reached", "share", "share_lo",
                "share_hi", "level", "median_fraction", "never", "outcome"]
#: Columns of ``comparison.csv``: our means beside He et al.'s published figures, at the
#: splits and methods they published (``source`` "ours" or "published").
COMPARISON_COLUMNS = ["split", "method", "source", "net", "dataset", "n", "psnr", "psnr_lo",
                      "psnr_hi", "ssim", "ssim_lo", "ssim_hi"]

_OUTCOMES = ("holds", "does not hold", "undetermined")


@dataclass(frozen=True)
class LeakageRule:
    """Thresholds of the two claims. Each claim's intervals are two-sided at level
    ``1 − alpha/m`` (Bonferroni over its m tests: nets for (a), nets × splits for (b))."""

    ssim_margin: float = 0.05  # (a) the shadow's SSIM may be at most this far below rMLE's
    speedup: float = 100.0  # (a) rMLE time / shadow time per image must be at least this
    step_fraction: float = 1 / 3  # (b) warm must reach within this share of rMLE's steps...
    majority: float = 0.5  # (b) ...for more than this share of the images (median image)
    alpha: float = 0.05  # family-wise error rate of each claim (Bonferroni)

    def text(self) -> str:
        return (f"(a) \"the transposed net is a correct inverse\": per net, at the first split "
                f"(conv1) the per-image SSIM difference shadow − rMLE (cold start, same images) "
                f"gets a t interval; the net holds if the whole interval is ≥ "
                f"−{self.ssim_margin} and rMLE takes ≥ {self.speedup:g}× the shadow's time per "
                f"image (the shadow's one-off calibration spread over the images inverted; "
                f"times are measured once, compared as they are); it does not hold if the "
                f"interval lies wholly below −{self.ssim_margin} or the speed-up is under "
                f"{self.speedup:g}×; undetermined otherwise. (b) \"warm start helps\": per net "
                f"and split, each image's first recorded warm-start step whose PSNR reaches "
                f"that image's cold-start PSNR after all the steps (never = beyond the budget) "
                f"as a fraction of the steps; the share of images within "
                f"{self.step_fraction:.3g} gets a Clopper–Pearson interval; holds if it lies "
                f"wholly above {self.majority:g} (the median image reaches it within "
                f"{self.step_fraction:.3g} of the steps), does not hold if wholly below, "
                f"undetermined otherwise. Intervals are two-sided at 1 − {self.alpha:g}/m "
                f"(Bonferroni: m nets for (a), m net × split pairs for (b)). A claim holds if "
                f"every test holds, does not hold if any does not, undetermined otherwise; "
                f"the part's verdict is (a) and (b): holds if both hold, does not hold if "
                f"either does not, undetermined otherwise.")


RULE = LeakageRule()


# ---------------------------------------------------------------------- judge
def _read(folder: Path, name: str, needed: set[str]) -> pd.DataFrame:
    path = Path(folder) / name
    df = pd.read_csv(path, dtype={"switches": str}, keep_default_na=False,
                     na_values=["", "nan", "NaN"])
    missing = sorted(needed - set(df.columns))
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return df


def combine(outcomes: list[str]) -> str:
    """A claim over several tests: holds if every test holds, does not hold if any does not,
    undetermined otherwise (also with no tests)."""
    if outcomes and all(o == "holds" for o in outcomes):
        return "holds"
    if "does not hold" in outcomes:
        return "does not hold"
    return "undetermined"


def _conjunction(a: str, b: str) -> str:
    if a == b == "holds":
        return "holds"
    if "does not hold" in (a, b):
        return "does not hold"
    return "undetermined"


def inverse_tests(per_image: pd.DataFrame, rule: LeakageRule = RULE) -> pd.DataFrame:
    """Claim (a) per net: the paired SSIM difference shadow − rMLE at the first split
    (:data:`SPLITS`), its interval, the speed-up and the outcome (:data:`INVERSE_COLUMNS`).

    The shadow is the one with known switches (white-box, as rMLE) — ``none`` when no max
    pool lies below the split; rMLE is ``optimize``. Shadow time per image = its mean
    ``seconds`` + ``setup_seconds`` / n.
    """
    first = per_image[per_image["split"] == SPLITS[0]]
    nets = list(dict.fromkeys(per_image["net"]))
    level = 1 - rule.alpha / max(len(nets), 1)
    rows = []
    for net in nets:
        g = first[first["net"] == net]
        shadow = g[(g["method"] == "shadow") & g["switches"].isin(["none", "known"])]
        rmle = g[g["method"] == "optimize"]
        if shadow.empty or rmle.empty:
            raise ValueError(f"per_image.csv: net {net!r} has no shadow and optimize rows at "
                             f"split {SPLITS[0]!r}")
        pair = shadow.merge(rmle, on="image", suffixes=("_s", "_r"))
        lo, hi = interval(t_estimate(pair["ssim_s"] - pair["ssim_r"]), level)
        n = len(pair)
        t_shadow = float(shadow["seconds"].mean() + shadow["setup_seconds"].iloc[0] / n)
        t_rmle = float(rmle["seconds"].mean())
        speedup = t_rmle / t_shadow if t_shadow > 0 else math.inf
        if speedup < rule.speedup or (np.isfinite(hi) and hi < -rule.ssim_margin):
            outcome = "does not hold"
        elif np.isfinite(lo) and lo >= -rule.ssim_margin:
            outcome = "holds"
        else:
            outcome = "undetermined"
        rows.append({"net": net, "split": SPLITS[0], "layer": g["layer"].iloc[0], "n": n,
                     "ssim_shadow": float(pair["ssim_s"].mean()),
                     "ssim_rmle": float(pair["ssim_r"].mean()),
                     "diff": float((pair["ssim_s"] - pair["ssim_r"]).mean()), "diff_lo": lo,
                     "diff_hi": hi, "level": level, "seconds_shadow": t_shadow,
                     "seconds_rmle": t_rmle, "speedup": speedup, "outcome": outcome})
    return pd.DataFrame(rows, columns=INVERSE_COLUMNS)


def warm_steps(per_image: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per net, split and image: the first recorded step at which ``warm``'s PSNR reaches
    ``optimize``'s PSNR after all its steps (:data:`WARM_STEP_COLUMNS`; ``steps_needed`` NaN
    when never within the budget, ``fraction`` = steps_needed / steps, NaN when never).

    The recorded steps are a grid (every ``record_every``): the first grid step at or after
    the true one, so a fraction can only be overstated.
    """
    frames = []
    for (net, split), g in curves.groupby(["net", "split"], sort=False):
        rows = per_image[(per_image["net"] == net) & (per_image["split"] == split)
                         & (per_image["method"] == "optimize")]
        if rows.empty:
            continue
        steps = int(rows["steps"].iloc[0])
        warm_budget = per_image[(per_image["net"] == net) & (per_image["split"] == split)
                                & (per_image["method"] == "warm")]["steps"]
        if len(warm_budget) and int(warm_budget.iloc[0]) != steps:
            raise ValueError(f"per_image.csv: {net} {split}: warm ran {int(warm_budget.iloc[0])}"
                             f" steps, optimize {steps}; the comparison needs the same budget")
        cold, warm = g[g["method"] == "optimize"], g[g["method"] == "warm"]
        final = cold[cold["step"] == steps].set_index("image")["psnr"]
        if final.empty or warm.empty:
            raise ValueError(f"curves.csv: {net} {split}: no optimize curve at step {steps} or "
                             f"no warm curve")
        w = warm.join(final.rename("target_psnr"), on="image").sort_values(["image", "step"])
        hit = w[w["psnr"] >= w["target_psnr"]].groupby("image")["step"].min()
        by = w.groupby("image")
        out = pd.DataFrame({"image": final.index.to_numpy()})
        out["target_psnr"] = final.to_numpy()
        out["warm_start_psnr"] = by["psnr"].first().reindex(out["image"]).to_numpy()
        out["warm_final_psnr"] = by["psnr"].last().reindex(out["image"]).to_numpy()
        out["steps_needed"] = hit.reindex(out["image"]).to_numpy(float)
        out["fraction"] = out["steps_needed"] / steps
        out.insert(0, "steps", steps)
        out.insert(0, "layer", g["layer"].iloc[0])
        out.insert(0, "split", split)
        out.insert(0, "net", net)
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=WARM_STEP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[WARM_STEP_COLUMNS]


def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    from scipy import stats

    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def warm_tests(steps: pd.DataFrame, rule: LeakageRule = RULE) -> pd.DataFrame:
    """Claim (b) per net and split from :func:`warm_steps`'s table (:data:`WARM_COLUMNS`):
    the share of images reached within ``step_fraction`` of the steps, its Clopper–Pearson
    interval and the outcome."""
    groups = list(steps.groupby(["net", "split"], sort=False))
    level = 1 - rule.alpha / max(len(groups), 1)
    rows = []
    for (net, split), g in groups:
        frac = g["fraction"].to_numpy(float)
        n = len(frac)
        k = int(np.sum(np.nan_to_num(frac, nan=np.inf) <= rule.step_fraction + 1e-12))
        lo, hi = _clopper_pearson(k, n, level)
        if np.isfinite(lo) and lo > rule.majority:
            outcome = "holds"
        elif np.isfinite(hi) and hi < rule.majority:
            outcome = "does not hold"
        else:
            outcome = "undetermined"
        rows.append({"net": net, "split": split, "layer": g["layer"].iloc[0], "n": n,
                     "steps": int(g["steps"].iloc[0]), "reached": k,
                     "share": k / n if n else math.nan, "share_lo": lo, "share_hi": hi,
                     "level": level,
                     "median_fraction": float(np.median(np.nan_to_num(frac, nan=np.inf)))
                     if n else math.nan,
                     "never": int(np.isnan(frac).sum()), "outcome": outcome})
    return pd.DataFrame(rows, columns=WARM_COLUMNS)


def _fmt(x: float, spec: str = "+.3f") -> str:
    return format(x, spec) if np.isfinite(x) else "n/a"


def _inverse_judgement(tests: pd.DataFrame, rule: LeakageRule) -> dict[str, Any]:
    verdict = combine(list(tests["outcome"]))
    parts = [f"{r.net}: shadow − rMLE SSIM {_fmt(r.diff)} [{_fmt(r.diff_lo)}, "
             f"{_fmt(r.diff_hi)}] (shadow {r.ssim_shadow:.4f}, rMLE {r.ssim_rmle:.4f}, "
             f"{r.n} images, {r.level:.1%} interval), rMLE/shadow time {r.speedup:.0f}× → "
             f"{r.outcome}" for r in tests.itertuples()]
    if verdict == "holds":
        flip = (f"a net whose SSIM interval reaches below −{rule.ssim_margin} or whose "
                f"speed-up falls under {rule.speedup:g}× (more nets, e.g. MNIST).")
    elif verdict == "does not hold":
        why = []
        for r in tests[tests["outcome"] == "does not hold"].itertuples():
            if np.isfinite(r.diff_hi) and r.diff_hi < -rule.ssim_margin:
                why.append(f"at {r.net} the shadow's SSIM coming within {rule.ssim_margin} of "
                           f"rMLE's (its interval ends {_fmt(-r.diff_hi, '.3f')} below now: a "
                           f"better one-pass inverse, not more images, is needed)")
            if r.speedup < rule.speedup:
                why.append(f"at {r.net} a speed-up of ≥ {rule.speedup:g}× ({r.speedup:.0f}× "
                           f"now: rMLE with more steps, or a faster shadow pass)")
        flip = "; ".join(why) + "."
    else:
        undecided = tests[tests["outcome"] == "undetermined"]
        flip = (f"more images narrowing the SSIM interval at {', '.join(undecided['net'])} "
                f"to one side of −{rule.ssim_margin}.")
    return {"verdict": verdict, "parts": parts, "flip": flip,
            "tests": tests.to_dict(orient="records")}


def _warm_judgement(tests: pd.DataFrame, rule: LeakageRule) -> dict[str, Any]:
    verdict = combine(list(tests["outcome"]))
    parts = [f"{r.net} {r.split}: {r.reached}/{r.n} images within {rule.step_fraction:.3g} of "
             f"{r.steps} steps (share {r.share:.2f} [{_fmt(r.share_lo, '.2f')}, "
             f"{_fmt(r.share_hi, '.2f')}], median fraction {_fmt(r.median_fraction, '.3f')}, "
             f"{r.never} never) → {r.outcome}" for r in tests.itertuples()]
    if verdict == "holds":
        low = tests.loc[tests["share_lo"].idxmin()]
        flip = (f"a split where the share's interval falls below {rule.majority:g}; the "
                f"lowest now is {low['net']} {low['split']}, {low['share']:.2f} "
                f"[{_fmt(low['share_lo'], '.2f')}, {_fmt(low['share_hi'], '.2f')}]. The step "
                f"budget sets the cold start's target, so another budget can change it.")
    elif verdict == "does not hold":
        bad = tests[tests["outcome"] == "does not hold"]
        where = ", ".join(bad["net"] + " " + bad["split"])
        flip = (f"the warm start reaching the target faster at {where} (a budget where the "
                f"cold start stops short of convergence would favour it).")
    else:
        undecided = tests[tests["outcome"] == "undetermined"]
        where = ", ".join(undecided["net"] + " " + undecided["split"])
        flip = (f"more images at {where}, so that the share's interval clears "
                f"{rule.majority:g} on one side.")
    return {"verdict": verdict, "parts": parts, "flip": flip,
            "tests": tests.to_dict(orient="records")}


def judge(folder: Path, rule: LeakageRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/per_image.csv`` and ``folder/curves.csv`` (columns
    ``net, dataset, split`` + :data:`~shadownets.invert.TABLE_COLUMNS` /
    :data:`~shadownets.invert.CURVES_COLUMNS`): claim (a) by :func:`inverse_tests`, claim (b)
    by :func:`warm_steps` and :func:`warm_tests`, the verdict their conjunction."""
    per_image = _read(folder, "per_image.csv", {"net", "split", "layer", "method", "switches",
                                                 "image", "ssim", "seconds", "setup_seconds",
                                                 "steps"})
    curves = _read(folder, "curves.csv", {"net", "split", "layer", "method", "image", "step",
                                          "psnr"})
    a = _inverse_judgement(inverse_tests(per_image, rule), rule)
    b = _warm_judgement(warm_tests(warm_steps(per_image, curves), rule), rule)
    verdict = _conjunction(a["verdict"], b["verdict"])
    evidence = (f"(a) the transposed net is a correct inverse: {a['verdict']} — "
                + "; ".join(a["parts"])
                + f". (b) warm start helps: {b['verdict']} — " + "; ".join(b["parts"])
                + f". Part verdict: (a) {a['verdict']} and (b) {b['verdict']}.")
    flip = f"(a) {a['flip']} (b) {b['flip']}"
    numbers = {"inverse": {k: a[k] for k in ("verdict", "tests")},
               "warm": {k: b[k] for k in ("verdict", "tests")}}
    return Judgement(verdict=verdict, evidence=evidence, numbers=numbers, flip=flip)


@register_part(
    NAME, "Inversion and leakage: the shadow net against rMLE, warm start and a learned "
          "inverse", order=85, rule=RULE, judge=judge,
    claim="Two claims of issue 12 on LeNet-style nets split where He, Zhang & Lee (2019) split "
          "them: (a) the transposed net is a correct inverse — at the first conv its one-pass "
          "reconstruction is about as good (SSIM) as regularised maximum-likelihood inversion "
          "(rMLE) at ≥ 100× less time; (b) warm start helps — rMLE started from the shadow "
          "reaches the cold start's final PSNR in ≤ 1/3 of the steps. The part's verdict is "
          "both together.")
def leakage_part(ctx: Context) -> PartOutput:
    from shadownets.report.parts._leakage_run import run_experiment

    return run_experiment(ctx)
