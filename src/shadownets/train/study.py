"""A training study: one :func:`~shadownets.train.compare` per (use, architecture), over data
sets × label budgets, with the number of seeds chosen from a pilot.

The **uses** (:data:`USES`): ``supervised`` compares shadow data (the reference) with plain
training, dropout and Gaussian input noise; ``semi`` compares shadow-consistency (the
reference) with plain training (labels only), the Π-model with input noise and with dropout,
and pseudo-labels, all learning from the unlabeled rest of the train split. The
**architectures** and their data sets are :attr:`StudyConfig.archs`.

The protocol (:func:`run_study`):

1. **Pilot** (when ``seeds`` is None): ``pilot_seeds`` seeds of every comparison.
2. **Seeds**: the largest ``seeds_needed`` (80% power, by default, to detect ``margin`` at the
   Holm level of the whole study, :func:`comparisons_table`) over the pilot's reference −
   best-other comparisons, capped at ``max_seeds`` and at least ``pilot_seeds``; the choice
   and the cap go to ``study.json``.
3. **Study**: every comparison run with that many seeds; the pilot's runs are re-used (a
   comparison's runs are matched by their own settings, see :mod:`shadownets.train.compare`).

Layout of ``out_dir``: ``study.json`` and ``<use>/<arch>/`` (one comparison folder each:
runs.csv, cells.csv, diffs.csv, summary.json, ...). Judging the study is the report's
(:mod:`shadownets.report.parts.training`).

    from shadownets.train.study import StudyConfig, run_study
    record = run_study(StudyConfig(seeds=3, budgets=(100,)), "runs/study")
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shadownets.train.compare import (
    DEFAULT_GRIDS,
    CompareConfig,
    compare,
    estimates_from_diffs,
    family_verdicts,
)
from shadownets.train.config import TrainConfig

__all__ = ["USES", "ARCHS", "StudyConfig", "comparison_config", "run_study", "folders",
           "comparisons_table", "read_study"]

#: The two uses: the methods compared and the reference, the method the claim is about.
USES: dict[str, tuple[tuple[str, ...], str]] = {
    "supervised": (("plain", "dropout", "input-noise", "shadow"), "shadow"),
    "semi": (("plain", "shadow-consistency", "pi-noise", "pi-dropout", "pseudo-label"),
             "shadow-consistency"),
}
#: Architectures (zoo names) and the data sets each is trained on.
ARCHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mlp", ("digits", "fashion-mnist", "mnist1d")),
    ("lenet", ("digits", "fashion-mnist")),
    ("cnn1d", ("mnist1d",)),
)
#: Adam learning rate per architecture (cnn1d: the MNIST-1D paper's); others get ``lr``.
LRS: tuple[tuple[str, float], ...] = (("cnn1d", 1e-2),)
GRID_MODES = ("default", "first")


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a study (validated here). Defaults: the study of docs/training.md."""

    archs: tuple[tuple[str, tuple[str, ...]], ...] = ARCHS  # (architecture, its data sets) pairs
    uses: tuple[str, ...] = ("supervised", "semi")  # "supervised" and/or "semi" (see USES)
    budgets: tuple[int, ...] = (100, 1000)  # label budgets
    seeds: int | None = None  # seeds of every comparison; None: chosen from the pilot
    pilot_seeds: int = 4  # seeds of the pilot (when seeds is None)
    max_seeds: int = 12  # cap on the seeds the pilot asks for (the machine's budget)
    first_seed: int = 0  # seeds are first_seed, first_seed + 1, ...
    data_seed: int = 0  # which stratified train/validation split (see TrainConfig)
    epochs: int = 30  # epochs of every training
    steps_per_epoch: int = 10  # Adam steps per epoch
    lr: float = 1e-3  # Adam learning rate (cnn1d: 1e-2, the MNIST-1D paper's; see LRS)
    grids: str = "default"  # "default" (DEFAULT_GRIDS) or "first" (their first candidates)
    warmup_epochs: int | None = None  # overrides every candidate's warm-up (short runs)
    margin: float = 0.01  # smallest test-error difference that matters (1 point)
    alpha: float = 0.05  # family-wise error rate (see the report's rule)
    power: float = 0.8  # target power of seeds_needed
    jobs: int = 1  # trainings at once (local processes)
    threads: int | None = 1  # torch threads per training

    def __post_init__(self) -> None:
        if not self.archs or not all(
                isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str)
                and isinstance(a[1], tuple) and a[1] for a in self.archs):
            raise ValueError(f"archs must be a non-empty tuple of (architecture, (data sets, "
                             f"...)) pairs; got {self.archs!r}")
        bad = [u for u in self.uses if u not in USES]
        if not self.uses or bad:
            raise ValueError(f"uses must be some of {tuple(USES)}; got {self.uses!r}")
        if not self.budgets or not all(isinstance(b, int) and b >= 1 for b in self.budgets):
            raise ValueError(f"budgets must be ints >= 1; got {self.budgets!r}")
        for name in ("pilot_seeds", "max_seeds") + (("seeds",) if self.seeds is not None
                                                    else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an int >= 2 (a paired interval needs two "
                                 f"seeds); got {v!r}")
        if self.seeds is None and self.max_seeds < self.pilot_seeds:
            raise ValueError(f"max_seeds ({self.max_seeds}) must be >= pilot_seeds "
                             f"({self.pilot_seeds})")
        if self.grids not in GRID_MODES:
            raise ValueError(f"grids must be one of {GRID_MODES}; got {self.grids!r}")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs); got {self.warmup_epochs}")
        from shadownets.data.registry import get_loader
        from shadownets.train.models import list_models

        for arch, datasets in self.archs:
            if arch not in list_models():
                raise ValueError(f"archs: unknown model {arch!r}; known models: "
                                 f"{', '.join(list_models())}")
            for name in datasets:
                get_loader(name)  # raises naming the known data sets
        # the rest (epochs, lr, margin, ...) is checked by TrainConfig / CompareConfig
        for use, arch in self.comparisons():
            comparison_config(self, use, arch, 2)

    def comparisons(self) -> list[tuple[str, str]]:
        """The (use, architecture) pairs, in run order."""
        return [(use, arch) for use in self.uses for arch, _ in self.archs]


