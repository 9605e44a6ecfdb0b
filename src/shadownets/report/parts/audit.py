"""Part: the random-like hypothesis — trained nets audited layer by layer against null nets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shadownets.io import save_dataframe_csv
from shadownets.report.base import Context, Judgement, PartOutput, register_part
from shadownets.report.nets import ensure_nets
from shadownets.report.plots import plot_audit_ratios

__all__ = ["AuditRule", "RULE", "judge", "refresh", "SUMMARY_COLUMNS"]

#: Columns of ``summary.csv`` (the file :func:`judge` reads; ``audit.csv`` has them all).
SUMMARY_COLUMNS = ["net", "state", "layer", "kind", "active_frac", "rel_err_one",
                   "rel_err_one_gaussian",
                   *[f"ratio_one_{k}{s}" for k in ("gaussian", "shuffle")
                     for s in ("", "_ci_lo", "_ci_hi", "_lo", "_hi")],
                   "verdict_gaussian", "verdict_shuffle", "verdict",
                   "to_decide", "inputs_to_decide", "mp_ks", "mp_ks_gaussian",
                   *[f"log_ratio{s}_{k}" for k in ("gaussian", "shuffle")
                     for s in ("", "_se", "_df")],
                   *[f"input_var_{k}" for k in ("gaussian", "shuffle")], "n_null", "n_inputs"]
_DECIDED = ("worse than random", "better than random")


@dataclass(frozen=True)
class AuditRule:
    """Thresholds on the per-layer audit verdicts (:mod:`shadownets.audit.verdict`).

    Each layer's verdict comes from the audit: its error ratio against each null kind tested
    against the band [1/factor, factor] at family-wise level ``significance``, Holm across the
    layers × null kinds of **one net** (one audit call per net and state; no correction across
    nets). The random-init twins are the instrument's check: it must not call a random net
    non-random (no false alarm) and, for "holds", must be able to show random nets random-like.
    """

    factor: float = 1.5  # the audit's band [1/factor, factor] for the error ratio
    significance: float = 0.05  # the audit's family-wise error rate per net (Holm)
    holds_share: float = 0.75  # trained layers shown random-like for "holds"
    sanity_share: float = 0.75  # random-init layers shown random-like for "holds"
    refute_share: float = 0.25  # trained layers shown worse/better: more than this refutes

    def text(self) -> str:
        return (f"each layer is audited against Gaussian and shuffled null nets (error ratio "
                f"tested against [1/{self.factor}, {self.factor}], Holm per net at "
                f"α = {self.significance}). Holds if ≥ {self.holds_share:.0%} of the trained "
                f"nets' layers are shown random-like, ≥ {self.sanity_share:.0%} of the "
                f"random-init twins' layers are too and none of theirs is shown worse or "
                f"better; does not hold if more than {self.refute_share:.0%} of the trained "
                f"layers are shown worse or better than random and no twin layer is "
                f"(no false alarm); undetermined otherwise (a twin shown non-random means the "
                f"instrument failed).")


RULE = AuditRule()


def _redecide(df: pd.DataFrame, rule: AuditRule) -> pd.DataFrame:
    """Each layer's verdict decided again from its saved log-ratio estimates with the rule's
    band and significance (one Holm family per net and state, as the audit does): the
    ``verdict*``, ``p_*``, ``to_decide`` and ``inputs_to_decide`` columns, and the ratio's
    confidence interval ``ratio_one_k_ci_lo/hi`` (``level`` 0.95) are re-derived; a file
    without ``input_var_k`` / ``n_inputs`` gets NaN ``inputs_to_decide``."""
    import math

    from shadownets.audit.stats import ratio_interval, typical_ratio_estimate
    from shadownets.audit.verdict import decide_family
    from shadownets.stats import Estimate

    kinds = [k for k in ("gaussian", "shuffle") if f"log_ratio_{k}" in df.columns]
    if not kinds or df.empty:
        return df
    out = df.copy()
    has_var = all(f"input_var_{k}" in out.columns for k in kinds) and "n_inputs" in out.columns
    for _, idx in out.groupby(["net", "state"], sort=False).groups.items():
        rows = out.loc[idx]
        est = [{k: Estimate(float(r[f"log_ratio_{k}"]), float(r[f"log_ratio_se_{k}"]),
                            float(r[f"log_ratio_df_{k}"]), int(r["n_null"]), float("nan"))
                for k in kinds} for _, r in rows.iterrows()]
        var = ([{k: float(r[f"input_var_{k}"]) for k in kinds} for _, r in rows.iterrows()]
               if has_var else None)
        n_in = int(rows["n_inputs"].iloc[0]) if has_var else None
        fam = decide_family(est, factor=rule.factor, significance=rule.significance,
                            input_var=var, n_inputs=n_in)
        if not has_var:
            fam["inputs_to_decide"] = math.nan
        for col in fam.columns:
            if col in out.columns:
                out.loc[idx, col] = fam[col].to_numpy()
        for k in kinds:
            ci = [ratio_interval(typical_ratio_estimate(e[k]), 0.95) for e in est]
            for j, side in ((1, "ci_lo"), (2, "ci_hi")):
                col = f"ratio_one_{k}_{side}"
                if col not in out.columns:
                    at = (out.columns.get_loc(f"ratio_one_{k}") + j
                          if f"ratio_one_{k}" in out.columns else len(out.columns))
                    out.insert(at, col, math.nan)
                out.loc[idx, col] = [c[j] for c in ci]
    return out


def refresh(folder: Path, rule: AuditRule = RULE) -> dict[Path, str]:
    """``folder/summary.csv`` as the current rule decides it (:func:`_redecide`), for the
    committed report's tables to show the verdicts its ``result.json`` counts."""
    path = Path(folder) / "summary.csv"
    if not path.is_file():
        return {}
    return {path: _redecide(pd.read_csv(path), rule).to_csv(index=False)}