def _grid(cfg: StudyConfig, method: str) -> list[dict[str, Any]]:
    grid = [dict(c) for c in DEFAULT_GRIDS[method]]
    if cfg.grids == "first":
        grid = grid[:1]
    if cfg.warmup_epochs is not None:
        grid = [{**c, "warmup_epochs": cfg.warmup_epochs} if "warmup_epochs" in c else c
                for c in grid]
    return grid


def comparison_config(cfg: StudyConfig, use: str, arch: str, n_seeds: int) -> CompareConfig:
    """The comparison of ``use`` × ``arch`` with ``n_seeds`` seeds."""
    methods, reference = USES[use]
    datasets = dict(cfg.archs)[arch]
    base = TrainConfig(model=arch, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                       lr=dict(LRS).get(arch, cfg.lr), data_seed=cfg.data_seed)
    return CompareConfig(datasets=datasets, budgets=cfg.budgets, methods=methods,
                         seeds=tuple(range(cfg.first_seed, cfg.first_seed + n_seeds)),
                         base=base, grids={m: _grid(cfg, m) for m in methods},
                         reference=reference, margin=cfg.margin, alpha=cfg.alpha,
                         power=cfg.power, jobs=cfg.jobs, threads=cfg.threads)


def folders(out_dir: str | os.PathLike, cfg: StudyConfig) -> dict[tuple[str, str], Path]:
    """``{(use, arch): out_dir/use/arch}``."""
    return {(u, a): Path(out_dir) / u / a for u, a in cfg.comparisons()}


def _resume(folder: Path) -> dict[str, bool]:
    return {"resume": (folder / "run.json").is_file()}