def judge(folder: Path, rule: AuditRule = RULE) -> Judgement:
    """Apply ``rule`` to ``folder/summary.csv`` (columns :data:`SUMMARY_COLUMNS`; ``state``
    is ``"trained"`` or ``"random init"``). Each layer's verdict is decided again from its
    ``log_ratio_*`` estimates with the rule's ``factor`` and ``significance`` (a file without
    them keeps its ``verdict`` column)."""
    df = _redecide(pd.read_csv(Path(folder) / "summary.csv"), rule)
    trained, init = df[df["state"] == "trained"], df[df["state"] == "random init"]
    n_t, n_i = len(trained), len(init)
    rl_t = float((trained["verdict"] == "random-like").mean()) if n_t else 0.0
    dec_t = float(trained["verdict"].isin(_DECIDED).mean()) if n_t else 0.0
    rl_i = float((init["verdict"] == "random-like").mean()) if n_i else 0.0
    alarms = init[init["verdict"].isin(_DECIDED)]
    no_alarm = n_i > 0 and alarms.empty
    decided = trained[trained["verdict"].isin(_DECIDED)]
    listed = ", ".join(f"{r.net} {r.layer} ({r.verdict})" for r in decided.itertuples()) or "none"
    if n_t and rl_t >= rule.holds_share and rl_i >= rule.sanity_share and no_alarm:
        verdict = "holds"
        flip = (f"trained layers shown worse or better than random (more than "
                f"{rule.refute_share:.0%} of them would refute it).")
    elif n_t and dec_t > rule.refute_share and no_alarm:
        verdict = "does not hold"
        flip = ("the decided layers' intervals reaching the band (a larger band or a "
                "different null would change it), or a random-init twin layer shown "
                "non-random (then the instrument is in doubt).")
    else:
        verdict = "undetermined"
        if not no_alarm:
            flip = ("a random-init twin layer is shown non-random: the instrument raised a "
                    "false alarm, so no trained verdict is trusted; fix the audit first.")
        else:
            flip = (f"layers decided one way: random-like at ≥ {rule.holds_share:.0%} of the "
                    f"trained layers with the twins shown random-like at ≥ "
                    f"{rule.sanity_share:.0%} (needs null nets whose own spread fits the "
                    f"band: see to_decide / inputs_to_decide, inf = no amount of data at this "
                    f"band), or worse/better at more than {rule.refute_share:.0%}.")
    return Judgement(
        verdict=verdict,
        evidence=(f"{rl_t:.0%} of {n_t} trained layers shown random-like and {dec_t:.0%} shown "
                  f"worse or better than random ({listed}); random-init twins: {rl_i:.0%} of "
                  f"{n_i} layers shown random-like, {len(alarms)} shown non-random."),
        numbers={"n_trained_layers": n_t, "trained_random_like": rl_t,
                 "trained_decided_nonrandom": dec_t, "n_init_layers": n_i,
                 "init_random_like": rl_i, "init_false_alarms": len(alarms)},
        flip=flip,
    )


@register_part(
    "audit", "Random-like hypothesis: trained nets audited against random nulls", order=70,
    rule=RULE, judge=judge, refresh=refresh, needs=(),
    claim="Trained nets are random-like: run backwards (transposed weights) and forwards "
          "again, each layer recovers its hidden code about as well as random nets of the "
          "same architecture do (the paper tests this on AlexNet).")
def audit_part(ctx: Context) -> PartOutput:
    from shadownets.audit import AuditConfig, audit

    folder = ctx.part_dir("audit")
    nets = ensure_nets(ctx)
    cfg = AuditConfig(n_inputs=ctx.pick(64, 256, 1000), n_null=ctx.pick(5, 5, 10),
                      bootstrap=ctx.pick(100, 1000, 2000), seed=ctx.seed,
                      weight_stats=ctx.scale != "tiny", factor=RULE.factor,
                      significance=RULE.significance, n_examples=0)
    frames = []
    for net in nets:
        for state, model in (("trained", net.trained), ("random init", net.init)):
            table = audit(model, net.data.x_test, config=cfg)  # one Holm family per call
            table.insert(0, "state", state)
            table.insert(0, "net", net.spec.name)
            table["n_null"] = cfg.n_null
            frames.append(table)
    df = pd.concat(frames, ignore_index=True)
    save_dataframe_csv(folder / "audit.csv", df)
    save_dataframe_csv(folder / "summary.csv", df[[c for c in SUMMARY_COLUMNS if c in df]])
    plot_audit_ratios(df, folder / "audit.png", factor=cfg.factor)
    return PartOutput(
        tables=[{"title": "Audit per layer: error one layer down, ratio to Gaussian and "
                          "shuffled null nets (ci_lo/ci_hi: 95% confidence interval of the "
                          "ratio to the typical null net, which random-like is judged on; "
                          "lo/hi: 95% prediction interval, which worse/better than random is "
                          "judged on), verdicts, what would decide, Marchenko–Pastur KS "
                          "distance", "path": "summary.csv"},
                {"title": "Nets (trained by the report)", "path": "../nets/nets.csv"}],
        figures=[{"title": "Error ratio against Gaussian null nets, per layer",
                  "path": "audit.png"}],
        notes=[f"{cfg.n_inputs} inputs, {cfg.n_null} null nets per kind. Full table with all "
               "columns (bootstrap intervals, Holm-adjusted p-values, weight statistics, the "
               "theory-bias and all-the-way-down settings): audit/audit.csv. to_decide: null "
               "nets per kind that would decide an undetermined layer (inf: none would; the "
               "null nets' own spread is wider than the band)."],
    )