def run_study(cfg: StudyConfig, out_dir: str | os.PathLike, *, progress: bool = False,
              reuse: Callable[[Path], dict[str, bool]] = _resume,
              on_comparison: Callable[[str, str, Path], None] | None = None,
              pilot_only: bool = False) -> dict[str, Any]:
    """Run the study (pilot first when ``cfg.seeds`` is None) into ``out_dir``.

    Parameters
    ----------
    reuse : callable, optional
        ``folder -> {"resume": bool}`` or ``{"overwrite": True}``: how an existing comparison
        folder is continued (default: resumed when it holds a run).
    on_comparison : callable, optional
        Called as ``on_comparison(use, arch, folder)`` after each comparison finishes.
    pilot_only : bool
        Stop after the pilot (``study.json`` records ``seeds_run`` = the pilot's).

    Returns
    -------
    dict
        The record written to ``out_dir/study.json``: the seeds needed (pilot), the seeds
        chosen and run, and the settings.
    """
    from shadownets.io import save_json

    out = Path(out_dir)
    paths = folders(out, cfg)

    references = {u: USES[u][1] for u in cfg.uses}

    def run(n_seeds: int) -> list[float]:
        for (use, arch), folder in paths.items():
            compare(comparison_config(cfg, use, arch, n_seeds), out_dir=folder,
                    progress=progress, **reuse(folder))
            if on_comparison is not None:
                on_comparison(use, arch, folder)
        table = comparisons_table(paths, references, margin=cfg.margin, alpha=cfg.alpha,
                                  power=cfg.power)
        return [float(v) for v in table.seeds_needed if pd.notna(v)]

    if cfg.seeds is not None:
        run(cfg.seeds)
        needed, want, chosen, ran = [], None, cfg.seeds, cfg.seeds
    else:
        needed = run(cfg.pilot_seeds)
        finite = [v for v in needed if math.isfinite(v)]
        want = int(max(finite)) if finite else None
        chosen = max(cfg.pilot_seeds, min(want if want is not None else cfg.max_seeds,
                                          cfg.max_seeds))
        ran = cfg.pilot_seeds
        if not pilot_only and chosen > cfg.pilot_seeds:
            run(chosen)
            ran = chosen
    record = {"pilot_seeds": cfg.pilot_seeds if cfg.seeds is None else None,
              "seeds_needed_max": want,
              "seeds_needed": sorted(int(v) for v in needed if math.isfinite(v)),
              "max_seeds": cfg.max_seeds if cfg.seeds is None else None, "seeds": chosen,
              "seeds_run": ran, "margin": cfg.margin, "alpha": cfg.alpha, "power": cfg.power,
              "budgets": list(cfg.budgets), "archs": {a: list(d) for a, d in cfg.archs},
              "uses": {u: {"methods": list(USES[u][0]), "reference": USES[u][1]}
                       for u in cfg.uses},
              "config": dataclasses.asdict(cfg),
              "base": dataclasses.asdict(comparison_config(cfg, *cfg.comparisons()[0],
                                                           2).base)}
    save_json(out / "study.json", record)
    return record


#: Columns of :func:`comparisons_table`.
TABLE_COLUMNS = ["use", "arch", "dataset", "budget", "reference", "other", "n_pairs",
                 "diff_mean", "se", "df", "ci_low", "ci_high", "p_diff_adj", "p_equiv_adj",
                 "family_size", "power_diff", "seeds_needed", "seeds_needed_equiv", "verdict"]


def comparisons_table(paths: dict[tuple[str, str], Path], references: dict[str, str], *,
                      margin: float = 0.01, alpha: float = 0.05, correction: str = "holm",
                      power: float = 0.8) -> pd.DataFrame:
    """Every reference − best-other comparison of the study, as one family.

    The comparisons (one per use × architecture × data set × budget, from each folder's
    ``diffs.csv``) are decided together: the p-values are Holm-adjusted over all of them, and
    power and ``seeds_needed`` are at that level (:func:`shadownets.train.compare.
    family_verdicts`), so the study's family-wise error rate is ``alpha`` however many
    comparisons it holds.

    Parameters
    ----------
    paths : dict
        ``{(use, arch): comparison folder}`` (:func:`folders`).
    references : dict
        ``{use: reference method}``.

    Returns
    -------
    DataFrame, one row per comparison, columns :data:`TABLE_COLUMNS`
    """
    parts = []
    for (use, arch), folder in paths.items():
        diffs_path = Path(folder) / "diffs.csv"
        if not diffs_path.is_file():
            raise FileNotFoundError(f"{diffs_path} is missing: the comparison {use}/{arch} "
                                    f"has not run (run the study, or resume it)")
        d = pd.read_csv(diffs_path, dtype={"budget": str})
        d = d[(d.family == "best_other") & (d.reference == references[use])]
        if d.empty:
            raise ValueError(f"{diffs_path} has no best_other comparison of "
                             f"{references[use]!r}")
        parts.append(d.assign(use=use, arch=arch))
    pooled = pd.concat(parts, ignore_index=True)
    tests = family_verdicts(estimates_from_diffs(pooled), margin=margin, alpha=alpha,
                            correction=correction, power=power)
    keep = pooled[["use", "arch", "dataset", "budget", "reference", "other", "n_pairs"]]
    table = pd.concat([keep.reset_index(drop=True), tests], axis=1)
    return table[TABLE_COLUMNS]


def read_study(out_dir: str | os.PathLike) -> tuple[dict[str, Any],
                                                   dict[tuple[str, str], Path],
                                                   dict[str, str]]:
    """``(study.json record, folders, references)`` of a study folder."""
    import json

    out = Path(out_dir)
    path = out / "study.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {out} holds no training study")
    record = json.loads(path.read_text(encoding="utf-8"))
    references = {u: v["reference"] for u, v in record["uses"].items()}
    paths = {(u, a): out / u / a for u in record["uses"] for a in record["archs"]}
    return record, paths, references
